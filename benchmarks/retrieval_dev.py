"""Retrieval on the dev corpora: single retrievers, fusions and conversation-aware queries, per corpus and language.

Run from the project root::

    python benchmarks/retrieval_dev.py [--datasets ../shared/datasets] [--grid] [--builders] [--ties]

Each corpus of ``benchmarks/retrieval_corpora.py`` (plus the bundled demo store's dev queries) is ingested with the
real pipeline once (cached under ``.supportbot/bench/corpora/``); every query's dense and BM25 candidates are
collected once (``KnowledgeBase.signals``) and each fusion is scored on them, so a fusion costs no re-search.
``--grid`` adds the weight sweep and the leave-one-corpus-out check behind the default fusion. Prints tables and
asserts nothing. ``benchmarks/retrieval.py`` imports :func:`dev_runs` for its per-corpus section.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]  # `retrieval` is the package
sys.path.insert(0, str(_HERE.parent))
sys.path.append(str(_HERE))  # retrieval_corpora
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from retrieval_corpora import Corpus, load_corpora, partly_translated, write_articles  # noqa: E402

from retrieval.config import RetrievalConfig  # noqa: E402
from retrieval.conversation import conversation_query  # noqa: E402
from retrieval.fusion import Signals, fuse  # noqa: E402
from retrieval.ingest import ingest  # noqa: E402
from retrieval.metrics import load_queries, recall_at, reciprocal_rank  # noqa: E402
from retrieval.search import KnowledgeBase  # noqa: E402
from retrieval.store import read_version  # noqa: E402

ROOT = _HERE.parent
HOME = ROOT / ".supportbot"
CACHE = HOME / "bench" / "corpora"
DEMO_QUERIES = ROOT / "data" / "eval" / "retrieval.jsonl"
Fusion = Callable[[Signals], dict[int, float]]
INDEXING_CODE = ("retrieval/chunking.py", "retrieval/text.py", "retrieval/documents.py")  # what decides the chunks


@dataclass
class Run:
    """One corpus, opened and with every query's candidates collected."""

    corpus: Corpus
    kb: KnowledgeBase
    queries: list[dict[str, Any]]
    signals: list[Signals]
    vectors: np.ndarray
    texts: list[str]  # the searched text of each query
    label: dict[str, str]  # article id -> the unit gold ids name (a dropped duplicate -> its kept copy)


def demo_corpus() -> Corpus:
    """The bundled demo store and its dev queries."""
    return Corpus("demo", [], load_queries(DEMO_QUERIES, split="dev"), "data/kb + data/eval dev split", ["en", "es"])


def demo_short_corpus() -> Corpus:
    """The bundled demo store and short chat messages (3-9 words, ``benchmarks/data/short_queries.jsonl`` dev split,
    written for this check without reading ``data/eval``; its val split is held out)."""
    path = ROOT / "benchmarks" / "data" / "short_queries.jsonl"
    return Corpus("demo_short", [], load_queries(path, split="dev"), "data/kb + short chat messages", ["en", "es"])


def demo_partly_corpora() -> list[Corpus]:
    """The demo store partly translated (:func:`retrieval_corpora.partly_translated`: a third of the articles only
    in Spanish, a third only in English), with the dev questions and short messages of both languages."""
    files = [ROOT / "data" / "kb" / f"articles.{lang}.jsonl" for lang in ("en", "es")]
    articles = [json.loads(line) for path in files for line in path.read_text(encoding="utf-8").splitlines()]
    short = load_queries(ROOT / "benchmarks" / "data" / "short_queries.jsonl", split="dev")
    store = Corpus("store", articles, load_queries(DEMO_QUERIES, split="dev") + short, "data/kb + dev messages")
    return partly_translated(store)


def switch_corpus(seed: int = 0) -> Corpus:
    """Topic switches on the demo store: a dev question, the bot's answer to it, then an unrelated dev question.

    The answer is the first sentences (up to 40 words) of the first question's gold article, as the extractive
    generator would quote it; the gold is the last question's. A conversation builder that lets earlier turns
    outweigh the latest one loses these.
    """
    from retrieval.documents import load_documents

    docs = {d.id: d for d in load_documents([ROOT / "data" / "kb"])}
    rng = random.Random(seed)
    queries = []
    dev = load_queries(DEMO_QUERIES, split="dev")
    for lang in ("en", "es"):
        mine = [q for q in dev if q["lang"] == lang]
        for q in mine:
            before = rng.choice([p for p in mine if not set(p["gold_ids"]) & set(q["gold_ids"])])
            answer = " ".join(docs[before["gold_ids"][0]].text.split()[:40])
            turns = [
                {"role": "user", "text": before["query"]},
                {"role": "assistant", "text": answer},
                {"role": "user", "text": q["query"]},
            ]
            queries.append({**q, "id": f"switch-{q['id']}", "turns": turns})
    return Corpus(
        "demo-switch", [], queries, "demo dev questions after an unrelated question and its answer", ["en", "es"]
    )


def open_index(corpus: Corpus, config: RetrievalConfig | None = None) -> KnowledgeBase:
    """Ingest ``corpus`` once (cached by content) and open it."""
    if corpus.name.startswith("demo"):
        source = [ROOT / "data" / "kb"]
        digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(source[0].rglob("*")) if p.is_file()))
    else:
        source = [write_articles(corpus, CACHE / "src" / corpus.name.replace(" ", "_").replace(">", ""))]
        digest = hashlib.sha256(source[0].read_bytes())
    for code in INDEXING_CODE:  # a change to how text is cut re-ingests (the cache was keyed on the articles only)
        digest.update((ROOT / code).read_bytes())
    name = "demo" if corpus.name.startswith("demo") else corpus.name  # demo-switch searches the demo index
    folder = CACHE / f"{name.replace(' ', '_').replace('>', '')}-{digest.hexdigest()[:12]}"
    stale = (folder / "CURRENT").exists() and read_version(folder, with_search=False).multilingual is None
    if not (folder / "CURRENT").exists() or stale:  # stale: cached before indexes stored USE multilingual vectors
        started = time.perf_counter()
        ingest(source, folder, replace=True, cache_dir=HOME)
        print(f"  ingested {corpus.name}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return KnowledgeBase.open(folder, cache_dir=HOME, config=config)


def query_text(query: dict[str, Any], builder: str = "conversation") -> str:
    """The text searched for a query: the latest turn, the last three turns, or the conversation-aware query."""
    turns = query.get("turns")
    if not turns or builder == "latest":
        return str(query["query"])
    if builder == "last3":
        return " ".join(t["text"] for t in turns[-3:])
    return conversation_query(turns, lang=query.get("lang")).query


def collect(
    corpus: Corpus,
    builder: str = "conversation",
    config: RetrievalConfig | None = None,
    kb: KnowledgeBase | None = None,
) -> Run:
    """Open ``corpus`` (or search ``kb``, an index already built); collect each query's dense and BM25 candidates."""
    kb = kb or open_index(corpus, config)
    texts = [query_text(q, builder) for q in corpus.queries]
    vectors = kb.embedder.encode(texts, batch_size=64)
    signals = [kb.signals(t, v, kb.config.candidates) for t, v in zip(texts, vectors, strict=True)]
    label = {d.id: d.duplicate_of or d.id for d in kb.data.documents.values()}
    for q in corpus.queries:  # Bitext: any response of the intent answers
        if len(q["gold_ids"]) > 1 and corpus.name == "bitext":
            label.update(dict.fromkeys(q["gold_ids"], q["gold_ids"][0]))
    return Run(corpus, kb, corpus.queries, signals, vectors, texts, label)


# "dense" is the list the hybrid fuses: the index embedder's (FAISS), or USE multilingual's for Spanish and
# cross-language queries when the index stores those vectors (KnowledgeBase.signals).
SINGLE: dict[str, Fusion] = {
    "dense": lambda s: dict(zip(s.dense_rows.tolist(), s.dense_scores.tolist(), strict=True)),
    "bm25": lambda s: dict(zip(s.lexical_rows.tolist(), s.lexical_scores.tolist(), strict=True)),
    "titles": lambda s: dict(zip(s.title_rows.tolist(), s.title_scores.tolist(), strict=True)),
}


def configured(config: RetrievalConfig) -> Fusion:
    """The fusion a KnowledgeBase with ``config`` applies."""
    return config.fuse


def rankings(run: Run, fusion: Fusion, k: int = 10) -> list[list[str]]:
    """Ranked gold units per query under ``fusion`` (twins folded into the query's language, as search does)."""
    out = []
    for signals, vector in zip(run.signals, run.vectors, strict=True):
        ranked = run.kb.articles(fusion(signals), vector, signals.qlang)
        out.append(list(dict.fromkeys(run.label.get(d, d) for d, _, _ in ranked))[:k])
    return out


def scores(run: Run, ranked: list[list[str]], lang: str | None = None) -> dict[str, float]:
    """R@1, R@5 (the first relevant article in the top k; mean recall for multi-gold demo queries) and MRR."""
    rows = []
    for query, found in zip(run.queries, ranked, strict=True):
        if lang is not None and query.get("lang") != lang:
            continue
        gold = {run.label.get(g, g) for g in query["gold_ids"]}
        rows.append((recall_at(found, gold, 1), recall_at(found, gold, 5), reciprocal_rank(found, gold)))
    if not rows:
        return {"n": 0}
    r1, r5, mrr = (float(np.mean(c)) for c in zip(*rows, strict=True))
    return {"n": len(rows), "R@1": r1, "R@5": r5, "MRR": mrr}


def groups(run: Run) -> list[str | None]:
    """Each query language of the run (the per-language rows of every table)."""
    langs = sorted({q.get("lang", "en") for q in run.queries})
    return langs if len(langs) > 1 else [langs[0]]


def dev_runs(
    datasets: Path, builder: str = "conversation", config: RetrievalConfig | None = None, names: str = ""
) -> list[Run]:
    """Every dev corpus (those of ``datasets`` when present) and the demo store, collected.

    ``names``: comma-separated corpus names to keep (all when empty).
    """
    corpora = [demo_corpus(), demo_short_corpus(), *demo_partly_corpora()]
    if datasets.is_dir():
        corpora += load_corpora(datasets)
    else:
        print(f"{datasets} is absent: the demo store only", file=sys.stderr)
    wanted = {n.strip() for n in names.split(",") if n.strip()}
    return [collect(c, builder, config) for c in corpora if not wanted or c.name in wanted]


def table(runs: list[Run], systems: dict[str, Fusion]) -> None:
    """Print R@1 / R@5 / MRR of each system per corpus and language, with the best single retriever marked."""
    print("| corpus | lang | n | " + " | ".join(f"{s} R@1 | {s} R@5 | {s} MRR" for s in systems) + " |")
    print("|---|---|---:" + "|---:" * 3 * len(systems) + "|")
    for run in runs:
        ranked = {name: rankings(run, fusion) for name, fusion in systems.items()}
        for lang in groups(run):
            cells = []
            n = 0
            for name in systems:
                m = scores(run, ranked[name], lang)
                n = int(m["n"])
                cells += [f"{m['R@1']:.3f}", f"{m['R@5']:.3f}", f"{m['MRR']:.3f}"]
            print(f"| {run.corpus.name} | {lang} | {n} | " + " | ".join(cells) + " |")


def tie_fair_r1(run: Run, fusion: Fusion, lang: str | None) -> float:
    """R@1 with exact score ties at their expected value: a gold unit tied with t others at the top counts 1 / (t + 1).

    The tables' R@1 lets the order in which a ranking happens to list equal scores decide (bm25s lists exactly tied
    chunks in index order); this is the same measure with that accident averaged out, for every system alike.
    """
    total, n = 0.0, 0
    for query, signals, vector in zip(run.queries, run.signals, run.vectors, strict=True):
        if lang is not None and query.get("lang") != lang:
            continue
        n += 1
        units: dict[str, float] = {}
        for doc_id, score, _ in run.kb.articles(fusion(signals), vector, signals.qlang):
            unit = run.label.get(doc_id, doc_id)
            units[unit] = max(units.get(unit, score), score)
        if units:
            top = max(units.values())
            tied = [u for u, score in units.items() if score == top]
            gold = {run.label.get(g, g) for g in query["gold_ids"]}
            total += sum(u in gold for u in tied) / len(tied) / len(gold)
    return total / n if n else 0.0


def ties_table(runs: list[Run], systems: dict[str, Fusion]) -> None:
    """R@1 of each system per corpus and language, exact ties at their expected value (:func:`tie_fair_r1`)."""
    print("\nR@1 with exact score ties at their expected value")
    print("| corpus | lang | " + " | ".join(systems) + " |")
    print("|---|---" + "|---:" * len(systems) + "|")
    for run in runs:
        for lang in groups(run):
            cells = [f"{tie_fair_r1(run, fusion, lang):.3f}" for fusion in systems.values()]
            print(f"| {run.corpus.name} | {lang} | " + " | ".join(cells) + " |")


def margins(run: Run, fusion: Fusion, singles: dict[str, dict[str, float]], lang: str) -> tuple[float, float]:
    """Fused R@1 and R@5 minus the best single retriever's."""
    m = scores(run, rankings(run, fusion), lang)
    best = {key: max(s[key] for s in singles.values()) for key in ("R@1", "R@5")}
    return m["R@1"] - best["R@1"], m["R@5"] - best["R@5"]


def zscore_fusion(signals: Signals, weights: tuple[float, float]) -> dict[int, float]:
    """Exploration only: z-scored scores, a chunk absent from a list getting that list's lowest z."""
    fused: dict[int, float] = {}
    lists = ((signals.dense_rows, signals.dense_scores), (signals.lexical_rows, signals.lexical_scores))
    floors = []
    for (rows, values), weight in zip(lists, weights, strict=True):
        z = (values - values.mean()) / (values.std() + 1e-9) if len(values) else values
        floors.append(float(z.min()) if len(z) else 0.0)
        for row, value in zip(rows.tolist(), z.tolist(), strict=True):
            fused[row] = fused.get(row, 0.0) + weight * value
    for (rows, _), weight, floor in zip(lists, weights, floors, strict=True):
        for row in set(fused) - set(rows.tolist()):
            fused[row] += weight * floor
    return fused


METHODS: dict[str, Callable[[Signals, tuple[float, float]], dict[int, float]]] = {
    "minmax": lambda s, w: fuse(s, w, "minmax"),
    "rrf": lambda s, w: fuse(s, w, "rrf"),
    "zscore": zscore_fusion,
}


def weight_class(run: Run, lang: str) -> str:
    """``cross`` when most of this language's queries search an index mostly in the other language, else ``lang``."""
    flags = [s.cross for s, q in zip(run.signals, run.queries, strict=True) if q.get("lang") == lang]
    return "cross" if sum(flags) > len(flags) / 2 else lang


def grid(runs: list[Run], methods: list[str]) -> None:
    """Sweep the dense weight per weight class (en, es, cross) for each method; choose by the worst margin over the
    corpora of a class, and check each choice on the corpus left out."""
    weights = [round(float(w), 2) for w in np.arange(0.0, 1.01, 0.1)]
    cells: dict[tuple[str, str, str], dict[float, tuple[float, float]]] = {}  # (method, corpus, class)
    for run in runs:
        for lang in groups(run):
            assert lang is not None
            singles = {name: scores(run, rankings(run, f), lang) for name, f in SINGLE.items()}
            for method in methods:
                key = (method, run.corpus.name, weight_class(run, lang))
                cells[key] = {}
                for w in weights:
                    fusion: Fusion = lambda s, w=w, m=METHODS[method]: m(s, (w, round(1 - w, 2)))  # noqa: E731
                    cells[key][w] = margins(run, fusion, singles, lang)

    def choose(keys: list[tuple[str, str, str]]) -> float:
        # The weight whose worst margin (R@1 or R@5, over these corpora) is largest; ties: the larger mean margin.
        return max(
            weights, key=lambda w: (min(min(cells[k][w]) for k in keys), np.mean([sum(cells[k][w]) for k in keys]))
        )

    for method in methods:
        print(f"\n{method} fusion, dense weight w (lexical 1 - w): R@1 / R@5 margin over the best single retriever")
        print("| corpus | class | " + " | ".join(str(w) for w in weights) + " |")
        print("|---|---" + "|---:" * len(weights) + "|")
        mine = [k for k in cells if k[0] == method]
        for key in mine:
            print(
                f"| {key[1]} | {key[2]} | " + " | ".join(f"{a:+.3f} / {b:+.3f}" for a, b in cells[key].values()) + " |"
            )
        classes = sorted({k[2] for k in mine})
        chosen = {c: choose([k for k in mine if k[2] == c]) for c in classes}
        worst = {c: min(min(cells[k][chosen[c]]) for k in mine if k[2] == c) for c in classes}
        print(f"chosen per class: {chosen}; worst margin at that weight: {worst}")
        print("| left out | class | w without it | margin on it (R@1 / R@5) |")
        print("|---|---|---:|---|")
        for key in mine:
            others = [k for k in mine if k[2] == key[2] and k[1] != key[1]]
            w = choose(others) if others else chosen[key[2]]
            a, b = cells[key][w]
            print(f"| {key[1]} | {key[2]} | {w} | {a:+.3f} / {b:+.3f} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Retrieval on the dev corpora (prints tables; asserts nothing).")
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--grid", action="store_true", help="weight sweep and leave-one-corpus-out check")
    parser.add_argument("--builders", action="store_true", help="compare query builders on multi-turn corpora")
    parser.add_argument("--ties", action="store_true", help="R@1 with exact score ties at their expected value")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    runs = dev_runs(args.datasets)
    default = RetrievalConfig()
    systems = {
        **SINGLE,
        "rrf (before)": configured(replace(default, fusion="rrf")),
        "hybrid, no title list": configured(replace(default, fusion_title_weight=0.0)),
        "hybrid, no foreign list": configured(replace(default, fusion_foreign_weight=0.0)),
        "hybrid": configured(default),
    }
    print(f"load average {os.getloadavg()[0]:.2f}; collected in {time.perf_counter() - started:.0f} s\n")
    table(runs, systems)
    if args.grid:
        grid(runs, ["minmax", "rrf", "zscore"])
    if args.ties:
        ties_table(runs, {"dense": SINGLE["dense"], "bm25": SINGLE["bm25"], "hybrid": configured(default)})
    if args.builders:
        multi = [r.corpus for r in runs if any("turns" in q for q in r.queries)]
        for builder in ("latest", "last3", "conversation"):
            print(f"\nquery builder: {builder}")
            table(
                [collect(c, builder) for c in multi],
                {"dense": SINGLE["dense"], "bm25": SINGLE["bm25"], "hybrid": configured(default)},
            )
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
