"""``supportbot chat``: one turn (or an interactive session) with the agent."""

from __future__ import annotations

from pathlib import Path

import typer

from supportbot.cli._common import not_built


def chat(
    message: str | None = typer.Argument(None, help="The customer's message; omit for an interactive session."),
    index: Path = typer.Option(..., "--index", help="Index folder."),
    mode: str = typer.Option("rag", "--mode", help="rag | finetune | hybrid."),
    model: Path | None = typer.Option(None, "--model", help="Fine-tuned model folder (finetune and hybrid modes)."),
    session: str | None = typer.Option(None, "--session", help="Session id; the conversation is remembered."),
    as_json: bool = typer.Option(False, "--json", help="Print {answer, lang, mode, route, sources, ...}."),
) -> None:
    """Ask the support agent."""
    not_built("chat", 5)
