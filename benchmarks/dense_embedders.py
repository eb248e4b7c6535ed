"""Dense retrieval alone, the bundled English MiniLM against Google's USE multilingual v3 (the input rails' encoder),
on the demo store: R@1 / R@5 per query language on the dev split of data/eval/retrieval.jsonl, within the query's
language and across languages (the query against the other language's articles only, gold mapped to the twin).

Run from the project root after ``supportbot kb ingest data/kb --index .supportbot/index``::

    python benchmarks/dense_embedders.py [--index .supportbot/index] [--split dev]

A measurement for choosing a dense retriever per language (docs/retrieval.md), not the search path: both rankings
are exact cosine over the index's chunks (article titles prefixed, duplicates left out), one best chunk per article.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from retrieval import multilingual
from retrieval.embeddings import load_embedder
from retrieval.ingest import embed_text
from retrieval.store import read_version


def unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)


def ranked_articles(scores: np.ndarray, docs: list[str], allowed: np.ndarray, k: int = 5) -> list[str]:
    out: list[str] = []
    for i in np.argsort(-np.where(allowed, scores, -np.inf)):
        if not allowed[i]:
            break
        if docs[i] not in out:
            out.append(docs[i])
        if len(out) == k:
            break
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=Path(".supportbot/index"))
    parser.add_argument("--queries", type=Path, default=Path("data/eval/retrieval.jsonl"))
    parser.add_argument("--split", default="dev")
    args = parser.parse_args()
    data = read_version(args.index, with_search=False)
    documents = data.documents
    keep = [i for i, d in enumerate(data.chunk_doc_ids) if not documents[d].duplicate_of]
    docs = [data.chunk_doc_ids[i] for i in keep]
    langs = np.array([data.chunk_langs[i] for i in keep])
    texts = [embed_text(documents[d].title, data.chunk_texts[i]) for d, i in zip(docs, keep, strict=True)]
    twin = {d.id: d.translation_of for d in documents.values() if d.translation_of}
    twin |= {v: k for k, v in list(twin.items())}
    rows = [json.loads(line) for line in args.queries.open(encoding="utf-8")]
    rows = [r for r in rows if r.get("split") == args.split and r.get("lang") in ("en", "es")]
    queries = [r.get("query") or r.get("text") for r in rows]
    minilm = load_embedder()
    encoders = {"MiniLM (bundled)": minilm.encode, "USE multilingual v3": multilingual.encode}
    print(f"# dense retrieval alone · {len(keep)} chunks · {len(rows)} {args.split} queries\n")
    print("| embedder | queries -> articles | n | R@1 | R@5 |")
    print("|---|---|---:|---:|---:|")
    for name, encode in encoders.items():
        chunks = unit(encode(texts))
        scores = unit(encode(queries)) @ chunks.T
        for qlang in ("en", "es"):
            for cross in (False, True):
                target = ("es" if qlang == "en" else "en") if cross else qlang
                hits1 = hits5 = n = 0
                for row, score in zip(rows, scores, strict=True):
                    if row["lang"] != qlang:
                        continue
                    gold = {twin.get(g, g) for g in row["gold_ids"]} if cross else set(row["gold_ids"])
                    top = ranked_articles(score, docs, langs == target)
                    hits1 += bool(gold & set(top[:1]))
                    hits5 += bool(gold & set(top))
                    n += 1
                print(f"| {name} | {qlang} -> {target} | {n} | {hits1 / n:.3f} | {hits5 / n:.3f} |")


if __name__ == "__main__":
    main()
