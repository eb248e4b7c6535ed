"""PostgreSQL for the tests: a fresh database per test module on the server named by SUPPORTBOT_TEST_DATABASE_URL
(`.ci/run` starts one), private servers for the outage tests, and Redis. Tests that need them skip, saying why,
when none is available, so `make test` passes on a machine without PostgreSQL.

Import the fixtures into a package's conftest: ``from tests.postgres import pg_url, state_backend  # noqa: F401``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ENV = "SUPPORTBOT_TEST_DATABASE_URL"
NO_SERVER = f"no PostgreSQL for the tests: set {ENV}=postgresql://user@127.0.0.1:5432/postgres (.ci/run does)"


def server_url() -> str | None:
    """The test server's URL (any database on it; the tests make their own), or None."""
    return os.environ.get(ENV) or None


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else "")


def create_database(prefix: str = "sbtest") -> str:
    """A new, empty database on the test server with the supportbot schema (``supportbot db upgrade``'s code)."""
    from graph.db import upgrade

    target = empty_database(prefix)
    upgrade(target)
    return target


def empty_database(prefix: str) -> str:
    """The URL of a new database on the test server, without any schema."""
    import psycopg

    url = server_url()
    if url is None:  # a user's `make test` without PostgreSQL: the test skips, saying why
        pytest.skip(NO_SERVER)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return _with_database(url, name)


def drop_database(url: str) -> None:
    """Drop a database made by :func:`create_database` (closing this process's pool on it first)."""
    import psycopg

    from graph.db import _pools, libpq_url

    pool = _pools.pop(libpq_url(url), None)
    if pool is not None:
        pool.close()
    server = server_url()
    assert server is not None
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1].split("?")[0]}" WITH (FORCE)')


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A fresh database with the schema, for one test module (skips without a server)."""
    url = create_database()
    yield url
    drop_database(url)


@pytest.fixture(params=["sqlite", "postgres"])
def state_backend(request: pytest.FixtureRequest) -> str | None:
    """None (SQLite files) or a PostgreSQL URL: run a test on both shared-state backends."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_url")
    return url


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bin(tool: str) -> str | None:
    found = shutil.which(tool)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{tool}"), reverse=True):
        return str(candidate)
    return None


class PrivateServer:
    """A PostgreSQL server of the test's own (initdb in a temp folder, loopback port) that it may stop and start;
    run as the ``postgres`` user when the tests run as root."""

    def __init__(self) -> None:
        initdb, self.pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if initdb is None or self.pg_ctl is None:
            pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found: install Debian's postgresql package")
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None or subprocess.run(["id", "postgres"], capture_output=True).returncode:
                pytest.skip("running as root without a 'postgres' user to run a private PostgreSQL server")
            self.prefix = [runuser, "-u", "postgres", "--"]
        # Not under pytest's tmp_path: its parents are private to root, and the server runs as postgres.
        self.folder = Path(tempfile.mkdtemp(prefix="supportbot-pg-"))
        if self.prefix:
            shutil.chown(self.folder, "postgres")
        self.data, self.port = self.folder / "pgdata", free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._run(initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def _run(self, *args: str) -> None:
        subprocess.run([*self.prefix, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        """Start (or restart) on the same port and data folder."""
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c max_connections=100"
        self._run(self.pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.data / "log"), "-w", "start")

    def stop(self) -> None:
        """Stop at once (``-m fast``: open sessions are cut, as a crash or failover would)."""
        self._run(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivateServer]:
    """A private PostgreSQL server, started; stopped and removed at the end of the module."""
    server = PrivateServer()
    server.start()
    yield server
    with contextlib.suppress(subprocess.CalledProcessError):  # already stopped by the test
        server.stop()
    shutil.rmtree(server.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SUPPORTBOT_TEST_REDIS_URL, or a private redis-server on a free loopback port; skips without either."""
    if os.environ.get("SUPPORTBOT_TEST_REDIS_URL"):
        yield os.environ["SUPPORTBOT_TEST_REDIS_URL"]
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no Redis: set SUPPORTBOT_TEST_REDIS_URL or install redis-server")
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir",
                                str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)
