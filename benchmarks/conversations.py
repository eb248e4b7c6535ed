"""Multi-turn conversations with the demo store, scored turn by turn: route, article and the facts of the answer.

Run from the project root::

    python benchmarks/conversations.py [--split dev|val] [--mode rag|hybrid] [--model DIR] [--index DIR]
        [--out TURNS.jsonl]

``benchmarks/data/conversations_{dev,val}.jsonl`` (40 conversations each, 20 es / 20 en, 2-4 turns) were written
for this benchmark by an author who had not seen the chat's answers nor ``data/eval``: questions, follow-ups that
only make sense in context ("y a canarias?"), topic changes, small talk, hand-off requests and off-topic turns. Each
turn says the route it should take; a question says the article(s) that answer it and one or two facts a right
answer states, each a list of wordings copied from the article ("7-10 días"). Each conversation is one session of
the chat service, so follow-ups are resolved as a customer's would be. The dev split is for working on the chat;
the val split is for reporting.

Columns, per language and overall, for all turns, first turns and later turns: route accuracy; for the turns that
should be answered, the share answered, the share whose first retrieved passage is from a gold article, the share
whose first cited source is, and fact recall (the share of facts whose wording, accents and case aside, the answer
contains). Prints tables, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# This folder holds graph.py: drop it from the import path so that `import graph` finds the package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
ROOT = _HERE.parent
sys.path.insert(0, str(ROOT))

from retrieval.language import strip_accents  # noqa: E402

ROUTES = {"answered": {"answered"}, "smalltalk": {"smalltalk"}, "handoff": {"handoff", "human"},
          "out_of_scope": {"out_of_scope", "refused"}}  # fmt: skip


def fold(text: str) -> str:
    """Lower case, no accents, no citations, one space (how facts are matched)."""
    text = re.sub(r"\[\d+\]", " ", strip_accents(text.lower().replace("\u00a0", " ")))
    return " ".join(text.split())


def score_turn(turn: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """The scores of one turn's result against what it expects."""
    expect = turn["expect"]
    row: dict[str, Any] = {"expect": expect, "route": result.get("route"),
                           "route_ok": result.get("route") in ROUTES[expect]}  # fmt: skip
    if expect == "answered":
        sources = [s.get("doc_id") for s in result.get("sources") or []]
        shown = [s.get("doc_id") for s in result.get("shown") or result.get("sources") or []]
        answer = fold(result.get("answer") or "")
        found = [any(fold(alt) in answer for alt in fact) for fact in turn["facts"]]
        row.update(answered=result.get("route") == "answered",
                   gold_first=bool(sources) and sources[0] in turn["gold_ids"],
                   retrieved_first=bool(shown) and shown[0] in turn["gold_ids"],
                   facts=sum(found) / len(found) if found else None, sources=sources[:3])  # fmt: skip
    return row


def run(conversations: list[dict[str, Any]], index: Path, mode: str, home: Path, model: Path | None = None
        ) -> list[dict[str, Any]]:  # fmt: skip
    """Every conversation through a fresh chat service (one session each); one scored row per turn."""
    from graph.config import CHECKPOINT_FILE, STORE_FILE, GraphConfig
    from graph.service import ChatService

    rows = []
    with tempfile.TemporaryDirectory(prefix="conversations-") as work:
        llm = {"generator": "hf", "model_dir": model} if mode == "hybrid" else {}
        config = GraphConfig(index_dir=index, checkpoint_db=Path(work) / CHECKPOINT_FILE,
                             store_db=Path(work) / STORE_FILE, cache_dir=home, **llm)  # fmt: skip
        service = ChatService(config)
        for n, conversation in enumerate(conversations, start=1):
            for position, turn in enumerate(conversation["turns"]):
                result = service.chat(turn["user"], session_id=conversation["id"], mode=mode)
                row = score_turn(turn, result)
                row.update(id=conversation["id"], lang=conversation["lang"], position=position, user=turn["user"],
                           answer=result.get("answer"), query=result.get("query"))  # fmt: skip
                rows.append(row)
            if n % 10 == 0:
                print(f"  {n}/{len(conversations)} conversations", file=sys.stderr, flush=True)
    return rows


def _mean(values: list[Any]) -> str:
    values = [float(v) for v in values if v is not None]
    return f"{sum(values) / len(values):.3f}" if values else "-"


def table(rows: list[dict[str, Any]]) -> None:
    """Per language and overall, for all, first and later turns."""
    print("\n| lang | turns | n | route accuracy | questions | answered | gold article retrieved first | cited first "
          "| fact recall |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for lang in ("all", "es", "en"):
        for part, keep in (("all", lambda r: True), ("first", lambda r: r["position"] == 0),
                           ("later", lambda r: r["position"] > 0)):  # fmt: skip
            mine = [r for r in rows if (lang == "all" or r["lang"] == lang) and keep(r)]
            asked = [r for r in mine if r["expect"] == "answered"]
            print(f"| {lang} | {part} | {len(mine)} | {_mean([r['route_ok'] for r in mine])} | {len(asked)} | "
                  f"{_mean([r['answered'] for r in asked])} | {_mean([r['retrieved_first'] for r in asked])} | "
                  f"{_mean([r['gold_first'] for r in asked])} | "
                  f"{_mean([r['facts'] for r in asked])} |")  # fmt: skip
    print("\n| expected route | n | right route | taken instead |")
    print("|---|---:|---:|---|")
    for expect in ROUTES:
        mine = [r for r in rows if r["expect"] == expect]
        wrong: dict[str, int] = {}
        for r in mine:
            if not r["route_ok"]:
                wrong[str(r["route"])] = wrong.get(str(r["route"]), 0) + 1
        print(f"| {expect} | {len(mine)} | {_mean([r['route_ok'] for r in mine])} | "
              f"{', '.join(f'{k} {v}' for k, v in sorted(wrong.items())) or '-'} |")  # fmt: skip


def main() -> None:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev", choices=["dev", "val"])
    parser.add_argument("--mode", default="rag", choices=["rag", "hybrid"])
    parser.add_argument("--index", type=Path, default=ROOT / ".supportbot" / "index")
    parser.add_argument("--home", type=Path, default=ROOT / ".supportbot")
    parser.add_argument("--model", type=Path, default=ROOT / "data" / "models" / "gemma-270m-support",
                        help="The adapter of the hybrid mode (default: the shipped one).")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="Write every turn's scores and answer here (JSONL).")
    args = parser.parse_args()
    path = _HERE / "data" / f"conversations_{args.split}.jsonl"
    conversations = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    started = time.perf_counter()
    rows = run(conversations, args.index, args.mode, args.home, args.model)
    print(f"{path.name}: {len(conversations)} conversations, {len(rows)} turns, mode {args.mode}, "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    table(rows)
    if args.out:
        args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


if __name__ == "__main__":
    main()
