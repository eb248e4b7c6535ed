"""Several real `supportbot serve` processes on one PostgreSQL database, and a bounded loopback load driver.

Used by tests/api/test_replicas.py (short run) and benchmarks/replicas_load.py (the 50 sessions x 5 minutes run).
Each replica gets its own data home, so nothing can be shared through SQLite files: only the database (and the
read-only index folder, as a shared volume or Elasticsearch would be) is common. The homes link the read-only
caches (embedder exports, the spaCy model) of ``cache_home`` so a replica starts without re-exporting them.
"""

from __future__ import annotations

import os
import random
import re
import string
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.postgres import free_port

STATE_FILES = ("checkpoints.sqlite", "support.sqlite", "api")  # what a replica must NOT write with a database URL


@dataclass
class Replica:
    """One API process."""

    url: str
    home: Path
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, lines: int = 30) -> str:
        """The end of the process's log."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

    def stop(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _replica_home(folder: Path, cache_home: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if cache_home.is_dir():
        for entry in cache_home.iterdir():
            if entry.name not in (*STATE_FILES, "index", "logs") and not entry.name.endswith(
                (".sqlite", "-wal", "-shm")
            ):
                (folder / entry.name).symlink_to(entry.resolve())
    return folder


def start_replicas(database_url: str, index_dir: Path, work: Path, cache_home: Path, *, count: int = 2,
                   rate_limit: int = 1_000_000, timeout: float = 900.0, env: dict[str, str] | None = None
                   ) -> list[Replica]:  # fmt: skip
    """Start ``count`` replicas one after the other (the first fits and caches the scope rail for the index, the
    next ones load it) and wait until each answers ``/readyz``.

    Raises:
        RuntimeError: a replica exited or was not ready within ``timeout`` seconds (with its log).
    """
    replicas: list[Replica] = []
    for number in range(count):
        home = _replica_home(work / f"replica-{number + 1}", cache_home)
        port = free_port()
        environment = {
            **os.environ, **(env or {}), "SUPPORTBOT_HOME": str(home), "SUPPORTBOT_INDEX_DIR": str(index_dir),
            "SUPPORTBOT_DATABASE_URL": database_url, "SUPPORTBOT_RATE_LIMIT_PER_MINUTE": str(rate_limit),
            "SUPPORTBOT_GENERATOR": "extractive", "SUPPORTBOT_MODE": "rag", "HF_HUB_OFFLINE": "1",
            "SUPPORTBOT_PII_KEY": "replicas-share-this-key",
        }  # fmt: skip
        log = work / f"replica-{number + 1}.log"
        with log.open("wb") as handle:
            process = subprocess.Popen([sys.executable, "-m", "supportbot", "serve", "--port", str(port)],
                                       env=environment, stdout=handle, stderr=subprocess.STDOUT)  # fmt: skip
        replica = Replica(f"http://127.0.0.1:{port}", home, process, log)
        replicas.append(replica)
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                for started in replicas:
                    started.stop()
                raise RuntimeError(f"replica {number + 1} exited ({process.returncode}):\n{replica.log_tail()}")
            try:
                if httpx.get(f"{replica.url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                for started in replicas:
                    started.stop()
                raise RuntimeError(f"replica {number + 1} not ready in {timeout:.0f} s:\n{replica.log_tail()}")
            time.sleep(1.0)
    return replicas


QUESTIONS = [
    "How long does standard shipping take?",
    "¿Cómo devuelvo un producto?",
    "Can I change the delivery address of my order?",
    "¿Cuánto tarda el reembolso?",
    "How do I get an invoice for my order?",
    "¿Puedo pagar con PayPal?",
    "and how much does it cost?",
    "¿y si el paquete llega dañado?",
]
_MARK = re.compile(r"\bref ([a-z]{6})\b")


def _marker(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(6))


@dataclass
class LoadReport:
    """What a load run saw."""

    sessions: int
    seconds: float
    turns: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    transport_errors: int = 0
    transport_kinds: dict[str, int] = field(default_factory=dict)  # exception class -> count
    lost: int = 0  # a message the session sent that its transcript does not have
    leaked: int = 0  # a message in a session's transcript that another session sent
    reordered: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    per_replica: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def transport(self, exc: Exception) -> None:
        """Count a request that got no HTTP answer (refused, reset, timed out), by kind."""
        with self.lock:
            self.transport_errors += 1
            self.transport_kinds[type(exc).__name__] = self.transport_kinds.get(type(exc).__name__, 0) + 1

    @property
    def server_errors(self) -> int:
        """Responses with a 5xx status."""
        return sum(n for status, n in self.statuses.items() if status >= 500)


def run_load(replicas: list[str], keys: list[str], seconds: float, *, seed: int = 7, check_every: int = 1,
             request_timeout: float = 300.0, pace: float = 0.0) -> LoadReport:  # fmt: skip
    """One thread per session (one key each), each sending chat turns for ``seconds``, alternating replicas; after
    every ``check_every`` turns it reads its transcript from the other replica and checks that exactly its own
    messages are there, in order. A session starts a turn at most every ``pace`` seconds (a customer's typing
    speed: a fast machine must not push a key over the servers' rate limit). Nothing is retried: every non-200
    answer is counted."""
    report = LoadReport(sessions=len(keys), seconds=seconds)
    deadline = time.monotonic() + seconds

    def session(number: int, key: str) -> None:
        rng = random.Random(seed * 1000 + number)
        session_id = f"load-{seed}-{number}-{_marker(rng)}"
        sent: list[str] = []
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(timeout=request_timeout) as client:
            turn = 0
            next_turn = time.monotonic()
            while time.monotonic() < deadline:
                time.sleep(max(0.0, next_turn - time.monotonic()))
                next_turn = time.monotonic() + pace
                marker = _marker(rng)
                target = replicas[(number + turn) % len(replicas)]
                message = f"{rng.choice(QUESTIONS)} (ref {marker})"
                started = time.perf_counter()
                try:
                    response = client.post(f"{target}/v1/chat", json={"message": message, "session_id": session_id},
                                           headers=headers)  # fmt: skip
                except httpx.TransportError as exc:
                    report.transport(exc)
                    continue
                elapsed = (time.perf_counter() - started) * 1000
                with report.lock:
                    report.statuses[response.status_code] = report.statuses.get(response.status_code, 0) + 1
                    if response.status_code == 200:
                        report.turns += 1
                        report.latencies_ms.append(elapsed)
                        report.per_replica[target] = report.per_replica.get(target, 0) + 1
                if response.status_code == 200:
                    sent.append(marker)
                turn += 1
                if turn % check_every == 0 or time.monotonic() >= deadline:
                    _check(client, replicas[(number + turn) % len(replicas)], session_id, headers, sent, report)

    threads = [threading.Thread(target=session, args=(n, key)) for n, key in enumerate(keys)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return report


def _check(client: httpx.Client, replica: str, session_id: str, headers: dict[str, str], sent: list[str],
           report: LoadReport) -> None:  # fmt: skip
    try:
        response = client.get(f"{replica}/v1/sessions/{session_id}", headers=headers)
    except httpx.TransportError as exc:
        report.transport(exc)
        return
    with report.lock:
        report.statuses[response.status_code] = report.statuses.get(response.status_code, 0) + 1
    if response.status_code != 200:
        return
    seen = [m for message in response.json()["messages"] if message.get("role") == "user"
            for m in _MARK.findall(str(message.get("content", "")))]  # fmt: skip
    with report.lock:
        report.lost += len(set(sent) - set(seen))
        report.leaked += len(set(seen) - set(sent))
        if [m for m in seen if m in sent] != [m for m in sent if m in seen]:
            report.reordered += 1


def summary(report: LoadReport) -> dict[str, Any]:
    """The report's numbers (p50/p95 turn latency in ms)."""
    import numpy as np

    latencies = np.asarray(report.latencies_ms or [0.0])
    return {"sessions": report.sessions, "seconds": report.seconds, "turns": report.turns,
            "statuses": dict(sorted(report.statuses.items())), "5xx": report.server_errors,
            "transport_errors": report.transport_errors, "transport_kinds": report.transport_kinds,
            "lost": report.lost, "leaked": report.leaked, "reordered": report.reordered,
            "turns_per_replica": sorted(report.per_replica.values()),
            "p50_ms": round(float(np.percentile(latencies, 50)), 1),
            "p95_ms": round(float(np.percentile(latencies, 95)), 1)}  # fmt: skip
