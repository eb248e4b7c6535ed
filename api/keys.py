"""API keys with roles, stored hashed in SQLite, and which key owns which chat session.

A key is ``sb_<id>_<secret>``: the id is public (lists, logs), the secret is 32 random bytes. Only the SHA-256 of
the whole key is stored; a random 256-bit secret needs no slow password hash, and a lookup is one indexed query.
Shared by the API process and ``supportbot keys`` (stdlib only, so the CLI stays fast).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

Role = Literal["customer", "agent", "admin"]
ROLES: tuple[Role, ...] = ("customer", "agent", "admin")
# Each role may do everything the roles before it may do.
RANK = {role: rank for rank, role in enumerate(ROLES)}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    key_hash TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    revoked TEXT
);
CREATE TABLE IF NOT EXISTS session_owners (
    session_id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    created TEXT NOT NULL
);
"""


class KeyError_(ValueError):
    """A key operation that cannot be done (unknown id, bad role); the message says why."""


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret."""

    id: str
    role: Role
    name: str
    created: str
    revoked: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        """JSON-ready fields."""
        return asdict(self)


def hash_key(key: str) -> str:
    """The stored form of ``key``: its SHA-256, hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class KeyStore:
    """The key and session-ownership tables of one SQLite file; safe to share between threads."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    @contextmanager
    def _cursor(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cursor = self._db.cursor()
            try:
                yield cursor
            finally:
                cursor.close()

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def create(self, role: str, name: str = "") -> tuple[ApiKey, str]:
        """Create a key with ``role``; returns the stored record and the key itself (shown only once).

        Raises:
            KeyError_: ``role`` is not customer, agent or admin.
        """
        if role not in ROLES:
            raise KeyError_(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        key_id = secrets.token_hex(6)
        key = f"sb_{key_id}_{secrets.token_urlsafe(32)}"
        record = ApiKey(id=key_id, role=role, name=name, created=_now())
        with self._cursor() as cur:
            cur.execute(
                "INSERT INTO api_keys (id, role, name, key_hash, created) VALUES (?, ?, ?, ?, ?)",
                (record.id, record.role, record.name, hash_key(key), record.created),
            )
        return record, key

    def list(self, include_revoked: bool = True) -> list[ApiKey]:
        """Every key, oldest first (never the secret)."""
        query = "SELECT id, role, name, created, revoked FROM api_keys"
        if not include_revoked:
            query += " WHERE revoked IS NULL"
        with self._cursor() as cur:
            rows = cur.execute(query + " ORDER BY created, id").fetchall()
        return [ApiKey(*row) for row in rows]

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke the key ``key_id`` (revoking twice keeps the first time).

        Raises:
            KeyError_: no key has that id.
        """
        with self._cursor() as cur:
            cur.execute("UPDATE api_keys SET revoked = ? WHERE id = ? AND revoked IS NULL", (_now(), key_id))
            row = cur.execute(
                "SELECT id, role, name, created, revoked FROM api_keys WHERE id = ?", (key_id,)
            ).fetchone()
        if row is None:
            raise KeyError_(f"no API key with id {key_id!r}")
        return ApiKey(*row)

    def authenticate(self, key: str) -> ApiKey | None:
        """The live key record for ``key``, or None when it is unknown or revoked."""
        with self._cursor() as cur:
            row = cur.execute(
                "SELECT id, role, name, created, revoked FROM api_keys WHERE key_hash = ? AND revoked IS NULL",
                (hash_key(key),),
            ).fetchone()
        return ApiKey(*row) if row else None

    def session_owner(self, session_id: str) -> str | None:
        """The id of the key that owns ``session_id``, or None when the session is new."""
        with self._cursor() as cur:
            row = cur.execute("SELECT key_id FROM session_owners WHERE session_id = ?", (session_id,)).fetchone()
        return row[0] if row else None

    def claim_session(self, session_id: str, key_id: str) -> str:
        """Record ``key_id`` as the owner of ``session_id`` unless it has one; returns the owner."""
        with self._cursor() as cur:
            cur.execute(
                "INSERT OR IGNORE INTO session_owners (session_id, key_id, created) VALUES (?, ?, ?)",
                (session_id, key_id, _now()),
            )
            row = cur.execute("SELECT key_id FROM session_owners WHERE session_id = ?", (session_id,)).fetchone()
        return str(row[0])
