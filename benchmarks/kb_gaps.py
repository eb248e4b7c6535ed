"""Knowledge gaps: does the chat admit what its knowledge base does not say, instead of answering from an article
that is only near the question?

Run from the project root::

    python benchmarks/kb_gaps.py [--split dev|test] [--folds 4] [--misses N] [--out ROWS.jsonl]

The demo store's 64 topics (an article, its translation and their deliberate variants) are dealt into ``--folds``
groups (seeded). For each group, the knowledge base without it is indexed into a temporary folder (the scope rail is
fitted on that index, as a deployment's would be) and the retrieval queries of ``data/eval/retrieval.jsonl`` (the
split asked) whose every gold article is in the group are asked: real customer questions, in both languages and
every style, about something this knowledge base does not cover. The right outcome is any reply that does not
answer from the knowledge base (a hand-off for lack of an answer, or the out-of-scope reply); an answer is a
wrong answer. The same queries are also asked of the whole knowledge base (the bundled index, ``--index``), where
they are covered and the right outcome is an answer: the price of admitting gaps is covered questions left
unanswered.

Prints, per language and overall: the gap questions and the share of them answered anyway (lower is better), the
routes they took, and the covered questions answered (higher is better). Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

# This folder holds graph.py: drop it from the import path so that `import graph` finds the package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
ROOT = _HERE.parent
sys.path.insert(0, str(ROOT))

KB = ROOT / "data" / "kb"


def topics(articles: list[dict[str, Any]]) -> dict[str, str]:
    """Article id -> its topic (the smallest id among itself, its translation and what it is a variant of)."""
    parent = {a["id"]: a["id"] for a in articles}

    def find(x: str) -> str:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for a in articles:
        for other in (a.get("translation_of"), a.get("variant_of")):
            if other in parent:
                x, y = find(a["id"]), find(other)
                parent[max(x, y)] = min(x, y)
    return {a["id"]: find(a["id"]) for a in articles}


def chat_rows(index: Path, queries: list[dict[str, Any]], home: Path, kind: str) -> list[dict[str, Any]]:
    """Each query through a fresh session of a chat service over ``index``; one row each."""
    from graph.config import CHECKPOINT_FILE, STORE_FILE, GraphConfig
    from graph.service import ChatService

    rows = []
    with tempfile.TemporaryDirectory(prefix="kb-gaps-chat-") as work:
        config = GraphConfig(index_dir=index, checkpoint_db=Path(work) / CHECKPOINT_FILE,
                             store_db=Path(work) / STORE_FILE, cache_dir=home)  # fmt: skip
        service = ChatService(config)
        try:
            for n, q in enumerate(queries):
                result = service.chat(q["query"], session_id=f"{kind}-{n}")
                sources = [s.get("doc_id") for s in result.get("sources") or []]
                rows.append({"id": q["id"], "lang": q["lang"], "style": q["style"], "kind": kind,
                             "query": q["query"], "route": result.get("route"), "reason": result.get("reason"),
                             "relevance": (result.get("guardrails") or {}).get("relevance", {}).get("score"),
                             "sources": sources[:3], "answer": result.get("answer")})  # fmt: skip
        finally:
            service.close()
    return rows


def _share(rows: list[dict[str, Any]], answered: bool) -> str:
    if not rows:
        return "-"
    return f"{sum((r['route'] == 'answered') == answered for r in rows) / len(rows):.3f}"


def table(rows: list[dict[str, Any]]) -> None:
    """Per language and overall."""
    print("\n| lang | gap questions | answered anyway (lower is better) | routes of the gap questions "
          "| covered questions | answered (higher is better) |")  # fmt: skip
    print("|---|---:|---:|---|---:|---:|")
    for lang in ("all", "es", "en"):
        mine = [r for r in rows if lang == "all" or r["lang"] == lang]
        gaps = [r for r in mine if r["kind"] == "gap"]
        covered = [r for r in mine if r["kind"] == "covered"]
        routes = Counter(f"{r['route']}" + (f"/{r['reason']}" if r["route"] == "handoff" else "") for r in gaps)
        print(f"| {lang} | {len(gaps)} | {_share(gaps, True)} | "
              f"{', '.join(f'{k} {v}' for k, v in routes.most_common())} | {len(covered)} | "
              f"{_share(covered, True)} |")  # fmt: skip


def main() -> None:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev", choices=["dev", "test"])
    parser.add_argument("--folds", type=int, default=4, help="groups of topics left out in turn")
    parser.add_argument("--index", type=Path, default=ROOT / ".supportbot" / "index",
                        help="the whole bundled knowledge base, indexed (the covered side)")  # fmt: skip
    parser.add_argument("--home", type=Path, default=ROOT / ".supportbot", help="data home (embedding caches)")
    parser.add_argument("--misses", type=int, default=0, help="print this many gap questions answered anyway")
    parser.add_argument("--out", type=Path, default=None, help="write every row (JSONL)")
    args = parser.parse_args()
    from retrieval.ingest import ingest

    articles = [json.loads(line) for f in sorted(KB.glob("*.jsonl")) for line in f.read_text().splitlines()
                if line.strip()]  # fmt: skip
    topic_of = topics(articles)
    names = sorted(set(topic_of.values()))
    random.Random(11).shuffle(names)
    group = {t: i % args.folds for i, t in enumerate(names)}
    records = [json.loads(line) for line in (ROOT / "data" / "eval" / "retrieval.jsonl").read_text().splitlines()]
    queries = [r for r in records if r["split"] == args.split]
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for k in range(args.folds):
        out = {a["id"] for a in articles if group[topic_of[a["id"]]] == k}
        asked = [q for q in queries if q["gold_ids"] and all(g in out for g in q["gold_ids"])]
        with tempfile.TemporaryDirectory(prefix="kb-gaps-") as work:
            source = Path(work) / "kb.jsonl"
            source.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles
                                      if a["id"] not in out))  # fmt: skip
            ingest([source], Path(work) / "index", cache_dir=args.home)
            rows += chat_rows(Path(work) / "index", asked, args.home, "gap")
        print(f"fold {k + 1}/{args.folds}: {len(out)} articles left out, {len(asked)} gap questions "
              f"({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)  # fmt: skip
    rows += chat_rows(args.index, queries, args.home, "covered")
    print(f"retrieval.jsonl {args.split}: {len(queries)} queries, {args.folds} folds, "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    table(rows)
    if args.misses:
        wrong = [r for r in rows if r["kind"] == "gap" and r["route"] == "answered"]
        print(f"\nGap questions answered anyway (first {args.misses} of {len(wrong)}):")
        for r in wrong[: args.misses]:
            print(f"  [{r['lang']}] {r['query']!r} -> {r['sources']} relevance {r['relevance']}")
    if args.out:
        args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


if __name__ == "__main__":
    main()
