"""Shared helpers for the CLI commands: uniform errors, JSON output and signal handling."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import typer


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code`` (never a traceback)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def print_json(document: Any) -> None:
    """Print one JSON document on stdout (UTF-8, no ASCII escaping) and nothing else."""
    sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")


_replaced: dict[int, Any] = {}  # the handlers stop_on_signals replaced


def stop_on_signals() -> None:
    """SIGINT and SIGTERM stop the command without committing anything, and the work files are removed.

    The handler records the signal (``retrieval.signals.record_signal``) and raises ``Interrupted`` (a
    KeyboardInterrupt): ``finally`` blocks remove work files, and :func:`exit_interrupted` turns it into a one-line
    error and exit status 128 + the signal. A KeyboardInterrupt raised inside a ``__del__`` would only be reported
    by Python ("Exception ignored in ...") and the command would go on, so there the signal is only recorded: every
    atomic commit checks the record first (``retrieval.signals.raise_if_interrupted``) and stops there. A signal that
    the caller set to be ignored (a background job of a non-interactive shell) stays ignored.
    """
    from retrieval.signals import Interrupted, record_signal

    def interrupt(signum: int, frame: FrameType | None) -> None:
        record_signal(signum)
        while frame is not None:
            if frame.f_code.co_name == "__del__":
                return
            frame = frame.f_back
        raise Interrupted(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        if previous is not signal.SIG_IGN:
            _replaced.setdefault(signum, previous)
            signal.signal(signum, interrupt)


def restore_signals() -> None:
    """Put back the handlers :func:`stop_on_signals` replaced (a server that stops gracefully on its own)."""
    for signum, handler in _replaced.items():
        signal.signal(signum, handler)
    _replaced.clear()


def exit_interrupted(status: int | str | None) -> int | str | None:
    """The exit status of a command that ended with ``status``: 128 + the signal, with a one-line error, when a
    SIGINT/SIGTERM stopped it (the command's own handling of Ctrl-C, an exit status 0, is left alone)."""
    from retrieval.signals import received_signal

    signum = received_signal()
    if signum is None or status in (0, None):
        return status
    name = signal.Signals(signum).name
    typer.echo(f"error: interrupted by {name}: stopped without writing its output", err=True)
    return 128 + signum


def settings_error(exc: Any) -> int:
    """Print one ``error: SUPPORTBOT_NAME: reason`` line per invalid setting (a pydantic ``ValidationError`` of
    ``Settings``) and return the usage-error status 2. The value itself is not shown: it may be a secret."""
    for error in exc.errors():
        name = "SUPPORTBOT_" + "_".join(str(part) for part in error["loc"]).upper()
        reason = error["msg"].removeprefix("Value error, ")
        typer.echo(f"error: {name}: {reason}", err=True)
    return 2


def not_utf8(text: str) -> str | None:
    """``text`` shown with its undecodable bytes as ``\\xNN`` when it is not UTF-8 text, else None (a shell or a
    terminal passes bytes it cannot decode, ``caf\\xe9`` in Latin-1, as lone surrogates, which every encoder
    rejects later with a traceback)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
    return None


def utf8_text(param: typer.CallbackParam, value: Any) -> Any:
    """A Typer callback for text options and arguments: refuse text that is not UTF-8 (see :func:`not_utf8`)."""
    for text in value if isinstance(value, list | tuple) else [value]:
        shown = not_utf8(text) if isinstance(text, str) else None
        if shown is not None:
            name = param.opts[0] if param.param_type_name == "option" else str(param.name).upper()
            fail(f"{name} '{shown}' is not UTF-8 text: set the terminal or script to UTF-8 and pass it again", code=2)
    return value


def index_problem(index: Path, named: bool) -> str | None:
    """Why the FAISS index folder ``index`` cannot be served, with the command that builds it there; None when it
    holds an index.

    Args:
        index: The index folder.
        named: The operator named it (``--index``): the command builds their own articles into it. Otherwise it is
            the default ``<home>/index``, where the demo store is a fair suggestion too.
    """
    from retrieval.store import CURRENT

    if (index / CURRENT).exists():  # a CURRENT that is broken is the index's own error, said when it opens
        return None
    if index.exists() and not index.is_dir():
        what = f"--index {index} is a file, not an index folder"
    elif index.exists():
        what = f"index folder {index} holds no index (no {CURRENT} file)"
    else:
        what = f"index {index} does not exist (no such index folder)"
    yours = (
        f"`supportbot kb ingest PATH... --index {index}` (PATH: your articles, .md/.html/.jsonl/.csv files or folders)"
    )
    if named:
        return f"{what}; build it with {yours}"
    from retrieval.bundled import bundled_path

    demo = bundled_path("kb")
    shown = "data/kb" if Path("data/kb").resolve() == demo.resolve() else str(demo)  # a checkout, or the wheel's copy
    return (
        f"{what}; it is the default index (SUPPORTBOT_INDEX_DIR, else <home>/index): pass --index DIR for another, "
        f"build it with {yours}, or the demo store's with `supportbot kb ingest {shown} --index {index}`"
    )
