"""The data card of a prepared folder: ``data_card.json`` (machine-readable), ``data_card.md`` and ``plots/``."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from finetune.prepare.config import Prepared
from finetune.prepare.splits import SPLITS


def _table(counter: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
    return {k: dict(sorted(v.items())) for k, v in sorted(counter.items())}


def _histogram(values: Sequence[int], bins: Sequence[int]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for value in values:
        upper = next((b for b in bins if value <= b), None)
        counts[f"<= {upper}" if upper is not None else f"> {bins[-1]}"] += 1
    labels = [f"<= {b}" for b in bins] + [f"> {bins[-1]}"]
    return {label: counts[label] for label in labels if counts[label]}


def _plot(path: Path, data: dict[str, list[int]], title: str, xlabel: str, log: bool = False) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    fig, ax = plt.subplots(figsize=(7, 4))
    values = [v for vs in data.values() for v in vs]
    bins: Any = 30
    if log and values:
        import numpy as np

        bins = np.logspace(np.log10(max(1, min(values))), np.log10(max(values) + 1), 30)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())  # 1000, not 10^3
    elif values and max(values) - min(values) <= 60:  # counts (turns): one bar per value, centred on it
        bins = [v - 0.5 for v in range(min(values), max(values) + 2)]
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.hist(list(data.values()), bins=bins, label=list(data.keys()), stacked=True)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("conversations")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _size(record: dict[str, Any]) -> tuple[int, int]:
    """Turns and characters of a record's conversation (system prompt left out)."""
    body = [m for m in record["messages"] if m["role"] != "system"]
    return len(body), sum(len(m["content"]) for m in body)


def build_card(prepared: Prepared) -> dict[str, Any]:
    """The card's content (everything but the plots)."""
    records, splits, raft_examples = prepared.records, prepared.splits, prepared.raft_examples
    summary, config = prepared.summary, prepared.config
    by: dict[str, dict[str, Counter[str]]] = {"source": {}, "lang": {}, "intent": {}}
    for record in records:
        split = splits[record["id"]]
        keys = {"source": record["source"], "lang": record["lang"], "intent": record["meta"].get("intent") or "(none)"}
        for dimension, key in keys.items():
            by[dimension].setdefault(str(key), Counter())[split] += 1
    turns, chars = [_size(r)[0] for r in records], [_size(r)[1] for r in records]
    raft: dict[str, Any] = {
        split: {
            "examples": sum(1 for e in raft_examples if e["split"] == split),
            "oracle_present": sum(1 for e in raft_examples if e["split"] == split and e["oracle_present"]),
            "lang": dict(Counter(e["lang"] for e in raft_examples if e["split"] == split)),
        }
        for split in SPLITS
    }
    return {
        "conversations": len(records),
        "splits": summary["splits"],
        "read_per_source": summary["read"],
        "per_source": _table(by["source"]),
        "per_language": _table(by["lang"]),
        "per_intent": _table(by["intent"]),
        "dropped": summary["dropped"],
        "turn_cleaning": summary["turns"],
        "pii_per_type": summary["pii"],
        "template_slots": summary["slots"],
        "duplicates": summary["duplicates"],
        "split_units": summary["split_units"],
        "lengths": {
            "turns_per_conversation": _histogram(turns, [2, 4, 6, 10, 16, 20]),
            "chars_per_conversation": _histogram(chars, [200, 500, 1000, 2000, 4000, 8000]),
        },
        "raft": {**summary["raft_details"], "per_split": raft},
        "examples_before_after_cleaning": list(prepared.examples),
        "config": {k: v for k, v in json.loads(json.dumps(config.__dict__, default=str)).items()},
    }


def _md_table(title: str, rows: dict[str, dict[str, int]]) -> list[str]:
    lines = [f"| {title} | " + " | ".join(SPLITS) + " | total |", "|---|" + "---:|" * (len(SPLITS) + 1)]
    for key, per_split in rows.items():
        cells = [per_split.get(s, 0) for s in SPLITS]
        lines.append(f"| {key} | " + " | ".join(str(c) for c in cells) + f" | {sum(cells)} |")
    return lines


def render_markdown(card: dict[str, Any]) -> str:
    """The card as markdown."""
    lines = ["# Data card", "", f"{card['conversations']} conversations: " +
             ", ".join(f"{s} {n}" for s, n in card["splits"].items()) + ".", "",
             "Chat JSONL per split (`train.jsonl`, `val.jsonl`, `test.jsonl`) and RAFT examples "
             "(`raft_*.jsonl`); see docs/finetune-data.md for how they were made.", ""]  # fmt: skip
    lines += ["## Counts", "", "Read per source: " + ", ".join(f"{k} {v}" for k, v in card["read_per_source"].items()),
              ""]  # fmt: skip
    lines += [*_md_table("source", card["per_source"]), "", *_md_table("language", card["per_language"]), ""]
    intents = dict(sorted(card["per_intent"].items(), key=lambda kv: -sum(kv[1].values()))[:40])
    lines += [*_md_table("intent (top 40)", intents), ""]
    lines += ["## Dropped", "", "| reason | conversations |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in card["dropped"].items()] + [""]
    lines += ["Turn-level cleaning: " + (", ".join(f"{k} {v}" for k, v in card["turn_cleaning"].items()) or "none"), ""]
    dup, units = card["duplicates"], card["split_units"]
    lines += ["## Duplicates", "", f"{dup['dropped']} conversations dropped as duplicates (Jaccard >= "
              f"{dup['threshold']}, exact included) in {dup['clusters']} clusters; pairs by kind: {dup['pairs']}. "
              f"Near duplicates from Jaccard {units['threshold']} and conversations of one group are "
              f"kept in one split ({units['multi_member_units']} multi-conversation units).", ""]  # fmt: skip
    lines += ["## PII redacted", "", "| type | entities |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in card["pii_per_type"].items()] + [""]
    lines += ["Bitext template slots: " + (", ".join(f"{k} {v}" for k, v in card["template_slots"].items()) or "none"),
              ""]  # fmt: skip
    lengths = {name: ", ".join(f"{k}: {v}" for k, v in hist.items()) for name, hist in card["lengths"].items()}
    lines += ["## Lengths", "", "![turns](plots/turns_per_conversation.png)", "",
              "![characters](plots/chars_per_conversation.png)", "",
              f"Turns per conversation: {lengths['turns_per_conversation']}", "",
              f"Characters per conversation: {lengths['chars_per_conversation']}", ""]  # fmt: skip
    raft = card["raft"]
    lines += ["## RAFT examples", ""]
    if raft.get("enabled"):
        lines += [f"k = {raft['k']} passages, oracle present in P = {raft['oracle_fraction']} of examples, answer "
                  f"without the oracle: {raft['no_oracle_answer']}; answer with it: {raft.get('answer', 'reference')}; "
                  f"questions by origin {raft['questions']}; "
                  f"{raft['eval_leaks_dropped']} dropped as evaluation questions.", "",
                  "| split | examples | oracle present | languages |", "|---|---:|---:|---|"]  # fmt: skip
        lines += [
            f"| {s} | {v['examples']} | {v['oracle_present']} | {v['lang']} |" for s, v in raft["per_split"].items()
        ]
    else:
        lines += ["Not made (RAFT disabled)."]
    lines += [
        "",
        "## Examples before and after cleaning",
        "",
        '"Before" is the raw input with only its PII redacted.',
        "",
    ]
    for example in card["examples_before_after_cleaning"]:
        lines += [f"### {example['id']} ({example['source']})", "", "Before:", ""]
        lines += [f"> **{m['role']}**: " + m["content"].replace("\n", " ") for m in example["before"]] + [
            "",
            "After:",
            "",
        ]
        lines += [f"> **{m['role']}**: " + m["content"].replace("\n", " ") for m in example["after"]] + [""]
    return "\n".join(lines) + "\n"


def write_card(folder: Path, prepared: Prepared) -> None:
    """Write ``data_card.json``, ``data_card.md`` and the length histograms into ``folder``."""
    card = build_card(prepared)
    (folder / "plots").mkdir(exist_ok=True)
    turns: dict[str, list[int]] = {s: [] for s in SPLITS}
    chars: dict[str, list[int]] = {s: [] for s in SPLITS}
    for record in prepared.records:
        split = prepared.splits[record["id"]]
        turns[split].append(_size(record)[0])
        chars[split].append(_size(record)[1])
    _plot(folder / "plots" / "turns_per_conversation.png", turns, "Turns per conversation", "user + assistant turns")
    _plot(folder / "plots" / "chars_per_conversation.png", chars, "Characters per conversation", "characters", log=True)
    (folder / "data_card.json").write_text(json.dumps(card, ensure_ascii=False, indent=2), encoding="utf-8")
    (folder / "data_card.md").write_text(render_markdown(card), encoding="utf-8")
