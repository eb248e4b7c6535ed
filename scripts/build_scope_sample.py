"""Rebuild ``data/scope/clinc150_ood_sample.jsonl``: CLINC150 **train** texts of the intents outside a support
domain (``PER_INTENT`` per intent, seeded) and every ``oos_train`` text. Val and test are never read.

``python scripts/build_scope_sample.py [--clinc ../shared/datasets/clinc150/clinc150_train_val.json.gz]``
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graph.scope_eval import AMBIGUOUS_INTENTS  # noqa: E402

PER_INTENT = 8
SEED = 13


def main() -> None:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = ROOT.parent / "shared" / "datasets" / "clinc150" / "clinc150_train_val.json.gz"
    parser.add_argument("--clinc", type=Path, default=default)
    args = parser.parse_args()
    with gzip.open(args.clinc) as handle:
        data = json.loads(handle.read())
    by_intent: dict[str, list[str]] = {}
    for text, intent in data["train"]:
        if intent not in AMBIGUOUS_INTENTS:
            by_intent.setdefault(intent, []).append(text)
    rng = random.Random(SEED)
    rows = [{"text": t, "intent": i} for i in sorted(by_intent) for t in rng.sample(by_intent[i], PER_INTENT)]
    rows += [{"text": t, "intent": "oos"} for t, _ in data["oos_train"]]
    out = ROOT / "data" / "scope" / "clinc150_ood_sample.jsonl"
    tmp = out.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(out)
    print(f"{out}: {len(rows)} lines ({len(by_intent)} intents x {PER_INTENT} + {len(data['oos_train'])} oos)")


if __name__ == "__main__":
    main()
