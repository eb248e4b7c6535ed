"""Copy a trained adapter folder into data/models/ for the demo: weights in bf16, the base's tokenizer by reference.

    python scripts/ship_adapter.py --model .supportbot/models/gemma-270m-support --out data/models/gemma-270m-support

The shipped folder keeps the model card, metrics and NOTICE; the adapter weights are stored in bf16 (half the size;
PEFT loads them into the float32 LoRA layers) and the tokenizer is not copied: the descriptor names the base
(``base_name``, found in the data home after ``supportbot model pull`` + ``model trim``) and its vocabulary
fingerprint, and the loader takes the tokenizer from that base. ``kept_tokens.json.gz`` lists that base's vocabulary,
so ``supportbot model trim --tokens`` (and the demo) rebuild exactly the base the adapter was trained on.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path


def main() -> None:
    import torch
    from safetensors.torch import load_file, save_file

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    info = json.loads((args.model / "supportbot_model.json").read_text(encoding="utf-8"))
    if not info.get("base_name") or not info.get("base_fingerprint"):
        raise SystemExit(f"{args.model}: the descriptor names no base_name/base_fingerprint; retrain with this version")
    work = args.out.parent / f".{args.out.name}.partial"
    shutil.rmtree(work, ignore_errors=True)
    (work / "adapter").mkdir(parents=True)
    for name in ("model_card.md", "metrics.json", "NOTICE"):
        if (args.model / name).is_file():
            shutil.copy(args.model / name, work / name)
    shutil.copy(args.model / "adapter" / "adapter_config.json", work / "adapter" / "adapter_config.json")
    weights = load_file(str(args.model / "adapter" / "adapter_model.safetensors"))
    save_file(
        {k: v.to(torch.bfloat16) for k, v in weights.items()}, str(work / "adapter" / "adapter_model.safetensors")
    )
    from finetune.trim import KEPT_TOKENS_FILE, write_kept_tokens

    write_kept_tokens(Path(info["base"]), work / KEPT_TOKENS_FILE)  # `model trim --tokens` rebuilds this base exactly
    info.update(base=f"../../../.supportbot/models/{info['base_name']}", tokenizer="@base")
    (work / "supportbot_model.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    if args.out.exists():
        shutil.rmtree(args.out)
    work.rename(args.out)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {args.out} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
