"""``supportbot guard``: run the guardrails on their own."""

from __future__ import annotations

from pathlib import Path

import typer

from supportbot.cli._common import not_built

app = typer.Typer(help="Guardrails: score messages without running the whole agent.", no_args_is_help=True)


@app.command()
def scope(
    index: Path = typer.Option(..., "--index", help="Index folder the scope rail is fitted to."),
    input: Path = typer.Option(..., "--input", help="JSONL file of {id, text}; prints {id, in_scope, score}."),
) -> None:
    """Score how well each message belongs to the knowledge base's domain."""
    not_built("guard scope", 5)
