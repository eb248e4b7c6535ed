"""Shared-state benchmark: the chat-turn overhead of PostgreSQL vs SQLite, and the state operations a request makes.

Run from the project root, with a PostgreSQL database (its schema is created or migrated first, by the code of
`supportbot db upgrade`)::

    SUPPORTBOT_DATABASE_URL=postgresql://user@127.0.0.1:5432/db python benchmarks/postgres.py [--index DIR]
        [--turns 200]

Two ``ChatService`` objects on the same index (rag mode, extractive generator), one with SQLite files in a temp
folder and one on the database, answer the same turns in alternation (so machine load hits both alike): each
conversation is two turns (a question, then a follow-up that reads the first turn's checkpoint). It prints p50/p95
per backend and the p95 overhead, then p50/p95 of the per-request state calls (key lookup, rate-limit token,
session owner) and an escalation write. Asserts nothing; the header prints the load average.
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    ("How do I return an item?", "and how long does the refund take?"),
    ("¿Cuánto tarda el envío estándar?", "¿y cuánto cuesta?"),
    ("Can I change the delivery address?", "and after it has shipped?"),
    ("¿Cómo pido una factura?", "¿y si soy empresa?"),
    ("Which payment methods do you accept?", "and can I pay in instalments?"),
]


def _p(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q))


def _time(call: Callable[[], Any], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    from benchmarks.state_args import data_home, parse_state_args, state_parser

    parser = state_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=200, help="chat turns per backend (two per conversation)")
    parser.add_argument("--ops", type=int, default=300, help="runs of each state operation per backend")
    args = parse_state_args(parser)

    from api.keys import KeyStore
    from api.ratelimit import make_limiter
    from graph.config import GraphConfig
    from graph.db import redact_url, upgrade
    from graph.service import ChatService

    upgrade(args.database_url)
    work = Path(tempfile.mkdtemp(prefix="supportbot-bench-pg-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)  # scratch models and stores: not left in /tmp
    home = data_home()
    common = {"index_dir": args.index, "cache_dir": home}
    print("loading both services ...", file=sys.stderr)
    services = {
        "sqlite": ChatService(GraphConfig(checkpoint_db=work / "c.sqlite", store_db=work / "s.sqlite", **common)),
        "postgres": ChatService(GraphConfig(database_url=args.database_url, **common)),
    }
    latencies: dict[str, list[float]] = {name: [] for name in services}
    rng = random.Random(7)
    run = f"{rng.getrandbits(32):08x}"
    for conversation in range(args.turns // 2):
        pair = QUESTIONS[conversation % len(QUESTIONS)]
        order = list(services.items()) if conversation % 2 == 0 else list(services.items())[::-1]
        for name, service in order:
            session = f"bench-{run}-{name}-{conversation}"
            for message in pair:
                started = time.perf_counter()
                service.chat(message, session_id=session)
                latencies[name].append((time.perf_counter() - started) * 1000)
        if conversation % 20 == 19:
            print(f"  {2 * (conversation + 1)} turns per backend", file=sys.stderr)

    load = os.getloadavg()
    print(f"\nChat turns (rag, extractive; {args.turns} per backend, alternating; load average "
          f"{load[0]:.1f} {load[1]:.1f}; PostgreSQL {redact_url(args.database_url)})\n")  # fmt: skip
    print("| backend | p50 ms | p95 ms | mean ms | turns |")
    print("|---|---|---|---|---|")
    for name, values in latencies.items():
        print(f"| {name} | {_p(values, 50):.1f} | {_p(values, 95):.1f} | {sum(values) / len(values):.1f} | "
              f"{len(values)} |")  # fmt: skip
    overhead = _p(latencies["postgres"], 95) - _p(latencies["sqlite"], 95)
    median = _p(latencies["postgres"], 50) - _p(latencies["sqlite"], 50)
    print(f"\n**p95 overhead of PostgreSQL: {overhead:+.1f} ms** (p50 {median:+.1f} ms)\n")

    print("State operations per request (one process, no contention)\n")
    print("| operation | sqlite p50 ms | sqlite p95 ms | postgres p50 ms | postgres p95 ms |")
    print("|---|---|---|---|---|")
    stores = {
        "sqlite": KeyStore(work / "keys.sqlite"),
        "postgres": KeyStore(work / "unused", database_url=args.database_url),
    }
    rows: dict[str, dict[str, list[float]]] = {}
    for name, keys in stores.items():
        _, key = keys.create("customer", "bench")
        limiter = make_limiter(10**9, database=keys.db)
        support = services[name].store
        rows.setdefault("key lookup", {})[name] = _time(lambda k=keys, s=key: k.authenticate(s), args.ops)
        rows.setdefault("rate-limit token", {})[name] = _time(lambda lim=limiter: lim.acquire(f"b-{run}"), args.ops)
        rows.setdefault("session owner claim", {})[name] = _time(
            lambda k=keys: k.claim_session(f"own-{run}", "k"), args.ops
        )
        counter = iter(range(10**9))
        rows.setdefault("escalation write", {})[name] = _time(
            lambda s=support, c=counter: s.add_escalation(f"esc-{run}-{next(c)}", "en", "bench", []), args.ops
        )
    for operation, by in rows.items():
        print(f"| {operation} | {_p(by['sqlite'], 50):.2f} | {_p(by['sqlite'], 95):.2f} | "
              f"{_p(by['postgres'], 50):.2f} | {_p(by['postgres'], 95):.2f} |")  # fmt: skip
    print("\n(the SQLite rate limiter is process memory: without a database URL the buckets are per process)")


if __name__ == "__main__":
    main()
