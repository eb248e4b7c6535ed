"""Conversational-act benchmark: requests for a person, legal threats and small talk, found by the hand-written
rules alone and by the rules with the learned model (``graph.rails.acts``), per act and language; and how many real
customer messages each takes for an act (each such message would have been handed off or answered "You're
welcome!" instead of answered).

Run from the project root::

    python benchmarks/acts.py [--shared ../shared/datasets] [--weights data/rails/acts.npz] [--misses N]

Nothing here was fitted on: ``data/dialogue/dev*.jsonl`` (written apart from the training files, in other words;
one table each), the turns of ``benchmarks/conversations_dev.jsonl`` that expect small talk, a hand-off or an answer
(the val split is left to ``benchmarks/conversations.py``), the queries of ``data/eval/retrieval.jsonl`` and
``data/eval/qa.jsonl`` (es and en), and, when ``--shared`` has them, Banking77 train odd rows, Bitext odd rows,
CLINC150 val and NLU++. An act counts as found when the message gets that route: a hand-off (for ``handoff`` and
``legal``) or small talk of any kind (for the four small-talk acts). Prints tables, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from graph.rails.acts import SMALL_TALK, Acts, escalation, shipped_acts, small_talk  # noqa: E402
from graph.rails.classifier import InputRailModel  # noqa: E402
from graph.rails.escalation import check_escalation  # noqa: E402
from graph.rails.fit_acts import real_messages, written, written_paths  # noqa: E402
from graph.smalltalk import smalltalk  # noqa: E402

Row = tuple[str, str, str]  # text, act, lang


def routes(texts: list[str], acts: Acts | None) -> list[str]:
    """The route each text takes before retrieval: ``handoff``, ``smalltalk`` or ``none`` (``acts`` None: the rules
    alone)."""
    if acts is None:
        return ["handoff" if check_escalation(t)["handoff"] else "smalltalk" if smalltalk(t) else "none"
                for t in texts]  # fmt: skip
    out = []
    for text, act in zip(texts, acts.read_many(texts), strict=True):
        if escalation(text, act)["handoff"]:
            out.append("handoff")
        else:
            out.append("smalltalk" if small_talk(text, act) else "none")
    return out


def expected(act: str) -> str:
    return "handoff" if act in ("handoff", "legal") else "smalltalk" if act in (*SMALL_TALK, "small_talk") else "none"


def rate(values: list[bool]) -> str:
    return f"{np.mean(values):.3f} ({len(values)})" if values else "-"


def conversation_rows(split: str) -> list[Row]:
    """The turns of ``benchmarks/data/conversations_{split}.jsonl`` with the route they expect, as rows."""
    rows = []
    for line in (ROOT / "benchmarks" / "data" / f"conversations_{split}.jsonl").read_text().splitlines():
        record = json.loads(line)
        for turn in record["turns"]:
            act = {"smalltalk": "small_talk", "handoff": "handoff"}.get(turn["expect"], "none")
            rows.append((turn["user"], act, record["lang"]))
    return rows


def eval_rows() -> list[Row]:
    """The customer questions of ``data/eval`` (retrieval queries and QA questions, both splits): all ``none``."""
    rows = []
    for name, key in (("retrieval.jsonl", "query"), ("qa.jsonl", "question")):
        for line in (ROOT / "data" / "eval" / name).read_text().splitlines():
            record = json.loads(line)
            rows.append((record[key], "none", record["lang"]))
    return rows


def table(title: str, rows: list[Row], found: dict[str, list[str]], misses: int) -> None:
    """Per act and language: the share routed as the act expects, by the rules and by rules + model."""
    print(f"\n{title}\n\n| act | lang | rules | rules + model |\n|---|---|---:|---:|")
    for act in sorted({a for _, a, _ in rows}, key=lambda a: (a == "none", a)):
        for lang in ("es", "en"):
            pick = [i for i, (_, a, x) in enumerate(rows) if a == act and x == lang]
            if pick:
                cells = [rate([found[k][i] == expected(act) for i in pick]) for k in ("rules", "model")]
                print(f"| {act} | {lang} | {cells[0]} | {cells[1]} |")
    wrong = [(rows[i], found["model"][i]) for i in range(len(rows)) if found["model"][i] != expected(rows[i][1])]
    for (text, act, lang), route in wrong[:misses]:
        print(f"  miss [{lang}] {act} -> {route}: {text}")


def real_table(sets: dict[str, list[Row]], run: Callable[[list[str], Acts | None], list[str]], acts: Acts,
               misses: int) -> None:  # fmt: skip
    """Real customer messages (all ``none``): the share taken for an act."""
    print("\nReal customer messages taken for an act (lower is better)\n\n| set | n | rules | rules + model |")
    print("|---|---:|---:|---:|")
    for name, rows in sets.items():
        texts = [t for t, _, _ in rows]
        rules, model = run(texts, None), run(texts, acts)
        print(f"| {name} | {len(rows)} | {np.mean([r != 'none' for r in rules]):.4f} | "
              f"{np.mean([r != 'none' for r in model]):.4f} |")  # fmt: skip
        for text, route in [(t, r) for t, r in zip(texts, model, strict=True) if r != "none"][:misses]:
            print(f"  taken [{name}] {route}: {text}")


def main() -> None:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--weights", type=Path, default=None, help="an act model (default: the shipped one)")
    parser.add_argument("--misses", type=int, default=0, help="print this many misrouted messages per table")
    args = parser.parse_args()
    acts = Acts(InputRailModel.load(args.weights)) if args.weights else shipped_acts()
    print(f"thresholds: {acts.model.thresholds}")
    dev = [(f"data/dialogue/{path.name}", written("dev", [path])) for path in written_paths("dev")]
    for title, rows in [*dev, ("benchmarks/data/conversations_dev.jsonl turns", conversation_rows("dev"))]:
        texts = [t for t, _, _ in rows]
        table(title, rows, {"rules": routes(texts, None), "model": routes(texts, acts)}, args.misses)
    real: dict[str, Any] = {"data/eval questions (es, en)": eval_rows()}
    for name, rows in real_messages(args.shared, "report").items():
        real[name] = [r for r in rows if r[1] == "none"]
        if name == "clinc150_acts":
            table("CLINC150 val greeting, goodbye, thank_you, are_you_a_bot, what_can_i_ask_you (en)", rows,
                  {"rules": routes([t for t, _, _ in rows], None), "model": routes([t for t, _, _ in rows], acts)},
                  args.misses)  # fmt: skip
    real_table({k: v for k, v in real.items() if v}, routes, acts, args.misses)


if __name__ == "__main__":
    main()
