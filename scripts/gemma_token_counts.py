"""Count the Gemma 3 tokens of general es/en text, for ``supportbot model trim`` (finetune/resources/).

Sources (../shared/datasets, read here, never shipped): STS-B en + es train sentences (CC BY-SA 4.0), Banking77
train queries (CC BY 4.0), CLINC150 train queries (CC BY 3.0). Only token-id counts are written.

    python scripts/gemma_token_counts.py --base .supportbot/models/gemma-3-270m --datasets ../shared/datasets
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
from pathlib import Path


def texts(datasets: Path) -> list[str]:
    out: list[str] = []
    for lang in ("en", "es"):
        with (datasets / "stsb_multi_mt" / f"stsb-{lang}-train.csv").open(encoding="utf-8") as handle:
            for row in csv.reader(handle):
                out += [cell for cell in row[:2] if cell and not cell.replace(".", "").isdigit()]
    for path in sorted((datasets / "banking77").glob("*.csv")):
        with path.open(encoding="utf-8") as handle:
            out += [row[0] for row in csv.reader(handle) if row]
    for path in sorted((datasets / "clinc150").glob("*train*.json*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            data = json.load(handle)
        for key in ("train", "oos_train"):
            out += [pair[0] for pair in data.get(key, [])]
    return out


def main() -> None:
    from transformers import AutoTokenizer

    from finetune.base_model import vocab_fingerprint
    from finetune.trim import GENERAL_COUNTS, count_tokens

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    args = parser.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(str(args.base))
    corpus = texts(args.datasets)
    counts = count_tokens(tokenizer, corpus)
    vocab = {i: t for t, i in tokenizer.get_vocab().items()}
    document = {
        "vocab_fingerprint": vocab_fingerprint(tokenizer),
        "sources": "STS-B en/es train, Banking77 train, CLINC150 train (token counts only)",
        "texts": len(corpus),
        "counts": {vocab[i]: c for i, c in sorted(counts.items())},
    }
    GENERAL_COUNTS.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(GENERAL_COUNTS, "wt", encoding="utf-8") as handle:
        json.dump(document, handle, ensure_ascii=False)
    print(f"{len(corpus)} texts, {len(counts)} distinct tokens -> {GENERAL_COUNTS}")


if __name__ == "__main__":
    main()
