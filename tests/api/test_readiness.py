"""Readiness tells the truth about the shared state: ``/readyz`` and ``supportbot_ready`` follow the PostgreSQL
server and Redis while the process serves, not only what loaded at start."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.config import ApiConfig
from api.runtime import SEE_LOG
from tests.postgres import PrivateServer, free_port, private_postgres  # noqa: F401


def _ready_gauge(client: TestClient) -> str:
    return next(line for line in client.get("/metrics").text.splitlines() if line.startswith("supportbot_ready "))


def _until_ready(client: TestClient, seconds: float = 60) -> int:
    """The status of /readyz once it is 200, or the last one after ``seconds`` (the pool reconnects by itself)."""
    deadline = time.monotonic() + seconds
    while True:
        status = client.get("/readyz").status_code
        if status == 200 or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def test_readiness_follows_the_state_database(
    api_config: ApiConfig,
    private_postgres: PrivateServer,  # noqa: F811
) -> None:
    # With PostgreSQL stopped mid-traffic every chat was a 503, yet /readyz said {"status": "ok"} and /metrics
    # supportbot_ready 1.0: a load balancer kept sending customers to the replica and no alert fired.
    from graph.db import upgrade
    from graph.service import ChatService

    upgrade(private_postgres.url)
    config = dataclasses.replace(api_config, database_url=private_postgres.url)
    with TestClient(create_app(config, service=ChatService(config.graph_config()))) as client:
        assert client.get("/readyz").status_code == 200 and _ready_gauge(client) == "supportbot_ready 1.0"
        private_postgres.stop()
        try:
            down = client.get("/readyz")
            gauge = _ready_gauge(client)
        finally:
            private_postgres.start()
        assert down.status_code == 503, down.text
        assert down.json()["detail"] == f"the state database is unavailable; {SEE_LOG}"
        assert down.headers["retry-after"] and str(private_postgres.port) not in down.text
        assert gauge == "supportbot_ready 0.0"
        assert _until_ready(client) == 200  # the same process, without a restart
        assert _ready_gauge(client) == "supportbot_ready 1.0"


@pytest.fixture
def redis_port() -> int:
    """A free loopback port for a redis-server the test starts and stops itself (skips without redis-server)."""
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server")
    pytest.importorskip("redis")
    return free_port()


def test_readiness_follows_redis(api_config: ApiConfig, chat_service: object, redis_port: int, tmp_path: Path) -> None:
    # SUPPORTBOT_REDIS_URL counts every request's rate limit: with Redis down every keyed request was a 503 while
    # /readyz said ok.
    config = dataclasses.replace(api_config, redis_url=f"redis://127.0.0.1:{redis_port}/0")
    with TestClient(create_app(config, service=chat_service)) as client:
        down = client.get("/readyz")
        assert down.status_code == 503, down.text
        assert down.json()["detail"] == f"the rate-limit store (Redis) is unavailable; {SEE_LOG}"
        assert down.headers["retry-after"] and _ready_gauge(client) == "supportbot_ready 0.0"
        server = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                   "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)  # fmt: skip
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", redis_port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            assert _until_ready(client) == 200
            assert _ready_gauge(client) == "supportbot_ready 1.0"
        finally:
            server.terminate()
            server.wait(timeout=10)
        assert client.get("/readyz").status_code == 503


@contextlib.contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """``folder`` read-only while the block runs, as a read-only volume is: a read-only bind mount over it when this
    runs as root (which file modes do not stop), its write bits off otherwise; skips where neither can be done."""
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(mode & ~0o222)
        try:
            yield
        finally:
            folder.chmod(mode)
        return
    if shutil.which("mount") is None:
        pytest.skip("running as root without mount: cannot make a folder read-only")
    bind = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if bind.returncode != 0:
        pytest.skip(f"cannot bind-mount (no CAP_SYS_ADMIN?): {bind.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder), str(folder)], check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True, capture_output=True)


def test_readiness_follows_a_writable_data_home(api_config: ApiConfig, chat_service: object) -> None:
    # The SQLite state (conversations, escalations, keys) lives in the data home: on a read-only volume (a mount
    # gone read-only after disk errors, a readOnly volume in a manifest) none of it can be written, yet /readyz said
    # ok and supportbot_ready was 1 (the SRE QA pass, 2026-12-08).
    with TestClient(create_app(api_config, service=chat_service)) as client:
        assert client.get("/readyz").status_code == 200
        with _read_only(api_config.home):
            with pytest.raises(OSError):  # the condition is real: nothing can be written in the home
                (api_config.home / "probe").touch()
            down = client.get("/readyz")
            gauge = _ready_gauge(client)
        assert down.status_code == 503, down.text
        assert down.json()["detail"] == f"the data home is not writable; {SEE_LOG}"
        assert down.headers["retry-after"] and str(api_config.home) not in down.text
        assert gauge == "supportbot_ready 0.0"
        assert client.get("/readyz").status_code == 200  # the same process, without a restart
        assert _ready_gauge(client) == "supportbot_ready 1.0"
        assert not [p.name for p in api_config.home.iterdir() if p.name.startswith(".supportbot-ready")]
