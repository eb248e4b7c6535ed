"""Shared helpers for the CLI commands: uniform errors, JSON output and the not-built-yet exit."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer

# Exit code for a command whose feature is not built yet: distinct from usage errors (2) and failures (1).
NOT_BUILT_EXIT = 3


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code`` (never a traceback)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def not_built(command: str, issue: int) -> NoReturn:
    """Say plainly that ``command`` does not exist yet and exit non-zero, instead of pretending."""
    typer.echo(
        f"supportbot {command}: not built yet (tracked in issue #{issue}); nothing was done.",
        err=True,
    )
    raise typer.Exit(NOT_BUILT_EXIT)


def print_json(document: Any) -> None:
    """Print one JSON document on stdout (UTF-8, no ASCII escaping) and nothing else."""
    sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
