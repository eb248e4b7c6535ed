"""``supportbot train``: LoRA/QLoRA fine-tuning and adapter merging."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import typer

from supportbot.cli._common import fail, print_json

app = typer.Typer(help="Fine-tune a generator with LoRA (train) or merge an adapter (train merge).")


@app.callback(invoke_without_command=True)
def train(
    ctx: typer.Context,
    preset: str | None = typer.Option(
        None, "--preset", help="gemma-270m (the CPU default) | tiny (test fixture) | llama-3.2-1b | llama-3.2-3b | ..."
    ),
    config: Path | None = typer.Option(None, "--config", help="YAML file overriding preset fields."),
    data: Path | None = typer.Option(None, "--data", help="Folder written by `supportbot data prepare`."),
    out: Path | None = typer.Option(None, "--out", help="Output folder for the adapter and model card."),
    base: Path | None = typer.Option(None, "--base", help="Local base checkpoint folder (the llama-* presets)."),
    epochs: float | None = typer.Option(None, "--epochs", help="Override the preset's LoRA epochs."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Stop LoRA tuning after N steps."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty --out folder.", metavar=""),
    no_mlflow: bool = typer.Option(False, "--no-mlflow", help="Do not track the run in <home>/mlflow.db.", metavar=""),
    as_json: bool = typer.Option(False, "--json", help="Print the run's metrics as one JSON document.", metavar=""),
) -> None:
    """Train a LoRA adapter with a preset."""
    if ctx.invoked_subcommand is not None:
        return
    if data is None or out is None:
        missing = " and ".join(flag for flag, value in (("--data DIR", data), ("--out DIR", out)) if value is None)
        fail(f"train needs {missing} (see `supportbot train --help`)", code=2)
    from finetune.config import TrainError, load_config
    from finetune.output import OutputError
    from retrieval.signals import Interrupted

    preset = preset or "gemma-270m"
    from supportbot.settings import get_settings

    home = get_settings().home
    if preset == "gemma-270m" and base is None:  # the base `model pull` + `model trim` write into the data home
        base = home / "models" / "gemma-3-270m-trim"
        if not (base / "config.json").is_file():
            pulled = base.parent / "gemma-3-270m"
            fail(f"--preset gemma-270m needs its base ({base} is missing): run `supportbot model pull` and "
                 f"`supportbot model trim --base {pulled} --out {base}`, or pass --base")  # fmt: skip
    overrides = {
        "base_model": str(base) if base is not None else None,
        "epochs": epochs,
        "max_steps": max_steps,
        "mlflow": False if no_mlflow else None,
    }
    try:
        cfg = load_config(preset, config, overrides)
        if not data.is_dir():
            fail(f"--data {data}: no such folder (expected the output of `supportbot data prepare`)")
        from finetune.train import run_training

        # The Trainer prints its log lines on stdout; keep stdout for the --json document alone.
        with contextlib.redirect_stdout(sys.stderr):
            metrics = run_training(
                cfg, data, out, overwrite=overwrite, log=lambda msg: typer.echo(msg, err=True), home=home
            )
    except (TrainError, OutputError) as exc:
        fail(str(exc))
    except Interrupted:
        work = out.parent / f".{out.name}.partial"
        if work.is_dir():  # kept on purpose: the same command resumes from its checkpoints
            typer.echo(f"note: the unfinished run is kept in {work}; run the same command again to resume", err=True)
        raise
    if as_json:
        print_json(metrics)


@app.command()
def merge(
    model: Path = typer.Option(..., "--model", help="Trained run folder (base + adapter)."),
    out: Path = typer.Option(..., "--out", help="Folder for the merged model."),
    quantize: str | None = typer.Option(None, "--quantize", help="int8: weight-only int8 for CPU inference."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty --out folder.", metavar=""),
    as_json: bool = typer.Option(False, "--json", help="Print the merged folder's description as JSON.", metavar=""),
) -> None:
    """Merge a LoRA adapter into its base model."""
    if quantize not in (None, "int8"):
        fail(f"--quantize must be int8, got {quantize!r}", code=2)
    from finetune.base_model import BaseModelError
    from finetune.inference import ModelLoadError
    from finetune.merge import merge_model
    from finetune.output import OutputError

    try:
        result = merge_model(model, out, quantize=quantize, overwrite=overwrite)
    except (ModelLoadError, OutputError, BaseModelError) as exc:
        fail(str(exc))
    if as_json:
        print_json(result)
    else:
        typer.echo(f"merged {model} into {out} ({result['model_bytes']:,} bytes, quantize={quantize})", err=True)
