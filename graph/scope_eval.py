"""Measure the scope rail: out-of-scope recall and in-scope false refusals, per language and data set.

``python -m graph.scope_eval --index DIR [--split dev|test] [--clinc PATH]`` prints a JSON report. In-scope
queries are the bundled ``data/eval/retrieval.jsonl`` queries and the ``in_scope`` records of
``data/eval/out_of_scope.jsonl``; out-of-scope queries are the other ``out_of_scope.jsonl`` records and, when the
CLINC150 file is given, its ``oos_val`` queries plus the ``val`` queries of intents outside a store's support
domain (the intents the shipped training sample leaves out as ambiguous are left out here too).
"""

from __future__ import annotations

import argparse
import gzip
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from graph.scope import DATA, ScopeModel

# CLINC150 intents a store's support bot may legitimately serve, or that are chit-chat about the bot itself.
AMBIGUOUS_INTENTS = frozenset(
    [
        "order_status",
        "order",
        "account_blocked",
        "card_declined",
        "cancel",
        "redeem_rewards",
        "rewards_balance",
        "greeting",
        "goodbye",
        "thank_you",
        "yes",
        "no",
        "maybe",
        "repeat",
        "are_you_a_bot",
        "what_can_i_ask_you",
        "who_do_you_work_for",
        "what_is_your_name",
        "who_made_you",
        "change_language",
        "report_fraud",
        "user_name",
        "change_user_name",
        "what_are_your_hobbies",
        "how_old_are_you",
        "where_are_you_from",
        "do_you_have_pets",
        "meaning_of_life",
        "change_ai_name",
        "change_accent",
        "change_speed",
        "change_volume",
        "whisper_mode",
        "reset_settings",
        "sync_device",
    ]
)


def eval_sets(split: str, clinc: Path | None = None) -> dict[str, list[tuple[str, str, bool]]]:
    """Named sets of (text, lang, in_scope)."""
    sets: dict[str, list[tuple[str, str, bool]]] = {}
    for line in (DATA / "eval" / "retrieval.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if r["split"] == split:
            sets.setdefault(f"retrieval_{r['lang']}", []).append((r["query"], r["lang"], True))
    for line in (DATA / "eval" / "out_of_scope.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if r["split"] == split:
            sets.setdefault(f"oos_file_{r['lang']}", []).append((r["text"], r["lang"], bool(r["in_scope"])))
    if clinc is not None:
        with gzip.open(clinc) as handle:
            data = json.loads(handle.read())
        sets["clinc_val_en"] = [(t, "en", False) for t, _ in data["oos_val"]]
        sets["clinc_val_en"] += [(t, "en", False) for t, i in data["val"] if i not in AMBIGUOUS_INTENTS]
    return sets


def evaluate(
    model: ScopeModel,
    encode: Callable[[list[str]], np.ndarray],
    sets: dict[str, list[tuple[str, str, bool]]],
    thresholds: dict[str, float] | None = None,
) -> dict[str, Any]:
    """OOS recall and in-scope false-refusal rate of each set and language, at the model's thresholds."""
    report: dict[str, Any] = {"thresholds": thresholds or model.thresholds, "sets": {}}
    pooled: dict[str, list[tuple[bool, bool]]] = {}
    for name, rows in sets.items():
        texts = [t for t, _, _ in rows]
        vectors = encode(texts)
        accepted = model.decide(vectors, texts, [lang for _, lang, _ in rows], thresholds)
        decided = [(label, bool(a)) for (_, _, label), a in zip(rows, accepted, strict=True)]
        report["sets"][name] = _rates(decided)
        lang = rows[0][1] if rows else "en"
        pooled.setdefault(lang, []).extend(decided)
    report["per_language"] = {lang: _rates(rows) for lang, rows in pooled.items()}
    return report


def _rates(decided: Sequence[tuple[bool, bool]]) -> dict[str, Any]:
    inside = [d for label, d in decided if label]
    outside = [d for label, d in decided if not label]
    return {
        "in_scope": len(inside),
        "false_refusal": round(1 - sum(inside) / len(inside), 4) if inside else None,
        "out_of_scope": len(outside),
        "oos_recall": round(1 - sum(outside) / len(outside), 4) if outside else None,
    }


def main() -> None:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--split", default="dev", choices=["dev", "test"])
    parser.add_argument("--clinc", type=Path, default=None)
    parser.add_argument("--cache-dir", type=Path, default=Path(".supportbot"))
    args = parser.parse_args()
    from graph.scope import load_or_fit
    from retrieval.embeddings import load_embedder
    from retrieval.store import read_version

    data = read_version(args.index, with_search=False)
    embedder = load_embedder(data.manifest["embedder"], data.manifest.get("embedder_backend", "auto"), args.cache_dir)
    model = load_or_fit(args.index, data, embedder.encode, embedder.name, args.cache_dir)
    report = evaluate(model, embedder.encode, eval_sets(args.split, args.clinc))
    report["fit"] = model.meta
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
