"""``supportbot guard``: run the guardrails on their own, exactly as the graph runs them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from retrieval.jsonl import jsonl_records
from supportbot.cli._common import fail, print_json

app = typer.Typer(help="Guardrails: score messages without running the whole agent.", no_args_is_help=True)


def _records(path: Path) -> list[dict[str, Any]]:
    """The ``{id, text}`` objects of a JSONL file (``query`` is accepted for ``text``); a clear error otherwise."""
    if path.is_dir():
        fail(f"input {path} is a folder, not a JSONL file")
    if not path.is_file():
        fail(f"input file {path} does not exist")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{path}: cannot read it as UTF-8 text: {exc}")
    records = []
    try:
        for number, record in jsonl_records(lines, path, ValueError):
            if not isinstance(record, dict) or not isinstance(record.get("text", record.get("query")), str):
                fail(f"{path}:{number}: expected an object with 'id' and 'text'")
            records.append(record)
    except ValueError as exc:  # a line that is not JSON, named by file and line
        fail(str(exc))
    if not records:
        fail(f'{path}: no messages in it (expected one JSON object per line: {{"id": ..., "text": ...}})')
    return records


@app.command()
def scope(
    index: Path | None = typer.Option(
        None, "--index", help="Index folder the scope rail is fitted to (default: <home>/index, which chat reads)."
    ),
    input: Path = typer.Option(
        ...,
        "--input",
        help="JSONL file of {id, text}; prints {id, in_scope, score} (and business, other_company, in_article, "
        "spelling).",
    ),
    threshold: float | None = typer.Option(None, "--threshold", help="Override the fitted threshold (0-1)."),
) -> None:
    """Score how well each message belongs to the knowledge base's domain (every rule the graph applies)."""
    if threshold is not None and not 0 <= threshold <= 1:
        fail("--threshold must be between 0 and 1")
    records = _records(input)
    from graph.scope_data import ScopeError
    from retrieval.store import IndexFault
    from supportbot.settings import get_settings

    try:
        from graph.nodes.check_scope import anchor, respeller, scope_verdict
        from graph.nodes.resolve_followup import message_query
        from graph.scope import deployment_scope, load_or_fit
        from retrieval.conversation import without_asides
        from retrieval.language import detect_language
        from retrieval.search import KnowledgeBase
        from retrieval.text import clean

        settings = get_settings()
        home = settings.home
        index = index or settings.resolved_index_dir  # as kb search and chat (it was a required option)
        kb = KnowledgeBase.open(index, home)  # the embedder and backend that built the index; its speller
        data, embedder = kb.data, kb.embedder

        # as the graph: the deployment's own customer questions (SUPPORTBOT_SCOPE_QUESTIONS), its company ours
        def load(questions: Any) -> Any:
            return load_or_fit(index, data, embedder.encode, embedder.name, home, customer_questions=questions)

        model = deployment_scope(load, settings.scope_questions, settings.company)
    except (IndexFault, ScopeError) as exc:
        fail(str(exc))
    # The query the graph's scope rail reads: cleaned, markup stripped, a long message's asking paragraph, shouting
    # lowered, without the asides that open it ("also,", "por cierto,").
    texts = [clean(str(r.get("text", r.get("query")))) for r in records]
    texts = [without_asides(message_query(t)) for t in texts]
    vectors = embedder.encode(texts) if texts else None

    def embed(text: str) -> Any:
        return embedder.encode([text])[0]

    for i, (record, text) in enumerate(zip(records, texts, strict=True)):
        lang = record.get("lang") or detect_language(text, default="en") or "en"
        verdict = scope_verdict(model, vectors[i], text, lang, threshold, respeller(kb, embed, lang),  # type: ignore[index]
                                anchor(kb, lang), embed)  # fmt: skip
        # the rules beyond the score that apply: a question about the business itself, a general task in its words,
        # another company named, a question in an article's own words, one sentence of several in scope, a misspelt
        # query read with its typos corrected
        why = {key: verdict[key] for key in ("business", "general_task", "other_company", "in_article", "sentence",
                                             "spelling") if key in verdict}  # fmt: skip
        print_json({"id": record.get("id", i), "in_scope": verdict["in_scope"], "score": verdict["score"], **why})


@app.command("input")
def input_rails(
    input: Path = typer.Option(..., "--input", help="JSONL file of {id, text}; prints {id, refused, rail, score}."),
) -> None:
    """Run the graph's input rails (injection, abuse, bias) on each message, as the graph runs them: on the message
    cleaned and with the customer's personal data replaced by placeholders (redact_pii runs before the rails).

    Prints the refusing rail (null if none) and its score: its probability, or the likeliest rail's if none refuses.
    """
    records = _records(input)
    from finetune.pii import PIIError, PlaceholderMap, shared_redactor
    from graph.config import KEEP_ENTITIES
    from graph.nodes.guard_input import check_input
    from retrieval.language import detect_language
    from retrieval.text import clean
    from supportbot.settings import get_settings

    redactor = shared_redactor(get_settings().home / "models" / "spacy")

    def as_the_graph_reads(text: str) -> str:
        text = clean(text)
        lang = detect_language(text, default="en") or "en"
        try:
            return str(redactor.redact(text, lang, PlaceholderMap(), keep=KEEP_ENTITIES).text) if text else text
        except PIIError:  # the chat keeps nothing of such a message (its rails never read it): judge it as given
            return text

    for i, record in enumerate(records):
        verdict = check_input(as_the_graph_reads(str(record.get("text", record.get("query")))))
        print_json({"id": record.get("id", i), "refused": verdict["refused"], "rail": verdict["rail"],
                    "score": verdict["score"]})  # fmt: skip
