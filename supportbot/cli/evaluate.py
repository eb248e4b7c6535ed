"""``supportbot eval``: offline retrieval metrics and mode comparison."""

from __future__ import annotations

from pathlib import Path

import typer

from supportbot.cli._common import fail, not_built, print_json
from supportbot.settings import get_settings

app = typer.Typer(
    help="Offline evaluation: retrieval metrics and rag/finetune/hybrid comparison.", no_args_is_help=True
)


@app.command()
def retrieval(
    index: Path = typer.Option(..., "--index", help="Index folder."),
    queries: Path = typer.Option(..., "--queries", help="JSONL with id, query (or text), gold_ids, lang."),
    split: str | None = typer.Option(None, "--split", help="Only queries of this split (dev or test)."),
    details: bool = typer.Option(False, "--details", help="Include each query's ranking in the JSON."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Recall@1/5/10, MRR and nDCG@10, overall, per language and cross-lingual."""
    from retrieval.metrics import evaluate, load_queries
    from retrieval.search import KnowledgeBase
    from supportbot.cli.kb import user_errors

    with user_errors():
        kb = KnowledgeBase.open(index, cache_dir=get_settings().home)
        records = load_queries(queries, split)
        if not records:
            fail(f"{queries}: no queries" + (f" in split {split!r}" if split else ""))
        docs = kb.data.documents.values()
        indexed_langs = {d.lang for d in docs if d.duplicate_of is None}
        # gold ids name articles in the query's language; map them to the indexed twin for cross-lingual runs
        translation_of = {d.translation_of: d.id for d in docs if d.translation_of}
        result = evaluate(
            records,
            lambda texts: [[r.doc_id for r in found] for found in kb.search_batch(texts, k=10)],
            translation_of,
            indexed_langs,
        )
    document = {"index": str(index), "queries_file": str(queries), "split": split or "all", **result}
    if not details:
        document.pop("queries")
    if as_json:
        print_json(document)
        return
    typer.echo(f"{'group':<12} {'n':>5} {'R@1':>7} {'R@5':>7} {'R@10':>7} {'MRR':>7} {'nDCG@10':>8}")
    for group, m in document["metrics"].items():
        typer.echo(
            f"{group:<12} {m['queries']:>5} {m['recall@1']:>7.3f} {m['recall@5']:>7.3f} {m['recall@10']:>7.3f} "
            f"{m['mrr']:>7.3f} {m['ndcg@10']:>8.3f}"
        )


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
