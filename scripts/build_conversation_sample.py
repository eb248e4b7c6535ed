"""Rebuild the small English conversation samples shipped in data/conversations/ from ../shared/datasets.

Usage: python scripts/build_conversation_sample.py [--datasets ../shared/datasets] [--out data/conversations]

The samples are deterministic (fixed seed, stratified) so a re-run reproduces the committed files byte for byte.
Bitext placeholders such as ``{{Order Number}}`` are kept as they are: normalizing them is `data prepare`'s job.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import random
import shutil
from collections import defaultdict
from pathlib import Path

SEED = 13
BITEXT_PER_INTENT = 40
SGD_DIALOGUES = 200
SGD_SERVICES = {"Banks_1", "Banks_2", "Payment_1"}
EN_SYSTEM = "You are Nimbus Market's customer-support assistant. Answer in the customer's language."


def bitext_sample(datasets: Path) -> list[dict]:
    """Stratified sample of Bitext instruction/response pairs: the same number per intent."""
    path = datasets / "bitext_cs" / "Bitext_Sample_Customer_Support_Training_Dataset.csv.gz"
    by_intent: dict[str, list[dict]] = defaultdict(list)
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=2):
            by_intent[row["intent"]].append({**row, "row": row_number})
    rng = random.Random(SEED)
    records = []
    for intent in sorted(by_intent):
        rows = by_intent[intent]
        for row in rng.sample(rows, min(BITEXT_PER_INTENT, len(rows))):
            records.append(
                {
                    "id": f"bitext-{row['row']:05d}",
                    "lang": "en",
                    "messages": [
                        {"role": "system", "content": EN_SYSTEM},
                        {"role": "user", "content": row["instruction"]},
                        {"role": "assistant", "content": row["response"]},
                    ],
                    "source": "bitext_cs",
                    "meta": {
                        "intent": intent,
                        "category": row["category"],
                        "flags": row["tags"],
                        "csv_row": row["row"],
                    },
                }
            )
    return sorted(records, key=lambda r: r["id"])


def sgd_sample(datasets: Path) -> list[dict]:
    """Banking/payment dialogues from the SGD train split, USER/SYSTEM turns mapped to user/assistant."""
    dialogues = []
    for path in sorted((datasets / "sgd_banking" / "train").glob("dialogues_*.json.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for dialogue in json.load(handle):
                if SGD_SERVICES & set(dialogue["services"]) and len(dialogue["services"]) == 1:
                    dialogues.append(dialogue)
    rng = random.Random(SEED)
    records = []
    for dialogue in rng.sample(dialogues, min(SGD_DIALOGUES, len(dialogues))):
        messages = [{"role": "system", "content": EN_SYSTEM}]
        for turn in dialogue["turns"]:
            messages.append(
                {"role": "user" if turn["speaker"] == "USER" else "assistant", "content": turn["utterance"]}
            )
        records.append(
            {
                "id": f"sgd-{dialogue['dialogue_id']}",
                "lang": "en",
                "messages": messages,
                "source": "sgd_banking",
                "meta": {"services": dialogue["services"], "split": "train"},
            }
        )
    return sorted(records, key=lambda r: r["id"])


def write_jsonl(path: Path, records: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--out", type=Path, default=Path("data/conversations"))
    args = parser.parse_args()
    if not args.datasets.is_dir():
        parser.error(f"{args.datasets} is not a folder: point --datasets at the shared datasets")
    args.out.mkdir(parents=True, exist_ok=True)
    write_jsonl(args.out / "bitext_sample.jsonl", bitext_sample(args.datasets))
    write_jsonl(args.out / "sgd_banking_sample.jsonl", sgd_sample(args.datasets))
    shutil.copyfile(args.datasets / "bitext_cs" / "LICENSE.txt", args.out / "LICENSE.bitext_cs.txt")
    shutil.copyfile(args.datasets / "sgd_banking" / "LICENSE.txt", args.out / "LICENSE.sgd_banking.txt")


if __name__ == "__main__":
    main()
