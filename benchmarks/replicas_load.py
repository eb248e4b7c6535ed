"""Load test of two API replicas on one PostgreSQL: concurrent chat sessions spread over both, checked for lost and
cross-leaked messages and 5xx answers (bounded: loopback, one machine).

Run from the project root::

    SUPPORTBOT_DATABASE_URL=postgresql://user@127.0.0.1:5432/db python benchmarks/replicas_load.py \
        [--sessions 50] [--seconds 300] [--index DIR]

It runs the schema upgrade (the code of `supportbot db upgrade`), starts two `supportbot serve` processes (rag mode,
extractive generator, separate data homes, rate limit out of the way), creates one customer key per session, and
runs every session in its own thread for ``--seconds``: each turn goes to the replica after the one of the previous
turn, and after every turn the session reads its transcript from the other replica and checks that it holds
exactly its own messages, in order (``tests/replicas.py``). Nothing is retried. It prints a table and asserts
nothing; the header prints the load average.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    from benchmarks.state_args import data_home, parse_state_args, state_parser

    parser = state_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=50, help="concurrent chat sessions")
    parser.add_argument("--seconds", type=float, default=300.0, help="how long every session keeps chatting")
    args = parse_state_args(parser)

    from api.keys import KeyStore
    from graph.db import redact_url, upgrade
    from tests.replicas import run_load, start_replicas, summary

    upgrade(args.database_url)
    work = Path(tempfile.mkdtemp(prefix="supportbot-load-"))
    cache = data_home()
    print(f"starting two replicas (logs in {work}) ...", file=sys.stderr)
    replicas = start_replicas(args.database_url, args.index.resolve(), work, cache)
    try:
        keys = KeyStore(work / "unused", database_url=args.database_url)
        session_keys = [keys.create("customer", f"load-{n}")[1] for n in range(args.sessions)]
        print(f"{args.sessions} sessions for {args.seconds:.0f} s ...", file=sys.stderr)
        report = run_load([r.url for r in replicas], session_keys, args.seconds)
    finally:
        for replica in replicas:
            replica.stop()
    numbers = summary(report)
    load = os.getloadavg()
    print(f"\nTwo replicas on {redact_url(args.database_url)} (load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f},"
          f" {os.cpu_count()} CPUs)\n")  # fmt: skip
    print(
        "| sessions | seconds | chat turns | turns per replica | transcript checks failed (lost / leaked / "
        "out of order) | 5xx | other non-200 | transport errors | turn p50 ms | turn p95 ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    others = sum(n for status, n in numbers["statuses"].items() if status != 200 and status < 500)
    print(f"| {numbers['sessions']} | {numbers['seconds']:.0f} | {numbers['turns']} | "
          f"{' / '.join(map(str, numbers['turns_per_replica']))} | {numbers['lost']} / {numbers['leaked']} / "
          f"{numbers['reordered']} | {numbers['5xx']} | {others} | {numbers['transport_errors']} | "
          f"{numbers['p50_ms']} | {numbers['p95_ms']} |")  # fmt: skip
    print(f"\nstatuses: {numbers['statuses']}; requests without an HTTP answer: {numbers['transport_kinds'] or 0}")


if __name__ == "__main__":
    main()
