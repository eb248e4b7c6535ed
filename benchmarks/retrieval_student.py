"""The distilled student's cross-language fusion weight (``fusion_cross_bilingual``), swept on collected candidates.

Run from the project root, with indexes built with the bilingual student (``supportbot kb distill``, then
``supportbot kb ingest FILE --index DIR --replace --embedder <student>``)::

    python benchmarks/retrieval_student.py --index-en DIR --index-es DIR [--xling-en DIR --xling-es DIR]

``--index-en`` / ``--index-es``: ``data/kb/articles.en.jsonl`` / ``articles.es.jsonl`` alone, asked the demo dev
questions in the other language and scored as ``supportbot eval retrieval`` scores them (gold ids mapped to the
indexed translation). ``--xling-en`` / ``--xling-es``: the stsb-xling articles of ``benchmarks/retrieval_corpora.py``
(stsb_multi_mt dev sentence2, English / Spanish alone), asked sentence1 in the other language; the student saw these
sentences in training, so they are a sanity check. Each query's dense and BM25 candidates are collected once and
every weight is scored with the real ``RetrievalConfig.fuse`` and article ranking. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]  # `retrieval` is the package
sys.path.insert(0, str(_HERE.parent))
sys.path.append(str(_HERE))  # retrieval_dev, retrieval_corpora

from retrieval_corpora import Corpus, stsb  # noqa: E402
from retrieval_dev import HOME, ROOT, SINGLE, Run, collect, rankings, scores  # noqa: E402

from retrieval.config import RetrievalConfig  # noqa: E402
from retrieval.metrics import load_queries  # noqa: E402
from retrieval.search import KnowledgeBase  # noqa: E402


def demo_run(index: Path, lang: str) -> Run:
    """The demo dev questions in ``lang`` against a one-language student index of the other language."""
    kb = KnowledgeBase.open(index, cache_dir=HOME)
    twin = {d.translation_of: d.id for d in kb.data.documents.values() if d.translation_of}
    queries = [
        {**q, "gold_ids": [twin.get(g, g) for g in q["gold_ids"]]}
        for q in load_queries(ROOT / "data" / "eval" / "retrieval.jsonl", split="dev")
        if q["lang"] == lang
    ]
    return collect(Corpus(f"demo {lang}->{'es' if lang == 'en' else 'en'}-only", [], queries), kb=kb)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Sweep the student's cross-language fusion weight (prints a table).")
    parser.add_argument("--index-en", type=Path, required=True, help="student index of data/kb's English articles")
    parser.add_argument("--index-es", type=Path, required=True, help="student index of data/kb's Spanish articles")
    parser.add_argument("--xling-en", type=Path, help="student index of the stsb-xling English articles")
    parser.add_argument("--xling-es", type=Path, help="student index of the stsb-xling Spanish articles")
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    args = parser.parse_args(argv)
    runs = [demo_run(args.index_en, "es"), demo_run(args.index_es, "en")]
    if args.xling_en and args.xling_es:
        xling = {c.name: c for c in stsb(args.datasets)}
        for name, index in (("stsb-xling es->en", args.xling_en), ("stsb-xling en->es", args.xling_es)):
            runs.append(collect(xling[name], kb=KnowledgeBase.open(index, cache_dir=HOME)))
    floors = []
    for run in runs:
        singles = {name: scores(run, rankings(run, fusion)) for name, fusion in SINGLE.items()}
        floors.append({key: max(m[key] for m in singles.values()) for key in ("R@1", "R@5")})
        print(
            f"{run.corpus.name} ({len(run.queries)}): "
            + ", ".join(f"{name} {m['R@1']:.3f} / {m['R@5']:.3f} / {m['MRR']:.3f}" for name, m in singles.items())
        )
    print("\nR@1 / R@5 / MRR per dense weight; margin: R@1 + R@5 over the better single retriever, in queries")
    print("| dense weight | " + " | ".join(r.corpus.name for r in runs) + " | summed margin |")
    print("|---:" + "|---" * len(runs) + "|---:|")
    for step in range(12, 25):
        weight = round(step * 0.025, 3)
        config = replace(RetrievalConfig(), fusion_cross_bilingual=[weight, round(1 - weight, 3)])
        cells, margin = [], 0.0
        for run, floor in zip(runs, floors, strict=True):
            m = scores(run, rankings(run, config.fuse))
            margin += sum((m[key] - floor[key]) * m["n"] for key in ("R@1", "R@5"))
            cells.append(f"{m['R@1']:.3f} / {m['R@5']:.3f} / {m['MRR']:.3f}")
        print(f"| {weight:.3f} | " + " | ".join(cells) + f" | {margin:+.1f} |")


if __name__ == "__main__":
    main()
