"""``supportbot kb``: build, search and deduplicate the support knowledge base."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from supportbot.cli._common import fail, index_problem, print_json, utf8_text
from supportbot.settings import get_settings

app = typer.Typer(help="Knowledge base: ingest, search, dedup, distill a bilingual embedder.", no_args_is_help=True)


def retrieval_config(embedder: str | None = None) -> Any:
    """The retrieval config from the settings, with an optional embedder override."""
    from retrieval.config import RetrievalConfig

    settings = get_settings()
    return RetrievalConfig(embedder=embedder or settings.embedder, embedder_backend=settings.embedder_backend)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the subsystem's expected errors into `error: ...` + exit 1 (no traceback)."""
    from retrieval.documents import LoadError
    from retrieval.embeddings import EmbedderError
    from retrieval.metrics import QueryFileError
    from retrieval.store import IndexFault

    try:
        yield
    except (LoadError, IndexFault, EmbedderError, QueryFileError, ValueError) as exc:
        fail(str(exc))


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Any]:
    """A rich progress display on stderr (stdout stays clean for --json); yields a progress callback.

    Off a terminal (a CI log, docker without -t, nohup) the bar is not drawn: each finished stage is printed on
    stderr once instead ("  embed: 64/64"), so a long ingest or ``data prepare`` is not silent until it ends.
    The callback also stops the command at its next step after a SIGINT/SIGTERM whose KeyboardInterrupt was
    swallowed (see ``supportbot.cli._common.stop_on_signals``), rather than only at its commit.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from retrieval.signals import raise_if_interrupted

    drawn = enabled and sys.stderr.isatty()
    with Progress(
        TextColumn("{task.description:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not drawn,
        transient=False,
    ) as progress:
        tasks: dict[str, Any] = {}
        finished: set[str] = set()

        def update(stage: str, done: int, total: int) -> None:
            raise_if_interrupted()
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)
            if enabled and not drawn and done >= total and stage not in finished:
                finished.add(stage)
                typer.echo(f"  {stage}: {done}/{total}", err=True)

        yield update


@app.command()
def ingest(
    paths: list[Path] = typer.Argument(
        ..., help="Files or folders (.md, .markdown, .txt, .html, .htm, .jsonl, .csv) to ingest."
    ),
    index: Path | None = typer.Option(
        None,
        "--index",
        help="Index folder to create or update (the index name with search_backend=elasticsearch; default: "
        "<home>/index, which chat and serve read).",
    ),
    replace: bool = typer.Option(False, "--replace", help="Rebuild the index from scratch.", metavar=""),
    embedder: str | None = typer.Option(None, "--embedder", help="Embedder model (default: setting)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON report on stdout.", metavar=""),
) -> None:
    """Load, clean, chunk, deduplicate, embed and index documents."""
    from retrieval.backends import ingest_knowledge_base

    settings = get_settings()
    with user_errors(), progress_bar() as progress:
        report = ingest_knowledge_base(
            settings.search_backend,
            paths,
            index or settings.resolved_index_dir,
            es_url=settings.es_url,
            config=retrieval_config(embedder),
            replace=replace,
            cache_dir=settings.home,
            progress=progress,
        )
    if report["skipped"]:
        from retrieval.documents import SUPPORTED_SUFFIXES

        shown = ", ".join(report["skipped"][:10]) + (", ..." if len(report["skipped"]) > 10 else "")
        typer.echo(
            f"warning: skipped {len(report['skipped'])} file(s) with an unsupported extension (use "
            f"{', '.join(SUPPORTED_SUFFIXES)}): {shown}",
            err=True,
        )
    for link in report["dedup"].get("broken_links", []):
        typer.echo(f"warning: {link['id']}: translation_of {link['translation_of']!r} {link['problem']} (it should "
                   "name the article's version in the other language)", err=True)  # fmt: skip
    if as_json:
        print_json(report)
        return
    typer.echo(
        f"indexed {report['documents']} documents ({report['chunks']} chunks) into {report['index']} in "
        f"{report['seconds']} s: {_counted(report, 'added')}, {_counted(report, 'updated')}, "
        f"{_counted(report, 'unchanged')}, {report['duplicates_dropped']} duplicates dropped; languages "
        f"{report['languages']}"
    )
    for article in report.get("updated_articles", []):
        typer.echo(f"  updated {article['id']} ({_overwritten(article)})")
    if report.get("rechunked"):
        typer.echo(f"  {report['rechunked']} article(s) chunked again: the index was chunked by an older supportbot "
                   "or with other chunk settings")  # fmt: skip
    if kept := report.get("kept_articles", []):
        shown = ", ".join(kept[:10]) + (", ..." if len(kept) > 10 else "")
        typer.echo(f"  {len(kept)} article(s) of earlier ingests not in this input stay indexed: {shown} (supportbot "
                   "kb delete ID... removes one; --replace indexes this input alone)")  # fmt: skip
    for cluster in report["dedup"]["clusters"]:
        typer.echo(f"  kept {cluster['representative']}, dropped {', '.join(cluster['duplicates'])}")


def _overwritten(article: dict[str, str]) -> str:
    """'Invoices' for an article edited in place; with the stored title and file when either differs (another
    export's article with the same id): "Invoices; was 'Download an invoice' from kb/en.jsonl:42"."""

    def file(source: str) -> str:
        path, _, line = source.rpartition(":")
        return path if path and line.isdigit() else source

    title = article["title"] or "untitled"
    if article["previous_title"] == article["title"] and file(article["previous_source"]) == file(article["source"]):
        return title
    return f"{title}; was {article['previous_title']!r} from {article['previous_source']}"


def _counted(report: dict[str, Any], how: str) -> str:
    """'10 added (9 indexed, 1 dropped as duplicates)': the input's articles, and how many of them search finds."""
    indexed = report.get("indexed", {}).get(how, report[how])
    dropped = report[how] - indexed
    return f"{report[how]} {how}" + (f" ({indexed} indexed, {dropped} dropped as duplicates)" if dropped else "")


def _served_index(index: Path | None) -> Path:
    """The index a command reads: ``--index``, else the one chat and serve read (SUPPORTBOT_INDEX_DIR, else
    <home>/index). A FAISS folder that holds no index stops here, naming it and the command that builds it."""
    settings = get_settings()
    folder = index or settings.resolved_index_dir
    problem = index_problem(folder, named=index is not None) if settings.search_backend == "faiss" else None
    if problem is not None:
        fail(problem)
    return folder


@app.command()
def search(
    query: str | None = typer.Argument(None, help="The query (omit with --batch).", callback=utf8_text),
    index: Path | None = typer.Option(
        None,
        "--index",
        help="Index folder (the index name with search_backend=elasticsearch; default: <home>/index, as chat).",
    ),
    k: int = typer.Option(5, "-k", min=1, max=100, help="Number of results."),
    batch: Path | None = typer.Option(
        None,
        "--batch",
        help="JSONL file of {id, query} (optional turns/history [{role, text}] and topic); prints JSONL.",
    ),
    lang: str | None = typer.Option(None, "--lang", help="Only articles in this language (en or es)."),
    tag: list[str] = typer.Option([], "--tag", help="Only articles with this tag (repeatable).", callback=utf8_text),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout.", metavar=""),
) -> None:
    """Hybrid (dense + BM25) search over an index (--lang and --tag filter every query, batch ones too)."""
    from retrieval.backends import open_knowledge_base
    from retrieval.metrics import load_queries

    if (query is None) == (batch is None):
        fail("give either a QUERY or --batch FILE", code=2)
    if query == "":  # the API's rule (an empty q is a 422); a query with no letter or digit finds nothing
        fail("QUERY is empty: give the words to search for", code=2)
    if lang not in (None, "en", "es"):
        fail("--lang must be en or es", code=2)
    with user_errors():
        settings = get_settings()
        kb = open_knowledge_base(
            settings.search_backend, _served_index(index), es_url=settings.es_url, cache_dir=settings.home
        )
        if batch is not None:
            from retrieval.conversation import batch_query

            queries = load_queries(batch)
            texts = [batch_query(q) for q in queries]
            if lang is None and not tag:
                results = kb.search_batch(texts, k)
            else:  # the filters are arguments of the one-query search
                results = [kb.search(text, k, lang=lang, tags=tag or None) for text in texts]
            for record, found in zip(queries, results, strict=True):
                sys.stdout.write(
                    json.dumps({"id": record["id"], "results": [r.to_dict() for r in found]}, ensure_ascii=False) + "\n"
                )
            return
        assert query is not None
        found = kb.search(query, k, lang=lang, tags=tag or None)
    if as_json:
        print_json({"query": query, "results": [r.to_dict() for r in found]})
        return
    if not found:
        typer.echo("no results")
    for rank, result in enumerate(found, start=1):
        snippet = result.text.replace("\n", " ")[:160]
        typer.echo(f"{rank}. [{result.lang}] {result.title} ({result.doc_id}, score {result.score:.4f})\n   {snippet}")


@app.command()
def dedup(
    paths: list[Path] = typer.Argument(..., help="Files or folders to check for duplicates."),
    embedder: str | None = typer.Option(None, "--embedder", help="Embedder for the semantic (cosine) check."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON report on stdout.", metavar=""),
) -> None:
    """Report exact, near (MinHash-Jaccard) and semantic (SBERT cosine) duplicates without indexing."""
    from retrieval.dedup_report import dedup_paths

    with user_errors():
        report = dedup_paths(paths, retrieval_config(embedder), cache_dir=get_settings().home)
    if as_json:
        print_json(report)
        return
    typer.echo(f"{report['documents']} documents, {len(report['pairs'])} duplicate pairs")
    for pair in report["pairs"]:
        cosine = "n/a" if pair["cosine"] is None else f"{pair['cosine']:.3f}"
        typer.echo(f"  {pair['kind']:<8} {pair['a']} ~ {pair['b']}  jaccard {pair['jaccard']:.3f}  cosine {cosine}")
    for cluster in report["clusters"]:
        typer.echo(f"  keep {cluster['representative']} ({cluster['rule']}); drop {', '.join(cluster['duplicates'])}")


@app.command()
def delete(
    doc_ids: list[str] = typer.Argument(..., help="Ids of the documents to remove.", callback=utf8_text),
    index: Path | None = typer.Option(
        None,
        "--index",
        help="Index folder (the index name with search_backend=elasticsearch; default: <home>/index, as chat).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON report on stdout.", metavar=""),
) -> None:
    """Remove documents from an index by id."""
    from retrieval.backends import delete_from_knowledge_base

    settings = get_settings()
    with user_errors():
        report = delete_from_knowledge_base(
            settings.search_backend, _served_index(index), doc_ids, es_url=settings.es_url, cache_dir=settings.home
        )
    if as_json:
        print_json(report)
    else:
        restored = f" ({', '.join(report['restored'])} no longer a duplicate)" if report.get("restored") else ""
        typer.echo(f"deleted {', '.join(report['deleted'])}; {report['documents']} documents remain{restored}")


# Where development machines keep the public datasets (a user's clone has none: then only KB pairs are used).
DEFAULT_DATASETS = Path("../shared/datasets")


@app.command()
def distill(
    out: Path = typer.Option(..., "--out", help="Folder for the bilingual student embedder (written atomically)."),
    datasets: Path | None = typer.Option(
        None, "--datasets", help="Folder with stsb_multi_mt/ (default: ../shared/datasets when present)."
    ),
    kb: list[Path] = typer.Option([Path("data/kb")], "--kb", help="Knowledge base with translation_of pairs."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Passes over the pairs (default: config)."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="Pairs per step (default: config)."),
    lr: float | None = typer.Option(None, "--lr", help="Peak learning rate (default: config)."),
    kb_repeats: int | None = typer.Option(None, "--kb-repeats", min=0, help="KB pairs seen per epoch."),
    threads: int | None = typer.Option(None, "--threads", min=0, help="torch CPU threads (0: torch's default)."),
    max_stsb_pairs: int | None = typer.Option(
        None, "--max-stsb-pairs", min=0, help="Cap on stsb_multi_mt pairs (0: all; default: config)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the distill report as one JSON document.", metavar=""),
) -> None:
    """Train a bilingual student embedder from parallel es/en text (multilingual distillation)."""
    from dataclasses import replace

    from retrieval.distill import DistillConfig
    from retrieval.distill import distill as run_distill

    if datasets is None and (DEFAULT_DATASETS / "stsb_multi_mt").is_dir():
        datasets = DEFAULT_DATASETS
    elif datasets is None:
        typer.echo(f"note: {DEFAULT_DATASETS}/stsb_multi_mt not found; training on the KB pairs only", err=True)
    overrides: dict[str, Any] = {
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "kb_repeats": kb_repeats,
        "threads": threads,
        "max_stsb_pairs": max_stsb_pairs,
    }
    with user_errors(), progress_bar() as progress:
        config = replace(DistillConfig(), **{k: v for k, v in overrides.items() if v is not None})
        report = run_distill(out, datasets, kb, config, progress=progress)
    if as_json:
        print_json(report)
        return
    probe = report["mse_es_en_probe"]
    typer.echo(
        f"distilled {report['out']} in {report['train_seconds']} s of training ({report['epochs']} epochs, "
        f"{report['steps']} steps); pairs {report['pairs']}; final loss {report['final_loss']:.6f}; "
        f"es->en MSE {probe['before']:.6f} -> {probe['after']:.6f}"
    )
    if report["note"]:
        typer.echo(f"note: {report['note']}")
