"""API keys with roles, stored hashed (in SQLite, or the shared PostgreSQL database), and which key owns which chat
session.

A key is ``sb_<id>_<secret>``: the id is public (lists, logs), the secret is 32 random bytes. Only the SHA-256 of
the whole key is stored; a random 256-bit secret needs no slow password hash, and a lookup is one indexed query.
Shared by the API process and ``supportbot keys``. With ``SUPPORTBOT_DATABASE_URL`` the tables live in PostgreSQL
(created by ``supportbot db upgrade``), so a key revoked through one API replica is refused by every other at once.
"""

from __future__ import annotations

import builtins
import calendar
import hashlib
import re
import secrets
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from api.passwords import (
    SCRYPT_N,
    check_password,
    hash_password,
    needs_rehash,
    password_problem,
    unknown_user_hash,
    validate_scrypt_n,
)
from graph.db import open_database

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
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created TEXT NOT NULL,
    disabled TEXT
);
"""
USER_PREFIX = "user:"
SIGNIN_HOURS = 12.0  # how long a console sign-in's key works (a working day), then the console asks again
# A key's name is shown to customers as their agent's name (in a Markdown banner): letters, digits, spaces and
# . @ : ' - only, so no name is a link or an image ("[Ana](//evil.example)" was accepted).
KEY_NAME = re.compile(r"[\w .@:'’-]{0,80}")
# A key as :meth:`KeyStore.create` makes it, anywhere in a text: group 1 is its public part (``sb_<id>_``), the rest
# its secret (the logs keep the first and drop the second).
KEY_IN_TEXT = re.compile(r"(?<![A-Za-z0-9])(sb_[0-9a-f]{12}_)[A-Za-z0-9_-]{16,}")


class ApiKeyError(ValueError):
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


def agent_identity(key: ApiKey) -> tuple[str, str]:
    """Who an agent is for the escalation lifecycle, and the name the customer sees: a console user is the same
    person across sign-ins (``user:<name>``); any other key is itself."""
    if key.name.startswith(USER_PREFIX):
        return key.name, key.name.removeprefix(USER_PREFIX)
    return key.id, key.name or key.id


def _now(at: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def _when(stamp: str) -> float:
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))


def _setup_sqlite(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)


class KeyStore:
    """The key, session-ownership and console-user tables; safe to share between threads."""

    def __init__(self, db_path: Path, *, database_url: str | None = None, pool_size: int = 10,
                 password_scrypt_n: int = SCRYPT_N, signin_hours: float = SIGNIN_HOURS) -> None:  # fmt: skip
        """Open the SQLite file ``db_path`` (created when missing), or the PostgreSQL database at ``database_url``.

        Args:
            db_path: the SQLite file (unused with ``database_url``).
            database_url: a ``postgresql://`` URL, or None for SQLite.
            pool_size: most PostgreSQL connections.
            password_scrypt_n: scrypt's cost for new password hashes (``api.passwords.SCRYPT_N``; tests lower it).
            signin_hours: how long a key from :meth:`sign_in` works (keys from :meth:`create` do not expire).

        Raises:
            graph.db.DatabaseUnavailable, graph.db.SchemaMissing: PostgreSQL is down, or not set up.
            ValueError: ``password_scrypt_n`` is not a power of two from 2^14 to 2^20, or ``signin_hours`` is not
                positive.
        """
        if not signin_hours > 0:
            raise ValueError(f"signin_hours must be > 0, got {signin_hours}")
        self.db_path = Path(db_path)
        self.password_scrypt_n = validate_scrypt_n(password_scrypt_n)
        self.signin_hours = float(signin_hours)
        self.db = open_database(database_url, self.db_path, _setup_sqlite, pool_size)

    def close(self) -> None:
        """Close the database connection (a PostgreSQL pool stays open for the process's other users)."""
        self.db.close()

    def create(self, role: str, name: str = "") -> tuple[ApiKey, str]:
        """Create a key with ``role``; returns the stored record and the key itself (shown only once).

        Raises:
            ApiKeyError: ``role`` is not customer, agent or admin, or ``name`` is not a plain name (``KEY_NAME``).
        """
        if role not in ROLES:
            raise ApiKeyError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        if not KEY_NAME.fullmatch(name):
            raise ApiKeyError(
                "a key's name is at most 80 letters, digits, spaces and . @ : ' - (customers may see it as their "
                "agent's name)"
            )
        key_id = secrets.token_hex(6)
        key = f"sb_{key_id}_{secrets.token_urlsafe(32)}"
        record = ApiKey(id=key_id, role=role, name=name, created=_now())
        with self.db.transaction() as cur:
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
        return [ApiKey(**row) for row in self.db.query(query + " ORDER BY created, id")]

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke the key ``key_id`` (revoking twice keeps the first time).

        Raises:
            ApiKeyError: no key has that id.
        """
        with self.db.transaction() as cur:
            cur.execute("UPDATE api_keys SET revoked = ? WHERE id = ? AND revoked IS NULL", (_now(), key_id))
            row = cur.execute(
                "SELECT id, role, name, created, revoked FROM api_keys WHERE id = ?", (key_id,)
            ).fetchone()
        if row is None:
            raise ApiKeyError(f"no API key with id {key_id!r}")
        return ApiKey(**dict(row))

    # A live key: not revoked, and not a sign-in's key older than ``signin_hours`` (the parameter: the cutoff,
    # :meth:`_cutoff`; ``created`` is an ISO UTC time, so that the text order is the time order). The prefix is
    # compared with case, as ``startswith`` does: SQLite's LIKE ignores it (a key named "User:Bob" expired there).
    _LIVE = f"revoked IS NULL AND (substr(name, 1, {len(USER_PREFIX)}) <> '{USER_PREFIX}' OR created >= ?)"

    def _cutoff(self) -> str:
        return _now(time.time() - self.signin_hours * 3600)

    def authenticate(self, key: str) -> ApiKey | None:
        """The live key record for ``key``, or None when it is unknown, revoked or an expired sign-in's."""
        row = self.db.one(
            f"SELECT id, role, name, created, revoked FROM api_keys WHERE key_hash = ? AND {self._LIVE}",
            (hash_key(key), self._cutoff()),
        )
        return ApiKey(**row) if row else None

    def expired(self, key: str) -> bool:
        """Whether ``key`` is a sign-in's key that is no longer live only because its hours are over."""
        row = self.db.one("SELECT name FROM api_keys WHERE key_hash = ? AND revoked IS NULL", (hash_key(key),))
        return row is not None and str(row["name"]).startswith(USER_PREFIX) and self.authenticate(key) is None

    def expires_at(self, record: ApiKey) -> str | None:
        """When ``record`` stops working: a sign-in's key ``signin_hours`` after it was made; None for others."""
        if not record.name.startswith(USER_PREFIX):
            return None
        return _now(_when(record.created) + self.signin_hours * 3600)

    def record_expired(self, record: ApiKey) -> bool:
        """Whether ``record`` is a sign-in's key past its ``signin_hours`` (:meth:`authenticate` refuses it)."""
        expires = self.expires_at(record)
        return expires is not None and expires < _now()

    def is_live(self, key_id: str) -> bool:
        """Whether the key ``key_id`` exists and is live (a long request checks it again as it runs)."""
        return self.db.one(f"SELECT id FROM api_keys WHERE id = ? AND {self._LIVE}", (key_id, self._cutoff())) \
            is not None  # fmt: skip

    def session_owner(self, session_id: str) -> str | None:
        """The id of the key that owns ``session_id``, or None when the session is new."""
        row = self.db.one("SELECT key_id FROM session_owners WHERE session_id = ?", (session_id,))
        return str(row["key_id"]) if row else None

    def claim_session(self, session_id: str, key_id: str) -> str:
        """Record ``key_id`` as the owner of ``session_id`` unless it has one; returns the owner."""
        with self.db.transaction() as cur:
            cur.execute(
                "INSERT INTO session_owners (session_id, key_id, created) VALUES (?, ?, ?)"
                " ON CONFLICT (session_id) DO NOTHING",
                (session_id, key_id, _now()),
            )
            row = cur.execute("SELECT key_id FROM session_owners WHERE session_id = ?", (session_id,)).fetchone()
        return str(row["key_id"])

    def set_user(self, username: str, password: str, role: str = "agent") -> None:
        """Create or update the console user ``username`` with ``role`` (its password stored as a scrypt hash).

        Every key the user got from sign-in is revoked in the same transaction: a password is reset because it
        leaked, or a role changed on purpose, and a key signed in with the old password (or with the old role) does
        not expire by itself.

        Raises:
            ApiKeyError: a bad role, an empty name, or a password the policy refuses
                (``api.passwords.password_problem``: the message says why, never the password).
        """
        if role not in ROLES or role == "customer":
            raise ApiKeyError(f"a console user's role must be agent or admin, got {role!r}")
        if not username.strip():
            raise ApiKeyError("a console user needs a name")
        problem = password_problem(password, username)
        if problem is not None:
            raise ApiKeyError(problem)
        hashed = hash_password(password, n=self.password_scrypt_n)
        with self.db.transaction() as cur:
            cur.execute(
                "INSERT INTO users (username, role, password_hash, created) VALUES (?, ?, ?, ?) ON CONFLICT(username)"
                " DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash, disabled = NULL",
                (username, role, hashed, _now()),
            )
            cur.execute("UPDATE api_keys SET revoked = ? WHERE name = ? AND revoked IS NULL",
                        (_now(), USER_PREFIX + username))  # fmt: skip

    def disable_user(self, username: str) -> None:
        """Stop ``username`` signing in to the console, and revoke the keys their sign-ins got (a leaver, a
        compromised account); :meth:`set_user` with a new password enables them again.

        Raises:
            ApiKeyError: no console user has that name.
        """
        with self.db.transaction() as cur:
            done = cur.execute("UPDATE users SET disabled = COALESCE(disabled, ?) WHERE username = ?",
                               (_now(), username))  # fmt: skip
            if not done.rowcount:
                raise ApiKeyError(f"no console user {username!r}: `supportbot keys users` lists them")
            cur.execute("UPDATE api_keys SET revoked = ? WHERE name = ? AND revoked IS NULL",
                        (_now(), USER_PREFIX + username))  # fmt: skip

    def users(self) -> builtins.list[dict[str, str | None]]:  # the method ``list`` shadows the builtin here
        """The console users (never their hashes)."""
        return self.db.query("SELECT username, role, created, disabled FROM users ORDER BY username")

    def verify_user(self, username: str, password: str) -> str | None:
        """The role of ``username`` when ``password`` is right and the user is enabled, else None.

        A right password whose hash is cheaper than :attr:`password_scrypt_n` (made before 2026-12, at n=2^14) is
        stored again at the current cost; a password shorter than today's policy still signs in.
        """
        row = self.db.one("SELECT role, password_hash FROM users WHERE username = ? AND disabled IS NULL", (username,))
        if row is None:
            check_password(password, unknown_user_hash(self.password_scrypt_n))  # as slow as for a known name
            return None
        stored = str(row["password_hash"])
        if not check_password(password, stored):
            return None
        if needs_rehash(stored, self.password_scrypt_n):
            fresh = hash_password(password, n=self.password_scrypt_n)  # outside the transaction: it takes 0.4 s
            with self.db.transaction() as cur:  # only if nobody changed it meanwhile
                cur.execute("UPDATE users SET password_hash = ? WHERE username = ? AND password_hash = ?",
                            (fresh, username, stored))  # fmt: skip
        return str(row["role"])

    def sign_in(self, username: str, password: str) -> tuple[ApiKey, str] | None:
        """A new key with the user's role, named ``user:<username>``, for one console session; None on a wrong
        name or password. The key is revoked when the session signs out, and stops working after ``signin_hours``."""
        role = self.verify_user(username, password)
        if role is None:
            return None
        return self.create(role, USER_PREFIX + username)
