"""PII redaction benchmark: recall and precision of the chat's redactor on hand-annotated customer messages.

Run from the project root::

    python benchmarks/pii.py --split dev [--misses 20]

``benchmarks/data/pii_{dev,val}.jsonl`` hold customer-support messages in Spanish (Spain, Mexico, Argentina,
Colombia, Chile, Peru) and English (US, UK, Ireland, Canada), written before the recognizers were read, with
character spans of the personal data in them (``{"id", "lang", "text", "spans": [{"start", "end", "type"}]}``).
Span types are the product's entity names (``finetune.pii.ENTITY_TYPES``); ``DATE_OF_BIRTH``, ``CURP`` and ``RFC``
(Mexican identity and tax numbers) were annotated before the product had them (the first measurement, "before" in
docs/finetune-data.md, counts them as missed). An Argentine DNI is a ``DNI``. Order, tracking and invoice numbers,
prices, product codes, order dates, quantities, company and city names, article titles and the store's own published
contacts are not annotated: they are the hard negatives. A message without spans is a hard-negative message. Tune on
dev; val is only reported.

Each message goes through what the chat's ``redact_pii`` node runs: the text cleaned as ``detect_language`` cleans
it (``retrieval.text.clean``), its language detected with the gold language as the session's, and
``shared_redactor(...).redact(text, lang, PlaceholderMap(), keep=GraphConfig(...).keep_entities)``, so ORDER and
TRACKING found are kept as written (a gold span found as ORDER or TRACKING is therefore not redacted). Definitions:

- a gold span is *caught* when every letter and digit of it lies inside a redacted span (of any type); *partly*
  when some do but not all (a leak all the same); *right type* when a redacted span of the gold type overlaps it;
- *precision*: the share of redacted spans that overlap a gold span;
- *hard negatives redacted*: the share of messages without gold spans in which anything was redacted.

Prints markdown tables (overall per language, per gold type, per redacted type) and, with ``--misses N``, up to N
missed gold spans and N wrongly redacted spans. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from finetune.pii import Entity, PlaceholderMap, shared_redactor  # noqa: E402
from graph.config import GraphConfig  # noqa: E402
from retrieval.language import detect_language  # noqa: E402
from retrieval.text import clean  # noqa: E402

LANGS = ("es", "en")


def cleaned(text: str, spans: list[dict]) -> tuple[str, list[dict]]:
    """``clean(text)`` and the spans moved onto it (clean only collapses whitespace in these files)."""
    pieces, moved, offset = [], {}, 0
    for match in re.finditer(r"\S+", text):
        if pieces:
            offset += 1
        for i in range(match.start(), match.end() + 1):
            moved[i] = offset + i - match.start()
        pieces.append(match.group())
        offset += len(match.group())
    out = " ".join(pieces)
    if out != clean(text):
        raise ValueError(f"clean() changes more than whitespace in {text!r}")
    return out, [{**s, "start": moved[s["start"]], "end": moved[s["end"]]} for s in spans]


def redact(text: str, lang: str) -> list[Entity]:
    """The spans the chat's redact_pii node replaces in ``text`` (a fresh session)."""
    config = GraphConfig(index_dir=Path())  # the defaults; no index is read here
    redactor = shared_redactor(Path(config.cache_dir) / "models" / "spacy")
    lang = detect_language(text, default=lang) or lang
    return redactor.redact(text, lang, PlaceholderMap(), keep=config.keep_entities).entities


def judge(text: str, gold: dict, found: list[Entity]) -> tuple[str, bool]:
    """("caught" | "partly" | "missed", right type) of one gold span."""
    chars = [i for i in range(gold["start"], gold["end"]) if text[i].isalnum()]
    covered = [any(e.start <= i < e.end for e in found) for i in chars]
    right = any(e.type == gold["type"] and e.start < gold["end"] and gold["start"] < e.end for e in found)
    return ("caught" if all(covered) else "partly" if any(covered) else "missed"), right


def share(hits: int, total: int) -> str:
    """``0.875 (35/40)``, or ``-`` for nothing counted."""
    return f"{hits / total:.3f} ({hits}/{total})" if total else "-"


def main() -> None:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=("dev", "val"), default="dev", help="benchmarks/data/pii_<split>.jsonl")
    parser.add_argument("--misses", type=int, default=0, help="print up to N misses and N wrong redactions")
    args = parser.parse_args()

    path = ROOT / "benchmarks" / "data" / f"pii_{args.split}.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    # per (lang, gold type): [gold, caught, partly, right type]; per (lang, redacted type): [redacted, on gold]
    gold_counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    found_counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    negatives: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # lang -> [messages, with a redaction]
    messages: dict[str, int] = defaultdict(int)
    misses: list[str] = []
    wrong: list[str] = []
    for row in rows:
        text, spans = cleaned(row["text"], row["spans"])
        lang = row["lang"]
        found = redact(text, lang)
        for key in (lang, "all"):
            messages[key] += 1
        for span in spans:
            verdict, right = judge(text, span, found)
            for key in ((lang, span["type"]), (lang, "all"), ("all", span["type"]), ("all", "all")):
                counts = gold_counts[key]
                counts[0] += 1
                counts[1] += verdict == "caught"
                counts[2] += verdict == "partly"
                counts[3] += right
            if verdict != "caught":
                got = [f"{e.type}:{text[e.start : e.end]!r}" for e in found]
                misses.append(f"- {row['id']} {span['type']} {verdict}: {text[span['start'] : span['end']]!r} "
                              f"in {text!r}; redacted {got}")  # fmt: skip
        for entity in found:
            on_gold = any(entity.start < s["end"] and s["start"] < entity.end for s in spans)
            for key in ((lang, entity.type), (lang, "all"), ("all", entity.type), ("all", "all")):
                found_counts[key][0] += 1
                found_counts[key][1] += on_gold
            if not on_gold:
                wrong.append(f"- {row['id']} {entity.type}: {text[entity.start : entity.end]!r} in {text!r}")
        if not spans:
            for key in (lang, "all"):
                negatives[key][0] += 1
                negatives[key][1] += bool(found)

    print(f"# PII redaction, {args.split} split ({path.relative_to(ROOT)}), the chat's redactor\n")
    print("| lang | messages | gold spans | caught (recall) | partly | right type | redacted spans | precision | "
          "hard negatives redacted |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for lang in (*LANGS, "all"):
        g, f, n = gold_counts[(lang, "all")], found_counts[(lang, "all")], negatives[lang]
        print(f"| {lang} | {messages[lang]} | {g[0]} | {share(g[1], g[0])} | {g[2]} | {share(g[3], g[0])} | {f[0]} | "
              f"{share(f[1], f[0])} | {share(n[1], n[0])} |")  # fmt: skip

    print("\n## recall per gold type (caught / gold spans)\n")
    print("| type | es | en | all | partly | right type |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind in sorted({k for _, k in gold_counts} - {"all"}):
        cells = [share(gold_counts[(lang, kind)][1], gold_counts[(lang, kind)][0]) for lang in (*LANGS, "all")]
        g = gold_counts[("all", kind)]
        print(f"| {kind} | {' | '.join(cells)} | {g[2]} | {share(g[3], g[0])} |")

    print("\n## precision per redacted type (on a gold span / redacted spans)\n")
    print("| type | es | en | all |")
    print("|---|---:|---:|---:|")
    for kind in sorted({k for _, k in found_counts} - {"all"}):
        cells = [share(found_counts[(lang, kind)][1], found_counts[(lang, kind)][0]) for lang in (*LANGS, "all")]
        print(f"| {kind} | {' | '.join(cells)} |")

    if args.misses:
        print(f"\n## missed or partly redacted gold spans ({len(misses)})\n")
        print("\n".join(misses[: args.misses]))
        print(f"\n## redacted spans on no gold span ({len(wrong)})\n")
        print("\n".join(wrong[: args.misses]))


if __name__ == "__main__":
    main()
