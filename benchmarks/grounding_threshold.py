"""Sweep the groundedness threshold (graph.rails.grounding.SUPPORT_THRESHOLD) on the QA dev split and print a table.

Per language, for each threshold: the share of reference-answer sentences that pass against their gold article
(they are written from it, so they should pass), of another topic's reference sentences that pass against the same
article (they should not), and of reference sentences with a negation inserted ("is" -> "is not", "es" -> "no es";
they should not), and of reference sentences that name a place or brand no article names (", also in Canada";
they should not). Only the dev split is read unless --split says otherwise; test numbers are never tuned on.

Run: python benchmarks/grounding_threshold.py [--split dev] [--examples]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

# benchmarks/retrieval.py would shadow the retrieval package when this file is run as a script
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from graph.rails.grounding import (  # noqa: E402
    SUPPORT_THRESHOLD,
    Passages,
    carries_claim,
    claim_stems,
    sentence_support,
)
from retrieval.text import sentences  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "data"
NEGATE = {
    "en": [(" is ", " is not "), (" are ", " are not "), (" can ", " cannot "), (" will ", " will not ")],
    "es": [(" es ", " no es "), (" son ", " no son "), (" puedes ", " no puedes "), (" puede ", " no puede "),
           (" tiene ", " no tiene ")],
}  # fmt: skip
ELSEWHERE = {"en": ", also in {}.", "es": ", también en {}."}
PLACES = ("Canada", "Japan", "Bitcoin", "PayPal", "Amazon", "Australia")  # named by no article
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


def _score(sentence: str, passages: Passages, lang: str) -> float | None:
    claim = claim_stems(sentence, lang)
    if not carries_claim(claim):  # no claim: the rail skips it
        return None
    return max((sentence_support(claim, s) for s in passages.stems), default=0.0)


def negated(sentence: str, lang: str) -> str | None:
    """The sentence with its first verb negated, or None when no pattern applies (or it is already negative)."""
    padded = f" {sentence} "
    if any(cue in padded.lower() for cue in (" not ", " no ", "n't ", " never ", " nunca ")):
        return None
    for old, new in NEGATE[lang]:
        if old in padded:
            return padded.replace(old, new, 1).strip()
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev", choices=["dev", "test"])
    parser.add_argument("--examples", action="store_true", help="print negated sentences that still pass")
    args = parser.parse_args()
    articles = {a["id"]: a for name in ("articles.en.jsonl", "articles.es.jsonl") for a in _read(DATA / "kb" / name)}
    qa = [q for q in _read(DATA / "eval" / "qa.jsonl") if q["split"] == args.split]
    qa = [q for q in qa if all(g in articles for g in q["gold_ids"])]
    rng = random.Random(0)
    places = random.Random(1)  # its own generator: the other columns sample as before
    scores: dict[str, dict[str, list[float]]] = {
        lang: {"ref": [], "topic": [], "neg": [], "name": []} for lang in ("es", "en")
    }
    for q in qa:
        lang = q["lang"]
        gold = Passages.of([articles[g] for g in q["gold_ids"]], lang)
        for sentence in sentences(q["reference"]):
            place = ELSEWHERE[lang].format(places.choice(PLACES))
            named = sentence.rstrip(" .!?") + place
            for kind, text in (("ref", sentence), ("neg", negated(sentence, lang)), ("name", named)):
                value = _score(text, gold, lang) if text else None
                if value is not None:
                    scores[lang][kind].append(value)
                    if kind == "neg" and args.examples and value >= SUPPORT_THRESHOLD:
                        print(f"  {lang} {value:.2f} {text}")
        other = rng.choice([o for o in qa if o["lang"] == lang and not set(o["gold_ids"]) & set(q["gold_ids"])])
        for sentence in sentences(other["reference"]):
            value = _score(sentence, gold, lang)
            if value is not None:
                scores[lang]["topic"].append(value)
    print(f"split {args.split}: {len(qa)} questions; production threshold {SUPPORT_THRESHOLD}")
    head = ("reference passes", "other topic passes", "negated passes", "name added passes")
    print("| lang | threshold | " + " | ".join(f"{h} (n)" for h in head) + " |")
    print("|---|---|---|---|---|---|")
    for lang in ("es", "en"):
        per = scores[lang]
        for t in THRESHOLDS:
            cells = [f"{sum(v >= t for v in per[k]) / max(len(per[k]), 1):.3f} ({len(per[k])})" for k in per]
            print(f"| {lang} | {t} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
