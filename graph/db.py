"""Where shared state lives: SQLite files in the data home (the default), or one PostgreSQL database
(``SUPPORTBOT_DATABASE_URL=postgresql://...``) that every API replica shares.

The stores (:class:`graph.store.SupportStore`, ``api.keys.KeyStore``, the rate limiter) write one SQL dialect, the
part SQLite and PostgreSQL share, with ``?`` placeholders; :class:`Database` runs it on either. On PostgreSQL one
connection pool per process and URL serves every store and the LangGraph checkpointer, and the schema is created and
migrated only by ``supportbot db upgrade`` (Alembic, :mod:`graph.migrations`, plus the checkpointer's own
migrations): a process finds it missing or old and says so (:class:`SchemaMissing`) instead of creating it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

# Seconds a request waits for a pooled connection before it is answered 503 (the server is down or saturated).
POOL_TIMEOUT = 10.0


class DatabaseError(RuntimeError):
    """The shared-state database cannot be used; the message says why and what to do."""


class DatabaseUnavailable(DatabaseError):
    """The database server cannot be reached (down, restarting, out of connections)."""


class SchemaMissing(DatabaseError):
    """The database has no supportbot schema, or an older one: run ``supportbot db upgrade``."""


def is_postgres(url: str | None) -> bool:
    """Whether ``url`` names a PostgreSQL database (``postgresql://`` or ``postgres://``)."""
    return bool(url) and str(url).split(":", 1)[0] in ("postgresql", "postgres", "postgresql+psycopg")


def libpq_url(url: str) -> str:
    """``url`` as libpq (psycopg) reads it: without SQLAlchemy's ``+psycopg`` driver suffix."""
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


def redact_url(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}" if ":" in credentials else url


class Result(Protocol):
    """What :meth:`Transaction.execute` returns (a DB-API cursor)."""

    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Transaction(Protocol):
    """One open transaction: ``execute(sql, args)`` with ``?`` placeholders; rows read as mappings."""

    def execute(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> Result: ...


class KeyedLocks:
    """One re-entrant lock per key within a process (a key's lock is dropped when no thread holds or waits on it)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.RLock, int]] = {}
        self._mine = threading.local()  # .held: the keys this thread holds, with their depth

    def holds(self, key: str) -> bool:
        """Whether this thread holds ``key``'s lock (a re-entry)."""
        return bool(getattr(self._mine, "held", {}).get(key))

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """Hold ``key``'s lock for the block."""
        with self._guard:
            lock, users = self._locks.get(key, (threading.RLock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                held = self._mine.__dict__.setdefault("held", {})
                held[key] = held.get(key, 0) + 1
                try:
                    yield
                finally:
                    held[key] -= 1
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


_KEYED = KeyedLocks()  # made at import: a lazily made one could be made twice by two threads' first turns


def session_key(session_id: str) -> str:
    """The :meth:`Database.exclusive` key of a conversation's turn (held by ``ChatService`` and by the purge)."""
    return f"turn:{session_id}"


class Database:
    """A source of transactions on SQLite (one connection, one lock) or PostgreSQL (a shared pool)."""

    kind: str
    url: str

    @contextmanager
    def exclusive(self, key: str) -> Iterator[None]:
        """Run the block while no other holder of ``key`` runs (a conversation's turn: two turns of one session
        sent at once would each read the same saved state, and the later write would drop the other turn).
        Within this process; :class:`PostgresDatabase` also across every process sharing the database."""
        with _KEYED.hold(key):
            yield

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One transaction: committed when the block ends, rolled back on an exception."""
        raise NotImplementedError
        yield

    def query(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[dict[str, Any]]:
        """Every row of one read, as dicts."""
        with self.transaction() as tx:
            return [dict(row) for row in tx.execute(sql, args).fetchall()]

    def one(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> dict[str, Any] | None:
        """The first row of one read as a dict, or None."""
        rows = self.query(sql, args)
        return rows[0] if rows else None

    def close(self) -> None:
        """Release this store's hold on the database."""

    def scrub(self) -> None:
        """After deleting personal data: leave no copy of the deleted rows where this database keeps old pages (a
        SQLite file's write-ahead log, :func:`scrub_sqlite`). PostgreSQL keeps dead rows until VACUUM (docs/api.md)."""


def connect_private(path: Path) -> sqlite3.Connection:
    """A connection to the SQLite file ``path`` (created, with its folder, when missing), readable and writable by the
    owner only: conversations, escalations, key and password hashes live in these files. A new file is made ``0600``
    before SQLite opens it, and SQLite gives its ``-wal`` and ``-shm`` files the same mode; an existing one (and its
    ``-wal``/``-shm``) loses its group and other permissions. Under the usual umask (022) they were world-readable.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(OSError):  # missing, or another user's file (shared on purpose): left as it is
            if (mode := file.stat().st_mode & 0o777) & 0o077:
                file.chmod(mode & 0o700)
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
    conn.execute("PRAGMA secure_delete=ON")  # a deleted row's bytes are overwritten, not left in a free page
    return conn


def scrub_sqlite(conn: sqlite3.Connection) -> None:
    """Copy the write-ahead log of ``conn``'s file into it and empty the log: until SQLite's next automatic
    checkpoint the log kept the pages that had written rows deleted since (with the customer's words). Readers of the
    file in other processes are waited for as SQLite's busy timeout allows; a log still in use is emptied later, at
    the next checkpoint."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


class SqliteDatabase(Database):
    """One SQLite file (WAL), one connection shared by the threads of a process under a lock."""

    kind = "sqlite"

    def __init__(self, path: Path, setup: Callable[[sqlite3.Connection], None] | None = None) -> None:
        """Open (creating when needed) ``path`` and run ``setup`` (the store's ``CREATE TABLE IF NOT EXISTS``)."""
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self._lock = threading.Lock()
        self._db = connect_private(self.path)
        self._db.row_factory = sqlite3.Row
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            if setup is not None:
                setup(self._db)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._lock, self._db:
            yield self._db  # type: ignore[misc]  # sqlite3.Connection.execute has the Transaction shape

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def scrub(self) -> None:
        with self._lock:
            scrub_sqlite(self._db)


_pools: dict[str, Any] = {}
_pools_lock = threading.Lock()


def shared_pool(url: str, size: int = 10, purpose: str = "state") -> Any:
    """The process's ``psycopg_pool.ConnectionPool`` for ``url`` (made on first use; shared by every store and the
    checkpointer). Connections are autocommit with dict rows, as ``langgraph-checkpoint-postgres`` needs, and are
    checked before each use, so the pool recovers by itself after the server restarts. ``purpose`` "locks" is a
    second pool whose connections each hold a session's advisory lock for a whole turn
    (:meth:`PostgresDatabase.exclusive`): apart, so turns holding locks never starve the state's own queries.

    Raises:
        DatabaseUnavailable: no connection could be made within :data:`POOL_TIMEOUT` seconds.
    """
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool, PoolTimeout

    url = libpq_url(url)
    key = url if purpose == "state" else f"{url}#{purpose}"
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None or pool.closed:
            _probe_connection(url)
            pool = ConnectionPool(
                url, min_size=1, max_size=max(2, size), timeout=POOL_TIMEOUT, open=False, name=f"supportbot-{purpose}",
                kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
                check=ConnectionPool.check_connection,
                # psycopg_pool retries a failed connection with a doubling delay until reconnect_timeout: a short one
                # bounds how long the pool sleeps after the server is back (new requests start new attempts).
                reconnect_timeout=5.0,
            )  # fmt: skip
            pool.open(wait=False)
            try:
                pool.wait(timeout=POOL_TIMEOUT)
            except PoolTimeout as exc:
                pool.close()
                raise DatabaseUnavailable(f"cannot connect to the database at {redact_url(url)}: {exc}") from None
            _pools[key] = pool
    return pool


def _probe_connection(url: str) -> None:
    """Fail at once, with libpq's reason, when the server cannot be reached (the pool would retry for seconds)."""
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split())
        raise DatabaseUnavailable(f"cannot connect to the database at {redact_url(url)}: {reason}") from None


def close_pools() -> None:
    """Close every shared pool (tests, and processes that end)."""
    with _pools_lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()


class _PgTransaction:
    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.connection = conn  # the psycopg connection, for a library that takes one (the checkpointer's delete)

    def execute(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> Any:
        return self._conn.execute(sql.replace("%", "%%").replace("?", "%s"), tuple(args))


class PostgresDatabase(Database):
    """Transactions on a connection of the process's shared pool; errors of a lost server become
    :class:`DatabaseUnavailable`."""

    kind = "postgres"
    pool_size = 10

    def __init__(self, url: str, pool_size: int = 10) -> None:
        """Connect (through the shared pool) and check the schema is at the version this code needs.

        Raises:
            DatabaseUnavailable: the server cannot be reached.
            SchemaMissing: ``supportbot db upgrade`` has not been run on this database (or not since an upgrade).
        """
        self.url = libpq_url(url)
        self.pool_size = pool_size
        self.pool = shared_pool(self.url, pool_size)
        check_schema(self)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with translate_errors(), self.pool.connection() as conn, conn.transaction():
            yield _PgTransaction(conn)

    @contextmanager
    def exclusive(self, key: str) -> Iterator[None]:
        """As :meth:`Database.exclusive`, across processes too: a PostgreSQL advisory lock on the key's hash, held
        on one connection of the locks pool for the block (released with the connection if the process dies).
        Re-entrant: a thread that holds the key already holds the advisory lock."""
        if _KEYED.holds(key):
            yield
            return
        locks = shared_pool(self.url, 2 * self.pool_size, purpose="locks")
        with super().exclusive(key), translate_errors(), locks.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (key,))
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))


def unavailable_errors() -> tuple[type[Exception], ...]:
    """The exception types that mean "the state database (or Redis) is down", for a 503 instead of a 500."""
    import psycopg
    from psycopg_pool import PoolTimeout

    found: list[type[Exception]] = [DatabaseUnavailable, psycopg.OperationalError, PoolTimeout]
    try:
        import redis

        found.append(redis.ConnectionError)
    except ImportError:  # redis is only needed with SUPPORTBOT_REDIS_URL
        pass
    return tuple(found)


# SQLite's primary result codes that mean the file, not the statement, failed: read-only, I/O error, full, cannot open
_STORAGE_FAULTS = {8, 10, 13, 14}


def sqlite_storage_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite failing to write (or open) its file: a full disk (``database or disk is full``), a
    read-only mount (``attempt to write a readonly database``), an I/O error; not a fault of the SQL itself."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.OperationalError) and code is not None and code & 0xFF in _STORAGE_FAULTS


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn a lost server (psycopg's OperationalError, a pool timeout) into :class:`DatabaseUnavailable`."""
    errors = unavailable_errors()
    try:
        yield
    except DatabaseError:
        raise
    except errors as exc:
        raise DatabaseUnavailable(
            f"the state database is unavailable: {str(exc).strip() or type(exc).__name__}"
        ) from exc


def open_database(url: str | None, sqlite_path: Path, setup: Callable[[sqlite3.Connection], None] | None = None,
                  pool_size: int = 10) -> Database:  # fmt: skip
    """PostgreSQL when ``url`` is a ``postgresql://`` URL, else the SQLite file ``sqlite_path`` (with ``setup``)."""
    if url and not is_postgres(url):
        raise DatabaseError(f"unsupported database URL {redact_url(url)!r}: use postgresql://user:pass@host:5432/db")
    if url:
        return PostgresDatabase(url, pool_size)
    return SqliteDatabase(sqlite_path, setup)


# --- the schema (PostgreSQL): Alembic revisions in graph/migrations plus the checkpointer's own migrations --------


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.set_main_option("sqlalchemy.url", "postgresql+psycopg://" + libpq_url(url).split("://", 1)[1])
    return config


def schema_head() -> str:
    """The newest Alembic revision this code knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config("postgresql://x")).get_current_head()
    assert head is not None
    return head


def _checkpointer_version() -> int:
    from langgraph.checkpoint.postgres import PostgresSaver

    return len(PostgresSaver.MIGRATIONS) - 1


def schema_state(db: Database) -> dict[str, Any]:
    """``{"revision", "head", "checkpoints", "checkpoints_head", "current"}`` of a PostgreSQL database."""
    with db.transaction() as tx:
        found = {row["name"] for row in tx.execute(
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()"
            " AND table_name IN ('alembic_version', 'checkpoint_migrations')").fetchall()}  # fmt: skip
        revision = checkpoints = None
        if "alembic_version" in found:
            row = tx.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row["version_num"] if row else None
        if "checkpoint_migrations" in found:
            checkpoints = tx.execute("SELECT max(v) AS v FROM checkpoint_migrations").fetchone()["v"]
    head, checkpoints_head = schema_head(), _checkpointer_version()
    return {"revision": revision, "head": head, "checkpoints": checkpoints, "checkpoints_head": checkpoints_head,
            "current": revision == head and checkpoints == checkpoints_head}  # fmt: skip


def check_schema(db: Database) -> None:
    """Raise :class:`SchemaMissing` unless the database's schema is the one this code needs."""
    state = schema_state(db)
    if not state["current"]:
        have = f"revision {state['revision']}" if state["revision"] else "no supportbot schema"
        raise SchemaMissing(
            f"the database at {redact_url(db.url)} has {have} (this version needs {state['head']}, checkpoints "
            f"{state['checkpoints_head']}): run `supportbot db upgrade` with the same SUPPORTBOT_DATABASE_URL"
        )


def upgrade(url: str) -> dict[str, Any]:
    """Create or migrate the whole schema of a PostgreSQL database: the stores' tables (Alembic) and the
    checkpointer's (its own versioned migrations). Safe to run again; returns the state before and after.

    Raises:
        DatabaseUnavailable: the server cannot be reached.
    """
    from alembic import command
    from langgraph.checkpoint.postgres import PostgresSaver

    if not is_postgres(url):
        raise DatabaseError(f"not a PostgreSQL URL: {redact_url(url)!r}")
    with translate_errors():
        pool = shared_pool(url, 2)
        probe = SchemaProbe(url, pool)
        # Two upgrades at once (two deploy jobs, an init container per replica) would both create the tables and
        # the loser fail on a duplicate: one runs at a time, under an advisory lock held on a connection of its own
        # for the whole upgrade, and the next one reads the schema only once it holds the lock (already current).
        with pool.connection() as lock:
            _take_upgrade_lock(lock)
            try:
                before = schema_state(probe)
                command.upgrade(_alembic_config(url), "head")
                PostgresSaver(pool).setup()
                after = schema_state(probe)
            finally:
                lock.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (_UPGRADE_LOCK,))
    return {"before": before, "after": after}


_UPGRADE_LOCK = "supportbot:db-upgrade"
UPGRADE_WAIT = 900.0  # seconds one upgrade waits for another to finish


def _take_upgrade_lock(conn: Any) -> None:
    """Take the upgrade's advisory lock on ``conn``, polling: a session blocked in ``pg_advisory_lock`` holds a
    snapshot, and the checkpointer's ``CREATE INDEX CONCURRENTLY`` in the upgrade that holds the lock waits for every
    such snapshot to end (a deadlock PostgreSQL does not detect).

    Raises:
        DatabaseError: another upgrade held the lock for :data:`UPGRADE_WAIT` seconds.
    """
    import time

    deadline = time.monotonic() + UPGRADE_WAIT
    while not conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0)) AS taken",
                           (_UPGRADE_LOCK,)).fetchone()["taken"]:  # fmt: skip
        if time.monotonic() > deadline:
            raise DatabaseError(f"another `supportbot db upgrade` has held the schema's lock for {UPGRADE_WAIT:.0f} s;"
                                " wait for it to finish, then run this one again")  # fmt: skip
        time.sleep(0.25)


class SchemaProbe(PostgresDatabase):
    """A PostgresDatabase that skips the schema check (used to read the schema's state)."""

    def __init__(self, url: str, pool: Any) -> None:
        self.url, self.pool = libpq_url(url), pool
