"""Retention benchmark: how long `supportbot db purge` takes on many sessions, SQLite and PostgreSQL.

Run from the project root (the PostgreSQL rows only with a database URL; its schema is created or migrated first)::

    python benchmarks/retention.py [--index DIR] [--sessions 2000] [--database-url postgresql://...]

Per backend, a ``ChatService`` (rag mode, extractive generator; SQLite files in a temp folder, or the database) answers
a few real two-turn conversations in Spanish and English; each is then copied, through the checkpointer's own ``put``,
to ``--sessions`` session ids with an owner row each (claimed 40 days ago: the scan must read every conversation's
newest checkpoint) and a rating on every fourth, and half of the sessions are aged 40 days (their checkpoints' ``ts``
and the rating). It times ``graph.retention.purge`` with 30 days:
a dry run, the purge (which deletes the old half), and a second purge that finds nothing to delete (the scan of the
recent half alone). Asserts nothing; the header prints the load average.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEEDS = [
    ("How do I return an item?", "and how long does the refund take?"),
    ("¿Cuánto tarda el envío estándar?", "¿y cuánto cuesta?"),
    ("Can I change the delivery address?", "and after it has shipped?"),
    ("¿Cómo pido una factura?", "¿y si soy empresa?"),
]
DAYS_OLD = 40


def _fill(service: Any, owners: Any, sessions: int, run: str) -> None:
    """``sessions`` copies of the seed conversations, the even-numbered ones aged ``DAYS_OLD`` days."""
    saver, seeds = service.checkpointer, []
    for n, pair in enumerate(SEEDS):
        seed = f"seed-{run}-{n}"
        for message in pair:
            service.chat(message, session_id=seed)
        seeds.append(list(saver.list({"configurable": {"thread_id": seed}}))[::-1])  # oldest first
        service.checkpointer.delete_thread(seed)
    old = (datetime.now(UTC) - timedelta(days=DAYS_OLD)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for i in range(sessions):
        session, aged = f"bench-{run}-{i}", i % 2 == 0
        parent: dict[str, Any] = {"configurable": {"thread_id": session, "checkpoint_ns": ""}}
        for saved in seeds[i % len(seeds)]:
            checkpoint = dict(saved.checkpoint)
            if aged:
                checkpoint["ts"] = (datetime.fromisoformat(checkpoint["ts"]) - timedelta(days=DAYS_OLD)).isoformat()
            parent = saver.put(parent, checkpoint, saved.metadata, checkpoint["channel_versions"])
        owners.claim_session(session, "bench-key")
        with owners.db.transaction() as tx:  # every session began 40 days ago: the scan reads each checkpoint
            tx.execute("UPDATE session_owners SET created = ? WHERE session_id = ?", (old, session))
        if i % 4 == 0:
            service.store.add_feedback(session, 0, "up")
        if aged:
            with service.store.db.transaction() as tx:
                tx.execute("UPDATE feedback SET created_at = created_at - ? WHERE session_id = ?",
                           (DAYS_OLD * 86_400.0, session))  # fmt: skip
        if i % 500 == 499:
            print(f"  {i + 1} sessions", file=sys.stderr)


def main() -> None:
    from benchmarks.state_args import data_home, state_parser

    parser = state_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=2000, help="sessions per backend (half of them old)")
    args = parser.parse_args()
    if not (args.index / "CURRENT").exists():
        sys.exit(f"error: no index at {args.index}: build it with `supportbot kb ingest data/kb --index {args.index}`")

    from api.keys import KeyStore
    from graph.config import GraphConfig
    from graph.db import redact_url, upgrade
    from graph.retention import purge
    from graph.service import ChatService

    work = Path(tempfile.mkdtemp(prefix="supportbot-bench-retention-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    common = {"index_dir": args.index, "cache_dir": data_home()}
    sqlite = GraphConfig(checkpoint_db=work / "c.sqlite", store_db=work / "s.sqlite", **common)
    backends: dict[str, tuple[Any, Any]] = {"sqlite": (sqlite, KeyStore(work / "keys.sqlite"))}
    if args.database_url:
        upgrade(args.database_url)
        backends["postgres"] = (GraphConfig(database_url=args.database_url, **common),
                                KeyStore(work / "unused", database_url=args.database_url))  # fmt: skip
    run = f"{int(time.time()):x}"
    rows = []
    for name, (config, owners) in backends.items():
        print(f"{name}: loading the service and writing {args.sessions} sessions ...", file=sys.stderr)
        service = ChatService(config)
        _fill(service, owners, args.sessions, run)
        timings, reports = [], []
        for dry_run in (True, False, False):
            started = time.perf_counter()
            reports.append(purge(service.store, service.checkpointer, 30, owners=owners.db, dry_run=dry_run))
            timings.append(time.perf_counter() - started)
        counted, deleted = reports[0]["sessions"]["total"], reports[1]["sessions"]["total"]
        rows.append((name, args.sessions, counted, deleted, reports[1]["checkpoints"], timings[0], timings[1],
                     deleted / timings[1], timings[2], reports[2]["sessions"]["total"]))  # fmt: skip
        service.close()

    load = os.getloadavg()
    where = f"; PostgreSQL {redact_url(args.database_url)}" if args.database_url else ""
    print(f"\n`purge --older-than 30` (load average {load[0]:.1f} {load[1]:.1f}{where})\n")
    print("| backend | sessions | counted (dry run) | deleted | checkpoints deleted | dry run s | purge s | "
          "sessions deleted / s | second purge s (nothing old) | deleted by it |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, total, counted, deleted, checkpoints, dry, real, rate, again, second in rows:
        print(f"| {name} | {total} | {counted} | {deleted} | {checkpoints} | {dry:.1f} | {real:.1f} | {rate:.0f} | "
              f"{again:.1f} | {second} |")  # fmt: skip


if __name__ == "__main__":
    main()
