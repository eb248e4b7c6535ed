"""How long `supportbot --help` takes (target: < 2 s), as a table. Run: python benchmarks/cli_startup.py."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time

RUNS = 10


def main() -> None:
    exe = shutil.which("supportbot")
    command = [exe, "--help"] if exe else [sys.executable, "-m", "supportbot", "--help"]
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    print(f"{'command':<22} {'runs':>5} {'p50 ms':>8} {'max ms':>8} {'target ms':>10}")
    print(f"{'supportbot --help':<22} {RUNS:>5} {statistics.median(timings):>8.0f} {timings[-1]:>8.0f} {2000:>10}")


if __name__ == "__main__":
    main()
