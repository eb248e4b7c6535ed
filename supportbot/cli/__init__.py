"""The ``supportbot`` command line, assembled from one Typer sub-app per command group.

Only light modules are imported here so that ``supportbot --help`` starts fast; each command imports the
subsystem it drives inside its own body.
"""

from __future__ import annotations

import typer

from supportbot import __version__
from supportbot.cli import chat, data, db, evaluate, guard, kb, keys, model, serve, train
from supportbot.cli._common import exit_interrupted, settings_error, stop_on_signals

app = typer.Typer(
    name="supportbot",
    help="Bilingual (es/en) customer-support chatbot backend: knowledge base, fine-tuning, guarded agent, evaluation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(kb.app, name="kb")
app.add_typer(data.app, name="data")
app.add_typer(model.app, name="model")
app.add_typer(train.app, name="train")
app.add_typer(guard.app, name="guard")
app.add_typer(evaluate.app, name="eval")
app.add_typer(keys.app, name="keys")
app.add_typer(db.app, name="db")
app.command("chat")(chat.chat)
app.command("serve")(serve.serve)
app.command("ui")(serve.ui)
app.command("demo")(serve.demo)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"supportbot {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    # metavar "": a plain flag in the help, not "--version <bool>" as if it took a value
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, metavar="", help="Print the version and exit."
    ),
) -> None:
    """Bilingual (es/en) customer-support chatbot backend."""


def main() -> None:
    """Console-script entry point: SIGINT/SIGTERM stop a command before it commits anything (exit 130/143)."""
    from pydantic import ValidationError

    stop_on_signals()
    try:
        app()
    except SystemExit as exc:
        raise SystemExit(exit_interrupted(exc.code)) from None
    except ValidationError as exc:
        if exc.title != "Settings":
            raise
        raise SystemExit(settings_error(exc)) from None
