"""``supportbot data``: de-identify and prepare conversations for fine-tuning."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import typer

from supportbot.cli._common import fail, not_built, print_json
from supportbot.settings import get_settings

app = typer.Typer(help="Conversation data: PII redaction and fine-tuning preparation.", no_args_is_help=True)


@app.command()
def redact(
    input: Path = typer.Option(..., "--input", help="Text or JSONL file to redact."),
    output: Path = typer.Option(..., "--output", help="Where to write the redacted copy."),
    lang: str | None = typer.Option(None, "--lang", help="Language of every text (en or es; default: detected)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary on stdout."),
) -> None:
    """Replace personal data with typed, consistent placeholders."""
    from finetune.pii import Lang, PIIError, shared_redactor
    from finetune.pii import redact_file as run_redact

    if lang not in (None, "en", "es"):
        fail("--lang must be en or es", code=2)
    if not input.is_file():  # say so before paying for the analyzer
        fail(f"{input}: no such file" if not input.exists() else f"{input}: not a file")
    try:
        redactor = shared_redactor(get_settings().home / "models" / "spacy")
        report = run_redact(input, output, redactor, lang=cast("Lang | None", lang))
    except (PIIError, OSError) as exc:
        fail(str(exc))
    if as_json:
        print_json(report)
        return
    unit = f"{report['records']} records" if report["format"] == "jsonl" else f"{report['lines']} lines"
    per_type = ", ".join(f"{kind} {n}" for kind, n in report["entities"].items()) or "none"
    typer.echo(
        f"redacted {unit} ({report['texts']} texts) from {input} into {output} in {report['seconds']} s: "
        f"{report['entities_total']} entities ({per_type})",
        err=True,
    )


@app.command()
def prepare(
    inputs: list[Path] = typer.Argument(..., help="Bitext CSV, SGD/ABCD JSON or chat JSONL inputs."),
    out: Path = typer.Option(..., "--out", help="Output folder for splits, RAFT examples and the data card."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary on stdout."),
) -> None:
    """Clean, redact, deduplicate and split conversations into chat JSONL."""
    not_built("data prepare", 4)
