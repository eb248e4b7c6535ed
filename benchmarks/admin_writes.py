"""How long an admin's article write takes through the API's runtime, until search and chat serve it, as a table.

Run from the project root (after ``make demo`` or ``supportbot kb ingest data/kb``)::

    python benchmarks/admin_writes.py [--index .supportbot/index] [--writes 6]

A copy of the index is written to (the original is untouched). Each write is ``POST /v1/kb/documents`` (one
article) or ``DELETE /v1/kb/documents/{id}`` as the API runs it (``api.runtime.Runtime``): the index write, then
search and chat switched to the new version, which refits the scope rail for it. A fit reuses the vectors of the
texts embedded for the last fit (``graph.scope._remembered``: in the process, else from the file that fit left in
the data home), so a server that loaded a cached rail does not pay the full embedding on its first write. Before
the service reloaded in place (2026-12-06), every write built a new service and re-embedded everything: 15-17 s a
write on the demo store.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=ROOT / ".supportbot" / "index")
    parser.add_argument("--writes", type=int, default=6, help="writes after the first (half ingests, half deletes)")
    args = parser.parse_args()
    if not (args.index / "CURRENT").exists():
        sys.exit(f"{args.index}: no index; build one with `supportbot kb ingest data/kb`")
    from api.config import ApiConfig
    from api.runtime import Runtime

    with tempfile.TemporaryDirectory(prefix="supportbot-bench-writes-") as folder:
        home = Path(folder)
        shutil.copytree(args.index, home / "index", ignore=shutil.ignore_patterns(".scope"))
        runtime = Runtime(ApiConfig(home=home, index_dir=home / "index", cache_dir=ROOT / ".supportbot"))
        started = time.perf_counter()
        runtime.load()
        loaded = time.perf_counter() - started
        timings: dict[str, list[float]] = {"first write (ingest)": [], "ingest": [], "delete": []}
        for i in range(args.writes + 1):
            doc_id = f"bench-write-{i // 2}"
            text = f"Zanzibar gift vouchers of series {i // 2} can be exchanged in any shop with the receipt."
            started = time.perf_counter()
            if i % 2 == 0:
                runtime.ingest_documents([{"id": doc_id, "lang": "en", "text": text}])
            else:
                runtime.delete_document(doc_id)
            kind = "first write (ingest)" if i == 0 else ("ingest" if i % 2 == 0 else "delete")
            timings[kind].append(time.perf_counter() - started)
            print(f"  write {i + 1}/{args.writes + 1} ({kind}): {timings[kind][-1]:.1f} s", file=sys.stderr)
    print(f"load average {os.getloadavg()[0]:.2f}; service loaded in {loaded:.1f} s (scope rail fitted for the copy)")
    print("\n| write | n | p50 s | max s |\n|---|---:|---:|---:|")
    for kind, values in timings.items():
        if values:
            print(f"| {kind} | {len(values)} | {statistics.median(values):.1f} | {max(values):.1f} |")


if __name__ == "__main__":
    main()
