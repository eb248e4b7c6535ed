"""``supportbot train``: LoRA/QLoRA fine-tuning and adapter merging."""

from __future__ import annotations

from pathlib import Path

import typer

from supportbot.cli._common import not_built

app = typer.Typer(help="Fine-tune a generator with LoRA (train) or merge an adapter (train merge).")


@app.callback(invoke_without_command=True)
def train(
    ctx: typer.Context,
    preset: str | None = typer.Option(None, "--preset", help="tiny | llama-3.2-1b | llama-3.2-3b | llama-3.1-8b."),
    config: Path | None = typer.Option(None, "--config", help="YAML file overriding preset fields."),
    data: Path | None = typer.Option(None, "--data", help="Folder written by `supportbot data prepare`."),
    out: Path | None = typer.Option(None, "--out", help="Output folder for the adapter and model card."),
) -> None:
    """Train a LoRA adapter with a preset."""
    if ctx.invoked_subcommand is not None:
        return
    if preset is None or data is None or out is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(2)
    not_built("train", 4)


@app.command()
def merge(
    model: Path = typer.Option(..., "--model", help="Trained run folder (base + adapter)."),
    out: Path = typer.Option(..., "--out", help="Folder for the merged model."),
    quantize: str | None = typer.Option(None, "--quantize", help="int8: dynamic quantization for CPU inference."),
) -> None:
    """Merge a LoRA adapter into its base model."""
    not_built("train merge", 4)
