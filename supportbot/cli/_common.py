"""Shared helpers for the CLI commands: uniform errors and JSON output."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code`` (never a traceback)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def print_json(document: Any) -> None:
    """Print one JSON document on stdout (UTF-8, no ASCII escaping) and nothing else."""
    sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
