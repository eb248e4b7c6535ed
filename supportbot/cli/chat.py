"""``supportbot chat``: one turn (or an interactive session) with the agent."""

from __future__ import annotations

import io
import re
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from graph.state import SESSION_ID
from supportbot.cli._common import fail, index_problem, not_utf8, print_json, utf8_text

if TYPE_CHECKING:
    from supportbot.settings import Settings

# Lines that end an interactive session instead of being sent: the slash commands, the bare words a user types at
# any prompt, and their Spanish (matched whole, any case). "bye" / "adiós" are not here: the agent answers them.
QUIT_LINES = frozenset({"/quit", "/exit", "/salir", "quit", "exit", "salir"})


def chat(
    message: str | None = typer.Argument(
        None,
        help="The customer's message; omit for an interactive session (/quit, an empty line or Ctrl-D ends it).",
        callback=utf8_text,
    ),
    index: Path | None = typer.Option(None, "--index", help="Index folder (default: <home>/index)."),
    mode: str | None = typer.Option(None, "--mode", help="rag | finetune | hybrid (default: settings)."),
    model: Path | None = typer.Option(None, "--model", help="Fine-tuned model folder (finetune and hybrid modes)."),
    generator: str | None = typer.Option(
        None, "--generator", help="extractive | hf | openai (default: hf when --model is given, else settings)."
    ),
    session: str | None = typer.Option(
        None, "--session", help="Session id; the conversation is remembered.", callback=utf8_text
    ),
    lang: str | None = typer.Option(None, "--lang", help="es | en; default: detected per message."),
    as_json: bool = typer.Option(False, "--json", help="Print {answer, lang, mode, route, sources, ...}.", metavar=""),
) -> None:
    """Ask the support agent."""
    from retrieval.text import clean
    from supportbot.settings import get_settings

    # the API's rule (422 'message is blank'): nothing left once controls and zero-width characters are removed
    if message is not None and not clean(message):
        fail("MESSAGE is blank: give the customer's message, or leave it out for an interactive session", code=2)
    if session is not None and not re.fullmatch(SESSION_ID, session):
        fail(f"--session must be 1-64 letters, digits, '_' or '-' (as the API's session ids), got {session!r}", code=2)
    settings = get_settings()
    named, index = index is not None, index or settings.resolved_index_dir
    # an Elasticsearch index is a name, not a folder: its own backend says when it is missing
    problem = index_problem(index, named) if settings.search_backend == "faiss" else None
    if problem is not None:
        fail(problem)
    if model is not None and not model.exists():
        fail(f"model folder {model} does not exist")
    mode = mode or settings.mode
    model = model or settings.model_dir
    generator = generator or ("hf" if model is not None and settings.generator == "extractive" else settings.generator)
    service = _service(index, mode, generator, model, settings)
    session = session or uuid.uuid4().hex
    if message is not None:
        _turn(service, message, session, lang, as_json)
        return
    if not as_json:
        typer.echo(
            f"session {session} (mode {mode}); /quit (or quit, exit, salir), an empty line or Ctrl-D ends it.",
            err=True,
        )
    if isinstance(sys.stdin, io.TextIOWrapper):  # a strict UTF-8 stdin raised on a Latin-1 line and ended the
        sys.stdin.reconfigure(errors="surrogateescape")  # session: its bytes now come back as surrogates, refused below
    while True:
        try:
            line = input("> " if not as_json else "")
        except (EOFError, KeyboardInterrupt):
            break
        if not line.strip() or line.strip().lower() in QUIT_LINES:
            break
        shown = not_utf8(line)
        if shown is not None:  # one bad line does not end the session
            typer.echo(f"error: '{shown}' is not UTF-8 text: set the terminal to UTF-8 and type it again", err=True)
            continue
        if not clean(line):  # only invisible characters: blank, as the API says, but the session goes on
            typer.echo("error: the message is blank (only invisible characters): type it again", err=True)
            continue
        _turn(service, line, session, lang, as_json)


def _service(index: Path, mode: str, generator: str, model: Path | None, settings: Settings) -> Any:
    from graph.config import GraphConfigError, graph_config_for
    from graph.service import ChatService

    try:
        return ChatService(graph_config_for(settings, index, mode=mode, generator=generator, model_dir=model))
    except GraphConfigError as exc:
        fail(str(exc))
    except Exception as exc:  # an unreadable index or model folder: say which, never a traceback
        fail(f"cannot start the agent: {exc}")


def _turn(service, message: str, session: str, lang: str | None, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    from graph.config import GraphConfigError

    try:
        result = service.chat(message, session_id=session, lang=lang)
    except GraphConfigError as exc:
        fail(str(exc))
    if as_json:
        print_json(result)
        return
    typer.echo(result["answer"])
    for position, source in enumerate(result["sources"], start=1):
        number = source.get("citation") or position  # the [n] the answer cites it by (its retrieval rank)
        typer.echo(f"  [{number}] {source['title']} ({source['doc_id']})", err=True)
    typer.echo(f"  route={result['route']} lang={result['lang']} {result['latency_ms']:.0f} ms", err=True)
