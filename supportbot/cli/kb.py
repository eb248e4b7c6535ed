"""``supportbot kb``: build, search and deduplicate the support knowledge base."""

from __future__ import annotations

from pathlib import Path

import typer

from supportbot.cli._common import not_built

app = typer.Typer(help="Knowledge base: ingest, search, dedup, distill a bilingual embedder.", no_args_is_help=True)


@app.command()
def ingest(
    paths: list[Path] = typer.Argument(..., help="Files or folders (.md, .txt, .jsonl, .csv) to ingest."),
    index: Path = typer.Option(..., "--index", help="Index folder to create or update."),
    replace: bool = typer.Option(False, "--replace", help="Rebuild the index from scratch."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON report on stdout."),
) -> None:
    """Load, clean, chunk, deduplicate, embed and index documents."""
    not_built("kb ingest", 3)


@app.command()
def search(
    query: str | None = typer.Argument(None, help="The query (omit with --batch)."),
    index: Path = typer.Option(..., "--index", help="Index folder."),
    k: int = typer.Option(5, "-k", help="Number of results."),
    batch: Path | None = typer.Option(None, "--batch", help="JSONL file of {id, query}; prints JSONL."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Hybrid (dense + BM25) search over an index."""
    not_built("kb search", 3)


@app.command()
def dedup(
    paths: list[Path] = typer.Argument(..., help="Files or folders to check for duplicates."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON report on stdout."),
) -> None:
    """Report exact, near (MinHash-Jaccard) and semantic (SBERT cosine) duplicates without indexing."""
    not_built("kb dedup", 3)


@app.command()
def distill(
    out: Path = typer.Option(..., "--out", help="Folder for the bilingual student embedder."),
) -> None:
    """Train a bilingual student embedder from parallel es/en text (multilingual distillation)."""
    not_built("kb distill", 3)
