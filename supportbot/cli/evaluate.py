"""``supportbot eval``: offline retrieval metrics and mode comparison."""

from __future__ import annotations

from pathlib import Path

import typer

from supportbot.cli._common import not_built

app = typer.Typer(
    help="Offline evaluation: retrieval metrics and rag/finetune/hybrid comparison.", no_args_is_help=True
)


@app.command()
def retrieval(
    index: Path = typer.Option(..., "--index", help="Index folder."),
    queries: Path = typer.Option(..., "--queries", help="JSONL with query and gold_ids."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Recall@1/5/10, MRR and nDCG@10, overall, per language and cross-lingual."""
    not_built("eval retrieval", 3)


@app.command()
def compare(
    index: Path = typer.Option(..., "--index", help="Index folder."),
    model: Path = typer.Option(..., "--model", help="Fine-tuned model folder."),
    testset: Path = typer.Option(..., "--testset", help="JSONL questions with references."),
    modes: str = typer.Option("rag,finetune,hybrid", "--modes", help="Comma-separated modes to compare."),
    out: Path = typer.Option(..., "--out", help="Folder for metrics.json, report.md and plots."),
) -> None:
    """Run every mode on the same questions and write the comparison report."""
    not_built("eval compare", 6)
