"""Retrieval benchmark: ingest, embedding, search latency at 10k/100k chunks, dedup, LangChain/Haystack side by side.

Run from the project root::

    python benchmarks/retrieval.py [--quick] [--datasets ../shared/datasets] [--sizes 10000,100000]

It prints tables and asserts nothing: timings depend on the machine and on what else runs on it, so the header and
every table print the load average. ``--quick`` runs only the bundled-KB parts (1, 2 on 256 sentences, 3 on the
bundled index, 5 on 150 dev queries). The large corpora are the bundled index plus distinct real texts from the
shared datasets (Bitext responses split into paragraphs, BANKING77, CLINC150, NLU++, STS-B en/es, SGD utterances),
embedded once with the onnx backend and cached under ``.supportbot/bench/vectors/`` (10k-text shards), so re-runs
only pay for building and searching. Tables also go to ``.supportbot/bench/retrieval.{md,json}`` and the latency
plot to ``.supportbot/bench/retrieval_latency.png``. Needs the ``bench`` extra for section 5.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import os
import platform
import random
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

# This file is named like the package it measures: drop its own folder from the import path so that
# `import retrieval` finds the package, not this script.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
sys.path.append(str(_HERE))  # after the package: retrieval_dev, retrieval_corpora
for _key, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HAYSTACK_TELEMETRY_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
}.items():
    os.environ.setdefault(_key, _value)
warnings.filterwarnings("ignore")  # deprecation chatter from three frameworks would bury the tables

import numpy as np  # noqa: E402
from retrieval_peers import haystack, langchain  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table as RichTable  # noqa: E402
from rich.text import Text  # noqa: E402

from retrieval import multilingual  # noqa: E402
from retrieval.chunking import chunk_document  # noqa: E402
from retrieval.config import RetrievalConfig  # noqa: E402
from retrieval.dedup import DedupItem, find_duplicates  # noqa: E402
from retrieval.documents import load_documents  # noqa: E402
from retrieval.embeddings import BUNDLED, load_embedder, resolve_backend, resolve_model_path  # noqa: E402
from retrieval.ingest import ingest  # noqa: E402
from retrieval.metrics import evaluate, load_queries  # noqa: E402
from retrieval.search import KnowledgeBase  # noqa: E402
from retrieval.store import IndexData, StoredDocument, read_version, write_version  # noqa: E402

ROOT = _HERE.parent
KB = ROOT / "data" / "kb"
QUERIES = ROOT / "data" / "eval" / "retrieval.jsonl"
HOME = ROOT / ".supportbot"  # the default data home; the onnx export is cached here too
BENCH = HOME / "bench"
SHARD = 10_000
PACKAGES = (
    "torch",
    "transformers",
    "sentence-transformers",
    "onnxruntime",
    "faiss-cpu",
    "bm25s",
    "langchain-community",
    "haystack-ai",
)
console = Console(width=150, highlight=False)
Search = Callable[[str], list[str]]  # query -> ranked article ids


@dataclass
class Table:
    """One result table: printed, and rewritten to retrieval.{md,json} after every section."""

    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


HEADER: list[str] = []
TABLES: list[Table] = []
LATENCY: list[tuple[str, float, float]] = []  # plot bars: (label, p50 ms, p95 ms)


def loadavg() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1 else f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def emit(table: Table) -> None:
    table.notes.append(f"load average (1/5/15 min) after this section: {loadavg()}")
    rich = RichTable(title=table.title, title_justify="left", header_style="bold")
    for i, column in enumerate(table.columns):
        rich.add_column(column, justify="left" if i == 0 else "right")
    for row in table.rows:
        rich.add_row(*(Text(fmt(v)) for v in row))
    console.print(rich)
    for note in table.notes:
        console.print(f"  {note}", style="dim", markup=False)
    console.print()
    TABLES.append(table)
    md = [f"- {line}" for line in HEADER] + [""]
    for t in TABLES:
        md += [f"**{t.title}**", "", "| " + " | ".join(t.columns) + " |", "|---" + "|---:" * (len(t.columns) - 1) + "|"]
        md += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in t.rows] + [""]
        md += [f"- {note}" for note in t.notes] + [""]
    (BENCH / "retrieval.md").write_text("\n".join(md))
    payload = {"header": HEADER, "tables": [asdict(t) for t in TABLES], "latency": LATENCY}
    (BENCH / "retrieval.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str))


def timed(search: Search, queries: list[dict[str, Any]], warmup: int = 5) -> tuple[list[list[str]], list[float]]:
    """Run ``search`` on each query alone: rankings and wall milliseconds per query (after ``warmup`` queries)."""
    for q in queries[:warmup]:
        search(q["query"])
    ranked, ms = [], []
    for q in queries:
        start = time.perf_counter()
        ranked.append(search(q["query"]))
        ms.append((time.perf_counter() - start) * 1000)
    return ranked, ms


def metrics(queries: list[dict[str, Any]], ranked: list[list[str]]) -> dict[str, dict[str, float]]:
    return evaluate(queries, lambda _: ranked)["metrics"]


def pcts(ms: list[float]) -> tuple[float, float]:
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


# 1. Ingest ----------------------------------------------------------------------------------------------------
def bench_ingest(index_dir: Path, runs: int) -> tuple[dict[str, Any], float]:
    """Ingest the bundled KB ``runs`` times; the last report and the first (cold) run's seconds."""
    table = Table(
        "1. Ingest of the bundled KB (data/kb), target < 60 s",
        ["run", "documents", "chunks", "dropped dups", "seconds", "chunks/s", "stages, s"],
    )
    report: dict[str, Any] = {}
    seconds: list[float] = []
    for run in ["cold (loads embedder)", "warm (embedder loaded)"][:runs]:
        first: dict[str, float] = {}
        last: dict[str, float] = {}

        def progress(stage: str, done: int, total: int, first: dict = first, last: dict = last) -> None:
            first.setdefault(stage, time.perf_counter())
            last[stage] = time.perf_counter()

        start = time.perf_counter()
        report = ingest([KB], index_dir, replace=True, cache_dir=HOME, progress=progress)
        seconds.append(time.perf_counter() - start)
        marks = [
            ("load+models", first.get("language", start)),
            ("language", last.get("language", start)),
            ("chunk+embed", last.get("embed", start)),
            ("dedup", last.get("dedup", start)),
            ("write", last.get("write", start)),
        ]
        before = [start, *(mark for _, mark in marks)][:-1]
        stages = [f"{name} {mark - b:.1f}" for (name, mark), b in zip(marks, before, strict=True)]
        table.rows.append(
            [
                run,
                report["documents"],
                report["chunks"],
                report["duplicates_dropped"],
                seconds[-1],
                report["chunks"] / seconds[-1],
                ", ".join(stages),
            ]
        )
    backend = resolve_backend(BUNDLED, RetrievalConfig().embedder_backend)
    table.notes.append(f"retrieval.ingest.ingest([data/kb], tmpdir, replace=True): default config ({backend} embedder)")
    emit(table)
    return report, seconds[0]


# 2. Embedding throughput --------------------------------------------------------------------------------------
def bench_embeddings(datasets: Path, n: int, queries: list[dict[str, Any]]) -> None:
    """Batch throughput and single-query latency of each backend (torch also at 1 thread: see the notes)."""
    import torch

    files = [table for _, table in _read(datasets / "stsb_multi_mt", "stsb-[ae][ns]-train.csv*")]
    if len(files) == 2:  # en, es: aligned rows
        texts = [s for a, b in zip(*files, strict=True) for s in (a[0], b[0])][:n]
        source = "STS-B train sentence1, en/es alternating"
    else:
        chunks = [c.text for d in load_documents([KB]) for c in chunk_document(d)]
        texts, source = (chunks * (n // len(chunks) + 1))[:n], "bundled KB chunks (datasets folder absent)"
    table = Table(
        f"2. Embedding throughput, {len(texts):,} sentences, batch 64; single-query latency, {len(queries)} queries",
        ["backend", "threads", "load s", "seconds", "sentences/s", "vs torch", "1-query p50 ms", "1-query p95 ms"],
    )
    vectors: dict[str, np.ndarray] = {}
    default_threads = torch.get_num_threads()
    for backend, threads in (("torch", default_threads), ("torch", 1), ("onnx", None)):
        torch.set_num_threads(threads or default_threads)
        start = time.perf_counter()
        embedder = load_embedder(BUNDLED, backend, HOME)  # type: ignore[arg-type]
        loaded = time.perf_counter() - start
        embedder.encode(texts[:64], batch_size=64)  # warm-up
        start = time.perf_counter()
        vectors[backend] = embedder.encode(texts, batch_size=64)
        rate = len(texts) / (time.perf_counter() - start)
        single = timed(lambda q, e=embedder: e.encode([q]), queries)[1]  # type: ignore[misc]
        base = table.rows[0][4] if table.rows else rate
        table.rows.append(
            [backend, threads or "ort default", loaded, len(texts) / rate, rate, f"{rate / base:.2f}x", *pcts(single)]
        )
    torch.set_num_threads(default_threads)
    cosine = np.sum(vectors["torch"] * vectors["onnx"], axis=1)
    table.notes += [
        f"texts: {source}; torch's load s is ~0 once section 1 has loaded it in this process",
        f"torch vs onnx vectors: mean cosine {cosine.mean():.6f}, min {cosine.min():.6f}",
        f"threads: torch's default here is {default_threads}; the rows differ in batch throughput only, because "
        "TorchEmbedder embeds up to 4 texts on one thread whatever the setting (intra-op threads cost a single "
        "query 150-800 ms on a busy 2-core machine)",
    ]
    emit(table)


# 3. Search latency --------------------------------------------------------------------------------------------
@dataclass
class Pool:
    """Distinct real texts in a fixed shuffled order; a corpus of n chunks takes a prefix."""

    doc_ids: list[str]
    langs: list[str]
    texts: list[str]
    sources: dict[str, int]


def _read(folder: Path, pattern: str) -> Iterator[tuple[Path, Any]]:
    for path in sorted(folder.glob(pattern)):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            yield path, (json.load(handle) if ".json" in path.name else list(csv.reader(handle)))


def build_pool(datasets: Path) -> Pool:
    rows: list[tuple[str, str, str]] = []  # doc id, lang, text
    for _, table in _read(datasets / "bitext_cs", "*.csv*"):  # one doc per response, one chunk per paragraph
        col = table[0].index("response")
        rows += [(f"bitext-{i}", "en", p) for i, r in enumerate(table[1:]) for p in r[col].split("\n\n")]
    for _, table in _read(datasets / "banking77", "train.csv*"):
        rows += [(f"banking77-{i}", "en", r[0]) for i, r in enumerate(table[1:])]
    for _, splits in _read(datasets / "clinc150", "*.json*"):
        rows += [(f"clinc-{s}-{i}", "en", t) for s, items in splits.items() for i, (t, _) in enumerate(items)]
    for path, items in _read(datasets / "nlupp" / "data", "*/fold*.json*"):
        rows += [(f"nlupp-{path.parent.name}-{path.stem}-{i}", "en", r["text"]) for i, r in enumerate(items)]
    for path, table in _read(datasets / "stsb_multi_mt", "stsb-*.csv*"):
        rows += [(f"stsb-{path.stem[5:]}-{i}", path.name[5:7], r[j]) for i, r in enumerate(table) for j in (0, 1)]
    for _, dialogues in _read(datasets / "sgd_banking", "*/dialogues_*.json*"):  # one doc per dialogue
        rows += [(f"sgd-{d['dialogue_id']}", "en", t["utterance"]) for d in dialogues for t in d["turns"]]
    seen: set[str] = set()
    unique = []
    for doc_id, lang, text in rows:
        if len(text.strip()) >= 3 and text.strip() not in seen:
            seen.add(text.strip())
            unique.append((doc_id, lang, text.strip()))
    random.Random(0).shuffle(unique)
    sources: dict[str, int] = {}
    for doc_id, _, _ in unique:
        sources[doc_id.split("-")[0]] = sources.get(doc_id.split("-")[0], 0) + 1
    return Pool([u[0] for u in unique], [u[1] for u in unique], [u[2] for u in unique], sources)


def pool_vectors(pool: Pool, n: int, encoder: str = "onnx") -> np.ndarray:
    """Vectors of ``pool.texts[:n]`` from the bundled model on onnx (``encoder="onnx"``) or from USE multilingual
    (``"use"``, what ingest stores beside them), computed once per 10k-text shard and cached."""
    model = str(resolve_model_path(BUNDLED)) if encoder == "onnx" else multilingual.NAME
    digest = hashlib.sha256("\x00".join([model, *pool.texts]).encode()).hexdigest()[:16]
    folder = BENCH / "vectors" / digest
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for shard, start in enumerate(range(0, n, SHARD)):
        path, texts = folder / f"part-{shard:04d}.npy", pool.texts[start : start + SHARD]
        if not path.exists() or len(np.load(path, mmap_mode="r")) != len(texts):
            began = time.perf_counter()
            if encoder == "onnx":
                vectors = load_embedder(BUNDLED, "onnx", HOME).encode(texts, batch_size=64)
            else:
                vectors = multilingual.encode(texts)
            np.save(path.with_suffix(".tmp.npy"), vectors)
            os.replace(path.with_suffix(".tmp.npy"), path)
            seconds = time.perf_counter() - began
            console.log(f"embedded shard {shard} ({len(texts):,} texts, {encoder}): {seconds:.0f} s")
        parts.append(np.load(path))
    width = 384 if encoder == "onnx" else multilingual.DIM
    return np.vstack(parts)[:n] if parts else np.zeros((0, width), np.float32)


def build_corpus(bundled: Path, pool: Pool, size: int) -> IndexData:
    """The bundled index plus the first ``size - len(KB chunks)`` pool texts, as one in-memory index."""
    kb = read_version(bundled, with_search=False)
    n = max(0, size - len(kb.chunk_ids))
    documents, counts = dict(kb.documents), dict.fromkeys(kb.documents, 0)
    chunk_ids = []
    for doc_id, lang, text in zip(pool.doc_ids[:n], pool.langs[:n], pool.texts[:n], strict=True):
        chunk_ids.append(f"{doc_id}#{counts.get(doc_id, 0)}")
        counts[doc_id] = counts.get(doc_id, 0) + 1
        if doc_id in documents:
            documents[doc_id].text += "\n\n" + text
        else:
            documents[doc_id] = StoredDocument(id=doc_id, title="", lang=lang, text=text, source="bench")
    return IndexData(
        manifest={**kb.manifest, "documents": len(documents)},
        documents=documents,
        chunk_ids=kb.chunk_ids + chunk_ids,
        chunk_doc_ids=kb.chunk_doc_ids + pool.doc_ids[:n],
        chunk_langs=kb.chunk_langs + pool.langs[:n],
        chunk_texts=kb.chunk_texts + pool.texts[:n],
        vectors=np.vstack([kb.vectors, pool_vectors(pool, n)]),
        multilingual=None if kb.multilingual is None else np.vstack([kb.multilingual, pool_vectors(pool, n, "use")]),
    )


def bench_search(bundled: Path, pool: Pool | None, sizes: list[int], queries: list[dict[str, Any]]) -> IndexData | None:
    """Latency on the bundled index and at each size; returns the largest corpus for the dedup section."""
    table = Table(
        f"3. Search latency, KnowledgeBase.search (k=5, query embedding included), {len(queries)} queries",
        [
            "index",
            "chunks",
            "faiss",
            "build s",
            "open s",
            "p50 ms",
            "p95 ms",
            "embed p50 ms",
            "no-embed p50 ms",
            "no-embed p95 ms",
            "R@5",
            "MRR",
        ],
    )
    largest = None
    for size in [0, *sizes]:
        with tempfile.TemporaryDirectory(dir=BENCH, prefix="index-") as tmp:
            folder = bundled
            build: float | str = "(section 1)"
            if size and pool is not None:
                data, folder = build_corpus(bundled, pool, size), Path(tmp)
                config = RetrievalConfig(**data.manifest.get("config", {}))
                start = time.perf_counter()
                write_version(folder, data, config.hnsw_threshold, config.hnsw_m, config.hnsw_ef_search)
                build = time.perf_counter() - start
                largest = data if size == sizes[-1] else None
                del data
            start = time.perf_counter()
            kb = KnowledgeBase.open(folder, cache_dir=HOME)
            opened = time.perf_counter() - start
            ranked, ms = timed(lambda q, kb=kb: [r.doc_id for r in kb.search(q, k=5)], queries, warmup=10)  # type: ignore[misc]
            embed = timed(lambda q, kb=kb: kb.embedder.encode([q]), queries[:50])[1]  # type: ignore[misc]
            # Everything but the query embedding (language, BM25, FAISS, fusion): what the index size changes.
            vectors = dict(
                zip((q["query"] for q in queries), kb.embedder.encode([q["query"] for q in queries]), strict=True)
            )
            rest = timed(lambda q, kb=kb, v=vectors: kb.search_vector(q, v[q], k=5), queries)[1]  # type: ignore[misc]
            m, kind = metrics(queries, ranked)["overall"], kb.data.manifest.get("faiss", "?")
            table.rows.append(
                [
                    f"bundled KB{f' + datasets {size:,}' if size else ''}",
                    kb.size,
                    kind,
                    build,
                    opened,
                    *pcts(ms),
                    float(np.median(embed)),
                    *pcts(rest),
                    m["recall@5"],
                    m["mrr"],
                ]
            )
            LATENCY.append((f"supportbot\n{kb.size:,} chunks\n({kind})", *pcts(ms)))
            del kb
    table.notes += [
        "target: p95 < 50 ms on the bundled index. FAISS is exact (flat) up to hnsw_threshold=20,000 chunks and HNSW "
        "(M=32, efSearch=128) above; no-embed: kb.search_vector with the query vector precomputed (language, BM25, "
        "FAISS, fusion; a Spanish query's USE multilingual encoding and its exact search over the USE vectors are "
        "inside it, since search_vector does them); embed: the MiniLM query embedding",
        "large indexes: the bundled index + distinct dataset texts (onnx vectors, cached), written with "
        "retrieval.store.write_version (build s = FAISS + BM25 + SQLite); R@5/MRR: gold articles among distractors",
    ]
    if pool is not None:
        sources = ", ".join(f"{k} {v:,}" for k, v in pool.sources.items())
        table.notes.append(f"text pool: {sources} = {len(pool.texts):,} distinct texts (first n taken, seed 0)")
    emit(table)
    return largest


def bench_rerank_cost(bundled: Path, queries: list[dict[str, Any]], candidates: int = 20) -> None:
    """What a MiniLM-L6 cross-encoder second stage would cost per query: 20 (query, chunk) pairs through the same
    6-layer, 384-wide encoder (the bundled model on onnxruntime; ms-marco-MiniLM-L-6-v2 has this shape)."""
    kb = KnowledgeBase.open(bundled, cache_dir=HOME)
    pairs = [[f"{q['query']} [SEP] {r.text}" for r in kb.search(q["query"], k=candidates)] for q in queries]
    ms = timed(
        lambda text, p=dict(zip((q["query"] for q in queries), pairs, strict=True)): kb.embedder.encode(p[text]),
        queries,
    )[1]  # type: ignore[misc]
    table = Table(
        f"3b. Reranker cost: {candidates} (query, chunk) pairs per query through a MiniLM-L6 encoder, "
        f"{len(queries)} queries, onnxruntime",
        ["stage", "pairs", "p50 ms", "p95 ms"],
        [["encode the pairs (cross-encoder forward, same shape)", candidates, *pcts(ms)]],
    )
    table.notes.append(
        "budget in issue #16: p95 <= 30 ms for 20 candidates on 2 cores, on top of the search itself; no cross-encoder "
        "weights are installable offline here, so this measures the cost side only"
    )
    emit(table)


# 4. Dedup ---------------------------------------------------------------------------------------------------------
def bench_dedup(data: IndexData) -> None:
    """find_duplicates as ingest calls it (the configured thresholds), over every chunk of ``data``."""
    config = RetrievalConfig()
    items = [DedupItem(*row) for row in zip(data.chunk_ids, data.chunk_texts, data.chunk_langs, strict=True)]
    start = time.perf_counter()
    report = find_duplicates(
        items,
        data.vectors,
        jaccard_threshold=config.jaccard_threshold,
        cosine_threshold=config.cosine_threshold,
        num_perm=config.minhash_perm,
        review_cosine=config.review_cosine,
    )
    seconds = time.perf_counter() - start
    kinds = [sum(p.kind == k for p in report.pairs) for k in ("exact", "near", "semantic")]
    table = Table(
        f"4. Dedup, retrieval.dedup.find_duplicates over {len(items):,} chunks with vectors",
        ["items", "seconds", "items/s", "exact", "near", "semantic", "clusters", "dropped", "review"],
    )
    table.rows.append(
        [
            len(items),
            seconds,
            len(items) / seconds,
            *kinds,
            len(report.clusters),
            len(report.dropped),
            len(report.review),
        ]
    )
    table.notes.append(
        f"RetrievalConfig thresholds: Jaccard >= {config.jaccard_threshold}, cosine >= {config.cosine_threshold} "
        f"(review from {config.review_cosine}), MinHash {config.minhash_perm} permutations + LSH, FAISS kNN self-join "
        "(HNSW above 20k items); chunk-level items, one language at a time"
    )
    emit(table)


# 5. Side by side ----------------------------------------------------------------------------------------------
def supportbot(bundled: Path, backend: str | None = None) -> Search:
    config = RetrievalConfig(embedder_backend=backend) if backend else None  # the index was built with the defaults
    kb = KnowledgeBase.open(bundled, cache_dir=HOME, config=config)
    return lambda q: [r.doc_id for r in kb.search(q, k=20)]


def bench_side_by_side(bundled: Path, dropped: dict[str, str], queries: list[dict[str, Any]], ingest_s: float) -> None:
    config, model = RetrievalConfig(), str(resolve_model_path(BUNDLED))
    chunks = [
        {"text": f"{d.title}\n{c.text}" if d.title else c.text, "doc_id": d.id, "lang": d.lang or ""}
        for d in load_documents([KB])
        for c in chunk_document(d, config.chunk_max_chars, config.chunk_overlap_sentences)
    ]
    table = Table(
        f"5. Side by side on the bundled KB: {len(queries)} dev queries of data/eval/retrieval.jsonl, one "
        "model (the bundled all-MiniLM-L6-v2; supportbot's default runs it on onnxruntime, the others on torch)",
        [
            "system",
            "chunks",
            "index s",
            "en R@5",
            "en MRR",
            "es R@5",
            "es MRR",
            "all R@5",
            "all MRR",
            "p50 ms",
            "p95 ms",
        ],
    )
    systems: list[tuple[str, Callable[[], Search]]] = [
        ("supportbot hybrid (KnowledgeBase)", lambda: supportbot(bundled)),
        ("supportbot hybrid (KnowledgeBase), torch embedder", lambda: supportbot(bundled, "torch")),
        ("LangChain FAISS (dense only)", lambda: langchain(chunks, model)),
        ("Haystack 2 in-memory hybrid (BM25 + dense, RRF)", lambda: haystack(chunks, model)),
    ]
    for name, make in systems:
        ours = name.startswith("supportbot")
        try:
            start = time.perf_counter()
            search = make()
            indexed = ingest_s if ours else time.perf_counter() - start
            ranked, ms = timed(search, queries)
        except Exception as exc:  # a framework that cannot run offline is reported as n/a, never faked
            reason = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:100]}"
            table.rows.append([f"{name}: n/a ({reason})", *["n/a"] * 10])
            continue
        variants = (
            [("", ranked)]
            if ours
            else [("", ranked), (", dups removed", [[d for d in r if d not in dropped] for r in ranked])]
        )
        for suffix, lists in variants:
            m = metrics(queries, lists)
            scores = [m.get(g, {}).get(x, "n/a") for g in ("en", "es", "overall") for x in ("recall@5", "mrr")]
            cells = [indexed, *scores, *pcts(ms)] if not suffix else ["", *scores, "", ""]
            table.rows.append([name + suffix, "(ingest)" if ours else len(chunks), *cells])
        label = name.split(" (")[0].replace(" in-memory", "\nin-memory") + (", torch" if "torch" in name else "")
        LATENCY.append((label + "\nside by side", *pcts(ms)))
    table.notes += [
        f"chunks: chunk_document over load_documents([data/kb]), 'title\\ntext' ({len(chunks)}); supportbot's ingest "
        f"drops {len(dropped)} of data/kb/variants.jsonl as duplicates and indexes the rest (index s = cold ingest)",
        "', dups removed': the same rankings without those duplicate ids (exact for a flat dense index; BM25 idf "
        "would shift slightly); rankings: 50 chunk hits per retriever folded to article ids, best first",
        "latency: LangChain and Haystack run sentence-transformers at torch's default threads; supportbot runs the "
        "same model on onnxruntime by default (embedder_backend=auto), and its torch row encodes a single query on "
        "one thread (see section 2)",
        "LangChain: langchain_community HuggingFaceEmbeddings + FAISS (inner product on unit vectors); "
        "langchain-huggingface is not used: it needs huggingface-hub<2 and would downgrade the installed 2.x",
    ]
    emit(table)


def hybrid_search(kb: KnowledgeBase) -> Search:
    return lambda q: [r.doc_id for r in kb.search(q, k=20)]


def single_search(kb: KnowledgeBase, fusion: Callable[[Any], dict[int, float]]) -> Search:
    """One retriever of ``kb`` alone (the same candidates and twin folding as the hybrid), embedding included."""

    def search(text: str) -> list[str]:
        vector = kb.embedder.encode([text])[0]
        signals = kb.signals(text, vector, kb.config.candidates)
        return [d for d, _, _ in kb.articles(fusion(signals), vector, signals.qlang)][:20]

    return search


# 6. Dev corpora ---------------------------------------------------------------------------------------------------
def bench_dev_corpora(datasets: Path, per_group: int, names: str = "") -> None:
    """Per dev corpus and query language: supportbot's hybrid, its two retrievers, LangChain and Haystack."""
    import retrieval_dev as dev

    # Today's search-time defaults, not the ones stored in the cached indexes' manifests when they were ingested.
    runs = dev.dev_runs(datasets, config=RetrievalConfig(), names=names)
    table = Table(
        f"6. Dev corpora (benchmarks/retrieval_corpora.py), up to {per_group} queries per corpus and language, "
        "one model",
        ["corpus", "lang", "queries", "system", "R@1", "R@5", "MRR", "p50 ms", "p95 ms"],
    )
    for run in runs:
        keep = []
        for lang in dev.groups(run):
            mine = [i for i, q in enumerate(run.queries) if q.get("lang") == lang]
            keep += sorted(random.Random(0).sample(mine, min(per_group, len(mine))))
        sub = dev.Run(
            run.corpus,
            run.kb,
            [run.queries[i] for i in keep],
            [run.signals[i] for i in keep],
            run.vectors[keep],
            [run.texts[i] for i in keep],
            run.label,
        )
        kb, data = run.kb, run.kb.data
        chunks = [
            {"text": f"{data.documents[d].title}\n{t}".strip(), "doc_id": d}
            for d, t in zip(data.chunk_doc_ids, data.chunk_texts, strict=True)
        ]

        shared = {"embedder": kb.embedder, "vectors": data.vectors}  # the peers embed with supportbot's model
        systems: list[tuple[str, Callable[[], Search]]] = [
            ("supportbot hybrid", partial(hybrid_search, kb)),
            ("supportbot dense only", partial(single_search, kb, dev.SINGLE["dense"])),
            ("supportbot BM25 only (stemmed)", partial(single_search, kb, dev.SINGLE["bm25"])),
            ("LangChain FAISS (dense)", partial(langchain, chunks, **shared)),
            ("Haystack hybrid (BM25 + dense, RRF)", partial(haystack, chunks, **shared)),
        ]
        queries = [{"query": t} for t in sub.texts]
        for name, make in systems:
            try:
                search = make()
                lists, ms = timed(search, queries)
            except Exception as exc:  # a framework that cannot run offline is reported as n/a, never faked
                reason = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:80]}"
                table.rows.append([run.corpus.name, "all", len(queries), f"{name}: n/a ({reason})", *["n/a"] * 5])
                continue
            labelled = [list(dict.fromkeys(run.label.get(d, d) for d in r)) for r in lists]
            for lang in dev.groups(sub):
                m = dev.scores(sub, labelled, lang)
                mine = [t for q, t in zip(sub.queries, ms, strict=True) if lang is None or q.get("lang") == lang]
                table.rows.append([run.corpus.name, lang, int(m["n"]), name, m["R@1"], m["R@5"], m["MRR"], *pcts(mine)])
        console.log(f"section 6: {run.corpus.name} done")
    table.notes += [
        "queries: multi-turn ones are searched as retrieval.conversation.conversation_query builds them (the same "
        "text for every system); R@k: a relevant article in the top k (Bitext: any response of the intent)",
        "supportbot dense/BM25 only: the same candidates as the hybrid, ranked by one signal (twins folded alike); "
        "latency includes the query embedding for every system, all with supportbot's embedder (onnxruntime)",
        "the frameworks index supportbot's chunks (after its dedup) as 'title\\ntext' with supportbot's own vectors "
        "and query embedder (benchmarks/retrieval_peers.py), so rankings differ only by retrieval and fusion",
    ]
    emit(table)


def plot() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(len(LATENCY))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.7 * len(LATENCY)), 4.8))
    ax.bar(x - 0.2, [v[1] for v in LATENCY], 0.4, label="p50")
    ax.bar(x + 0.2, [v[2] for v in LATENCY], 0.4, label="p95")
    ax.axhline(50, color="grey", linestyle="--", linewidth=1, label="50 ms target (bundled KB)")
    ax.set_xticks(x, [v[0] for v in LATENCY], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("ms per query (query embedding included)")
    ax.set_title(f"Search latency by system and size (load avg {loadavg()}, {os.cpu_count()} cores)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(BENCH / "retrieval_latency.png", dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description="Retrieval benchmark (prints tables; asserts nothing).")
    parser.add_argument("--quick", action="store_true", help="bundled-KB parts only (about 2 minutes on an idle box)")
    parser.add_argument(
        "--datasets",
        type=Path,
        default=ROOT.parent / "shared" / "datasets",
        help="the shared datasets folder (one sub-folder per dataset)",
    )
    parser.add_argument("--sizes", default="10000,100000", help="large corpus sizes in chunks, comma-separated")
    parser.add_argument("--queries", type=int, default=200, help="dev queries for the latency runs of section 3")
    parser.add_argument("--per-group", type=int, default=150, help="section 6: queries per corpus and language")
    parser.add_argument("--only-dev", action="store_true", help="run section 6 (dev corpora) alone")
    parser.add_argument("--only-search", action="store_true", help="run section 3 (search latency, --sizes) alone")
    parser.add_argument("--corpora", default="", help="section 6: comma-separated corpus names (default: all)")
    args = parser.parse_args(argv)
    sizes = [] if args.quick else sorted(int(s) for s in args.sizes.split(",") if s.strip())
    BENCH.mkdir(parents=True, exist_ok=True)
    versions = []
    for package in PACKAGES:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    HEADER[:] = [
        f"command: python benchmarks/retrieval.py {' '.join(argv)}".rstrip(),
        f"date: {time.strftime('%Y-%m-%d %H:%M:%S %z')}",
        f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}; "
        f"load average (1/5/15 min) at start: {loadavg()}",
        "versions: " + ", ".join(versions),
    ]
    console.print("\n".join(HEADER) + "\n", markup=False)
    started = time.perf_counter()
    dev = load_queries(QUERIES, split="dev")
    pool = None
    if sizes and not args.datasets.is_dir():
        console.print(f"{args.datasets} is absent: no large corpora (sections 3 at scale and 4 are skipped)")
        sizes = []
    elif sizes:
        pool = build_pool(args.datasets)
        sizes = sorted({min(s, len(pool.texts)) for s in sizes})  # the KB's chunks come on top
    if args.only_dev:
        bench_dev_corpora(args.datasets, args.per_group, args.corpora)
        console.print(f"total {time.perf_counter() - started:.0f} s; load average at the end: {loadavg()}")
        return
    with tempfile.TemporaryDirectory(dir=BENCH, prefix="bundled-") as tmp:
        bundled = Path(tmp) / "index"
        if args.only_search:
            ingest([KB], bundled, replace=True, cache_dir=HOME)
            sample = random.Random(0).sample(dev, min(args.queries, len(dev)))
            bench_search(bundled, pool, sizes, sample)
            bench_rerank_cost(bundled, sample[:100])
            console.print(f"total {time.perf_counter() - started:.0f} s; load average at the end: {loadavg()}")
            return
        report, cold = bench_ingest(bundled, runs=1 if args.quick else 2)
        bench_embeddings(args.datasets, 256 if args.quick else 2000, random.Random(1).sample(dev, min(50, len(dev))))
        largest = bench_search(bundled, pool, sizes, random.Random(0).sample(dev, min(args.queries, len(dev))))
        if largest is not None:
            bench_dedup(largest)
            del largest
        side = random.Random(0).sample(dev, min(150, len(dev))) if args.quick else dev
        bench_side_by_side(bundled, report["dedup"]["dropped"], side, cold)
    bench_dev_corpora(args.datasets, 60 if args.quick else args.per_group, args.corpora)
    plot()
    console.print(f"total {time.perf_counter() - started:.0f} s; load average at the end: {loadavg()}")
    console.print(f"tables: {BENCH / 'retrieval.md'}; plot: {BENCH / 'retrieval_latency.png'}", markup=False)


if __name__ == "__main__":
    main()
