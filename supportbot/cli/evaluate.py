"""``supportbot eval``: offline retrieval metrics and mode comparison."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from supportbot.cli._common import fail, print_json
from supportbot.settings import get_settings

app = typer.Typer(
    help="Offline evaluation: retrieval metrics and rag/finetune/hybrid comparison.", no_args_is_help=True
)


@app.command()
def retrieval(
    index: Path = typer.Option(..., "--index", help="Index folder."),
    queries: Path = typer.Option(
        ...,
        "--queries",
        help="JSONL with id, query (or text), gold_ids (a list) and optional lang (default: detected).",
    ),
    split: str | None = typer.Option(
        None, "--split", help="Only queries of this split: dev or test; all (the default) reads every query."
    ),
    details: bool = typer.Option(False, "--details", help="Include each query's ranking in the JSON.", metavar=""),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout.", metavar=""),
) -> None:
    """Recall@1/5/10, MRR and nDCG@10, overall, per language and cross-lingual."""
    from evaluation.suites import EvalDataError, check_gold_ids
    from retrieval.metrics import evaluate, load_queries
    from retrieval.search import KnowledgeBase
    from supportbot.cli.kb import user_errors

    if split not in (None, "dev", "test", "all"):
        fail(f"--split must be dev, test or all, got {split!r}", code=2)
    split = None if split == "all" else split
    with user_errors():
        records = load_queries(queries, split, scored=True)
        kb = KnowledgeBase.open(index, cache_dir=get_settings().home)
        if not records:
            fail(f"{queries}: no queries" + (f" in split {split!r}" if split else ""))
        docs = kb.data.documents.values()
        indexed_langs = {d.lang for d in docs if d.duplicate_of is None}
        # gold ids name articles in the query's language; map them to the indexed twin for cross-lingual runs
        translation_of = {d.translation_of: d.id for d in docs if d.translation_of}
        try:
            golds = [(str(r["id"]), r["gold_ids"]) for r in records]
            check_gold_ids(golds, {*kb.data.documents, *translation_of}, queries, index)
        except EvalDataError as exc:
            fail(str(exc))
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


SHARED_DATASETS = Path("../shared/datasets")


@app.command()
def compare(
    index: Path = typer.Option(..., "--index", help="Index folder."),
    model: Path | None = typer.Option(None, "--model", help="Fine-tuned model folder (finetune and hybrid modes)."),
    testset: Path = typer.Option(..., "--testset", help="JSONL questions with references (data/eval/qa.jsonl)."),
    modes: str = typer.Option(
        "rag,finetune,hybrid", "--modes", help="Comma-separated rows to compare: rag, rag-llm, finetune, hybrid."
    ),
    out: Path = typer.Option(..., "--out", help="Folder for metrics.json, report.md, turns.jsonl and plots/."),
    split: str = typer.Option("test", "--split", help="dev | test | all (test is never used for tuning)."),
    limit: int | None = typer.Option(None, "--limit", help="At most N records per language per suite."),
    suites: str = typer.Option(
        "qa,scope,consistency,edge,bias,bbq", "--suites", help="Suites to run: qa,scope,consistency,edge,bias,bbq."
    ),
    scope_set: Path | None = typer.Option(None, "--scope-set", help="Default: out_of_scope.jsonl beside --testset."),
    prompts: Path | None = typer.Option(None, "--prompts", help="Prompt-suite folder; default: prompts/ beside it."),
    bias_datasets: Path | None = typer.Option(
        None, "--bias-datasets", help="Folder with bbq/ and esbbq/ (default ../shared/datasets; skipped if absent)."
    ),
    bbq_per_language: int = typer.Option(30, "--bbq-per-language", help="Ambiguous BBQ/EsBBQ items per language."),
    rag_generator: str = typer.Option(
        "extractive",
        "--rag-generator",
        help="extractive | llm: llm adds the rag-llm row (the base model with the RAG prompt, no fine-tune).",
    ),
    base: Path | None = typer.Option(
        None, "--base", help="Base model folder of the rag-llm row (default: the base the --model adapter names)."
    ),
    generator: str = typer.Option("hf", "--generator", help="LLM generator of finetune/hybrid: hf | openai."),
    max_new_tokens: int = typer.Option(96, "--max-new-tokens", help="Longest generated answer, in tokens."),
    copy_bias: str | None = typer.Option(
        None, "--copy-bias", help="BONUS,FOLLOW logit bonus of the hf generator for passage wording (0,0 = off)."
    ),
    workers: int = typer.Option(
        1, "--workers", help="Turns run at once; >1 lets the hf generator batch (turn latency then includes the wait)."
    ),
    resamples: int = typer.Option(1000, "--resamples", help="Bootstrap resamples per confidence interval."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap and the BBQ sample."),
    mlflow: bool = typer.Option(
        True, "--mlflow/--no-mlflow", help="Log the run to MLflow (<home>/mlflow.db).", metavar=""
    ),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Replace a non-empty --out folder that is not an earlier `eval compare` output.",
        metavar="",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics.json document on stdout.", metavar=""),
) -> None:
    """Run every mode on the same questions and write the comparison report."""
    from evaluation.config import CompareConfig, CompareConfigError
    from evaluation.suites import EvalDataError

    settings = get_settings()
    for flag, path in (("--model", model), ("--base", base)):  # given, even if no mode asked for uses it: a typo
        if path is not None and not path.is_dir():
            fail(f"{flag} {path}: no such folder")
    try:
        bias = None if copy_bias is None else tuple(float(x) for x in copy_bias.split(","))
    except ValueError:
        fail(f"--copy-bias {copy_bias!r}: give two numbers, BONUS,FOLLOW (e.g. 1,2; 0,0 turns it off)")
    try:
        config = CompareConfig(
            index_dir=index, testset=testset, out_dir=out, model_dir=model, base_dir=base,
            modes=tuple(m.strip() for m in modes.split(",") if m.strip()), split=split,  # type: ignore[arg-type]
            limit=limit, suites=tuple(s.strip() for s in suites.split(",") if s.strip()), scope_set=scope_set,
            prompts_dir=prompts, bias_datasets=bias_datasets or SHARED_DATASETS, bbq_per_language=bbq_per_language,
            rag_generator=rag_generator, generator=generator,  # type: ignore[arg-type]
            openai_base_url=settings.openai_base_url, max_new_tokens=max_new_tokens, workers=workers,
            **({} if bias is None else {"copy_bias": bias}),  # type: ignore[arg-type]
            n_resamples=resamples, seed=seed, cache_dir=settings.home, mlflow=mlflow, overwrite=overwrite,
        )  # fmt: skip
    except CompareConfigError as exc:
        fail(str(exc))
    if rag_generator not in ("extractive", "llm") or generator not in ("hf", "openai"):
        fail("--rag-generator must be extractive or llm, and --generator hf or openai")
    from evaluation.runner import run_comparison
    from finetune.output import OutputError
    from retrieval.signals import raise_if_interrupted
    from retrieval.store import IndexFault

    started = time.monotonic()
    shown: list[tuple[float, str]] = [(started, "")]  # when the last line was shown, and its mode
    first: list[float] = []  # when the first turn ended: the pace is measured from there, loading aside

    def progress(done: int, total: int, mode: str) -> None:
        """A line on stderr at each mode's first turn, every 50 turns and at least every 30 s (LLM turns take
        seconds each: 50 of them was minutes without a sign of life), with the time left at the pace so far."""
        raise_if_interrupted()  # a Ctrl-C swallowed in a __del__ still stops the run at its next turn
        now = time.monotonic()
        first[:] = first or [now]
        if done == total or done % 50 == 0 or mode != shown[-1][1] or now - shown[-1][0] >= 30:
            shown[-1] = (now, mode)
            left = f", about {(now - first[0]) / (done - 1) * (total - done):.0f} s left" if done > 1 else ""
            typer.echo(f"[{done}/{total}] {mode} ({now - started:.0f} s{left})", err=True)

    def loading() -> None:
        """Said once the inputs are checked: a bad testset, --out or index fails before any sign of loading."""
        typer.echo(
            f"loading the agent and running {', '.join(config.rows)} (the first turns load the models)", err=True
        )

    try:
        document = run_comparison(config, progress, checked=loading)
    except (CompareConfigError, EvalDataError, OutputError, IndexFault) as exc:
        fail(str(exc))
    except Exception as exc:  # an index, model or graph that cannot load: say so, never a traceback
        fail(f"eval compare: {type(exc).__name__}: {exc}")
    if as_json:
        print_json(document)
        return
    typer.echo(f"wrote {out / 'report.md'}, {out / 'metrics.json'} and {len(document['plots'])} plots")
    typer.echo(f"{document['run']['turns']} turns in {document['run']['total_seconds']} s; winners (es / en / all):")
    for kpi, per in document["winners"].items():
        cells = " / ".join(str(per.get(lang, {}).get("winner") or "-") for lang in ("es", "en", "all"))
        typer.echo(f"  {kpi:<28} {cells}")
