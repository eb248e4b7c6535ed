"""What the shared-state benchmarks (postgres.py, replicas_load.py) take alike: an index, a PostgreSQL URL, a data home.

A helper, not a benchmark (like retrieval_corpora.py): run on its own it does nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def state_parser(description: str) -> argparse.ArgumentParser:
    """A parser with ``--index`` (default ``.supportbot/index``) and ``--database-url`` (SUPPORTBOT_DATABASE_URL)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--index", type=Path, default=ROOT / ".supportbot" / "index", help="index folder")
    parser.add_argument("--database-url", default=os.environ.get("SUPPORTBOT_DATABASE_URL"), help="PostgreSQL URL")
    return parser


def parse_state_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse, and exit with a message when no database URL is set or no index is at ``--index``."""
    args = parser.parse_args()
    if not args.database_url:
        sys.exit("error: set SUPPORTBOT_DATABASE_URL (or --database-url) to a PostgreSQL database")
    if not (args.index / "CURRENT").exists():
        sys.exit(f"error: no index at {args.index}: build it with `supportbot kb ingest data/kb --index {args.index}`")
    return args


def data_home() -> Path:
    """The data home the benchmarks cache into: ``SUPPORTBOT_HOME``, else the checkout's ``.supportbot``."""
    return Path(os.environ.get("SUPPORTBOT_HOME", ROOT / ".supportbot"))
