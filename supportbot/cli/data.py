"""``supportbot data``: de-identify and prepare conversations for fine-tuning."""

from __future__ import annotations

from pathlib import Path

import typer

from supportbot.cli._common import not_built

app = typer.Typer(help="Conversation data: PII redaction and fine-tuning preparation.", no_args_is_help=True)


@app.command()
def redact(
    input: Path = typer.Option(..., "--input", help="Text or JSONL file to redact."),
    output: Path = typer.Option(..., "--output", help="Where to write the redacted copy."),
) -> None:
    """Replace personal data with typed, consistent placeholders."""
    not_built("data redact", 4)


@app.command()
def prepare(
    inputs: list[Path] = typer.Argument(..., help="Bitext CSV, SGD/ABCD JSON or chat JSONL inputs."),
    out: Path = typer.Option(..., "--out", help="Output folder for splits, RAFT examples and the data card."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary on stdout."),
) -> None:
    """Clean, redact, deduplicate and split conversations into chat JSONL."""
    not_built("data prepare", 4)
