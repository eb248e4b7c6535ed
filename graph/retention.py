"""Data retention: delete what the service keeps about conversations whose last activity is older than a number of
days (``supportbot db purge``), for an operator bound by a storage limit (GDPR art. 5(1)(e)).

A session is everything kept under its id: its LangGraph checkpoints (the redacted transcript and the state), its
escalations with their history and the messages exchanged with agents, its feedback, and which API key owns it
(``session_owners``). Its last activity is the newest time any of these was written (a checkpoint's ``ts``, an
escalation's creation or last transition, a stored message, a rating, the owner's claim). A session last active before
the cutoff goes whole; one with an open escalation (waiting for an agent, or assigned to one) stays, whatever its age,
unless ``include_open``: an agent may still be working the case. Knowledge gaps belong to no session: a question not
asked again since the cutoff goes.

Each session goes under its turn's lock (:func:`graph.db.session_key`, the lock ``ChatService`` takes: a message
arriving meanwhile waits), and its age is read again once the lock is held, so a session written to since the scan
stays. On PostgreSQL all of a session's rows, the checkpointer's included (its own ``delete_thread`` on the
transaction's connection), go in one transaction. SQLite keeps them in three files, which no transaction spans: the
store's rows go first, then the checkpoints (the saver's ``delete_thread``, one transaction), then the owner. A crash
between two leaves a session that reads as it would without what went (at worst its owner's empty conversation), and
the next purge finishes it, since its last activity only gets older. The SQLite lock is within a process: there, a
customer who comes back to a session at the very moment it is purged may find it gone.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from graph.db import Database, DatabaseError, Transaction, scrub_sqlite, session_key
from graph.store import ACTIVE, SupportStore

DAY_S = 86_400.0
MAX_DAYS = 36_500  # a hundred years: the cutoff stays a date every database and datetime can show
# A session's rows in the store, in the order they are deleted (the history before the escalations it hangs on).
_STORE_ROWS = (
    ("escalation_events", "escalation_events", "escalation_id IN (SELECT id FROM escalations WHERE session_id = ?)"),
    ("messages", "session_messages", "session_id = ?"),
    ("feedback", "feedback", "session_id = ?"),
)


class PurgeFailed(DatabaseError):
    """The purge stopped at one session (the database failed or refused a delete); ``report`` counts what was deleted
    before it (each of those sessions whole)."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class Activity:
    """What the scan learnt about one session."""

    last: float = float("-inf")  # epoch seconds of its newest row
    lang: str | None = None  # the customer's language (the checkpoint's, else the latest escalation's)
    active: bool = False  # an escalation waits for an agent or is assigned to one

    def saw(self, at: float | None) -> None:
        """A row written at ``at`` (None: undated, ignored)."""
        if at is not None:
            self.last = max(self.last, float(at))


def epoch(text: str | None) -> float | None:
    """An ISO 8601 time (a checkpoint's ``ts``, an owner's ``created``) as epoch seconds; an unreadable one is never
    old (infinity), so that nothing is deleted on a time that could not be read."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return float("inf")
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


Reader = Callable[[str, tuple[Any, ...]], list[dict[str, Any]]]


def _reader(tx: Transaction) -> Reader:
    """Reads in the transaction ``tx`` (a :meth:`graph.db.Database.query` that takes no transaction of its own)."""
    return lambda sql, args: [dict(row) for row in tx.execute(sql, args).fetchall()]


class Checkpoints:
    """The conversations in LangGraph's checkpointer: a ``SqliteSaver`` on its own file, or a ``PostgresSaver`` whose
    tables are in the store's database (``shared``: it reads and deletes on the connection of the session's
    transaction, given as ``tx``)."""

    def __init__(self, saver: Any, store_db: Database) -> None:
        self.saver = saver
        self.shared = store_db.kind == "postgres"
        self.db = store_db

    def _saver(self, tx: Transaction | None) -> Any:
        if not (self.shared and tx is not None):
            return self.saver
        from langgraph.checkpoint.postgres import PostgresSaver

        return PostgresSaver(tx.connection, serde=self.saver.serde)  # type: ignore[attr-defined]

    def threads(self) -> list[str]:
        """Every conversation's id."""
        sql = "SELECT DISTINCT thread_id FROM checkpoints"
        if self.shared:
            return [row["thread_id"] for row in self.db.query(sql)]
        with self.saver.cursor(transaction=False) as cursor:
            return [str(thread) for (thread,) in cursor.execute(sql).fetchall()]

    def latest(self, thread: str, tx: Transaction | None = None) -> tuple[float | None, str | None]:
        """When the conversation's newest checkpoint was written and its language (None, None: none)."""
        saved = self._saver(tx).get_tuple({"configurable": {"thread_id": thread, "checkpoint_ns": ""}})
        if saved is None:
            return None, None
        lang = (saved.checkpoint.get("channel_values") or {}).get("session_lang")
        return epoch(saved.checkpoint.get("ts")), str(lang) if lang else None

    def state(self, thread: str) -> dict[str, Any]:
        """The conversation's saved state (its newest checkpoint's channel values; empty when it has none)."""
        saved = self.saver.get_tuple({"configurable": {"thread_id": thread, "checkpoint_ns": ""}})
        return dict(saved.checkpoint.get("channel_values") or {}) if saved is not None else {}

    def count(self, thread: str, tx: Transaction | None) -> int:
        """The conversation's number of checkpoints."""
        sql = "SELECT COUNT(*) AS n FROM checkpoints WHERE thread_id = ?"
        if self.shared and tx is not None:
            return int(tx.execute(sql, (thread,)).fetchone()["n"])
        with self.saver.cursor(transaction=False) as cursor:
            return int(cursor.execute(sql, (thread,)).fetchone()[0])

    def delete(self, thread: str, tx: Transaction | None) -> None:
        """Delete the conversation's checkpoints, blobs and writes with the saver's own ``delete_thread`` (on
        PostgreSQL in ``tx``, so they go with the session's other rows or not at all)."""
        self._saver(tx).delete_thread(thread)


def _scan(store: Reader, checkpoints: Checkpoints, owners: Reader | None, cutoff: float, session: str | None = None,
          tx: Transaction | None = None) -> dict[str, Activity]:  # fmt: skip
    """Every session (or only ``session``) with what it keeps; a conversation's checkpoint is read only when nothing
    else of the session is recent already (reading one costs a deserialised state). ``tx``: the checkpointer's
    transaction, when it shares the store's."""
    where, args = ("session_id = ?", (session,)) if session is not None else ("session_id IS NOT NULL", ())
    found: dict[str, Activity] = {}
    for row in store(f"SELECT session_id, lang, status, created_at, updated_at FROM escalations WHERE {where}"
                     " ORDER BY created_at", args):  # fmt: skip
        seen = found.setdefault(row["session_id"], Activity())
        seen.saw(row["created_at"])
        seen.saw(row["updated_at"])
        seen.lang = row["lang"] or seen.lang
        seen.active = seen.active or row["status"] in ACTIVE
    for table in ("session_messages", "feedback"):
        for row in store(f"SELECT session_id, MAX(created_at) AS at FROM {table} WHERE {where} GROUP BY session_id",
                         args):  # fmt: skip
            found.setdefault(row["session_id"], Activity()).saw(row["at"])
    if owners is not None:
        for row in owners(f"SELECT session_id, created FROM session_owners WHERE {where}", args):
            found.setdefault(row["session_id"], Activity()).saw(epoch(row["created"]))
    for thread in [session] if session is not None else checkpoints.threads():
        seen = found.get(thread, Activity())
        if seen.last >= cutoff:
            continue
        at, lang = checkpoints.latest(thread, tx)
        if at is None and thread not in found:
            continue
        seen.saw(at)
        seen.lang = lang or seen.lang
        found[thread] = seen
    return found


def _counts() -> dict[str, Any]:
    """What a deletion reports, all zero: sessions and escalations per language, and rows of each kind."""
    return {"sessions": {"total": 0, "by_lang": {}}, "checkpoints": 0, "escalations": {"total": 0, "by_lang": {}},
            "escalation_events": 0, "messages": 0, "feedback": 0, "session_owners": 0}  # fmt: skip


def _report(days: int, cutoff: float, dry_run: bool, include_open: bool) -> dict[str, Any]:
    return {"older_than_days": days, "cutoff": datetime.fromtimestamp(cutoff, UTC).isoformat(timespec="seconds"),
            "dry_run": dry_run, "include_open": include_open, **_counts(), "gaps": {"total": 0, "by_lang": {}},
            "kept_open": {"total": 0, "by_lang": {}}}  # fmt: skip


def _add(report: dict[str, Any], kind: str, langs: list[str | None]) -> None:
    """Count ``langs`` (one per row) under ``kind``'s total and per language."""
    entry = report[kind]
    entry["total"] += len(langs)
    by_lang = Counter(entry["by_lang"]) + Counter(lang or "unknown" for lang in langs)
    entry["by_lang"] = dict(sorted(by_lang.items()))


def _store_rows(tx: Transaction, session: str, delete: bool) -> tuple[dict[str, int], list[str | None]]:
    """Delete (or count) the session's rows in the store: counts per kind, and the escalations' languages."""
    counts: dict[str, int] = {}
    for kind, table, where in _STORE_ROWS:
        if delete:
            counts[kind] = tx.execute(f"DELETE FROM {table} WHERE {where}", (session,)).rowcount
        else:
            counts[kind] = int(tx.execute(f"SELECT COUNT(*) AS n FROM {table} WHERE {where}",
                                          (session,)).fetchone()["n"])  # fmt: skip
    verb = "DELETE FROM escalations WHERE session_id = ? RETURNING lang" if delete else \
        "SELECT lang FROM escalations WHERE session_id = ?"  # fmt: skip
    return counts, [row["lang"] for row in tx.execute(verb, (session,)).fetchall()]


def _owner_rows(tx: Transaction, session: str, delete: bool) -> int:
    if delete:
        return tx.execute("DELETE FROM session_owners WHERE session_id = ?", (session,)).rowcount
    return int(tx.execute("SELECT COUNT(*) AS n FROM session_owners WHERE session_id = ?", (session,)).fetchone()["n"])


@dataclass
class _Run:
    """One purge: where the state is, what to delete, and the report it fills."""

    store_db: Database
    checkpoints: Checkpoints
    owners: Database | None
    cutoff: float
    include_open: bool
    delete: bool
    report: dict[str, Any]

    def session(self, session: str, scanned: Activity) -> None:
        """Delete (or count) one session, reading its age again first when deleting (``scanned``: what the scan
        read). On PostgreSQL the reading and every delete are one transaction; on SQLite the store's rows, the
        checkpoints and the owner go in turn."""
        store_db, checkpoints, owners = self.store_db, self.checkpoints, self.owners
        owners_shared = owners is not None and owners.kind == "postgres" and owners.url == store_db.url
        with store_db.transaction() as tx:
            seen: Activity | None = scanned
            if self.delete:
                owner_reader = _reader(tx) if owners_shared else owners.query if owners is not None else None
                seen = _scan(_reader(tx), checkpoints, owner_reader, self.cutoff, session, tx).get(session)
            if seen is None or seen.last >= self.cutoff:  # gone already, or written to since the scan
                return
            if seen.active and not self.include_open:
                _add(self.report, "kept_open", [seen.lang])
                return
            counts, langs = _store_rows(tx, session, self.delete)
            if checkpoints.shared:
                counts["checkpoints"] = checkpoints.count(session, tx)
                if self.delete:
                    checkpoints.delete(session, tx)
            if owners is not None and owners_shared:
                counts["session_owners"] = _owner_rows(tx, session, self.delete)
        if not checkpoints.shared:
            counts["checkpoints"] = checkpoints.count(session, None)
            if self.delete:
                checkpoints.delete(session, None)
        if owners is not None and not owners_shared:
            with owners.transaction() as owner_tx:
                counts["session_owners"] = _owner_rows(owner_tx, session, self.delete)
        _add(self.report, "sessions", [seen.lang])
        _add(self.report, "escalations", list(langs))
        for kind, n in counts.items():
            self.report[kind] += n


def _database_errors() -> tuple[type[Exception], ...]:
    import psycopg

    return DatabaseError, sqlite3.Error, psycopg.Error


def purge(store: SupportStore, saver: Any, days: int, *, owners: Database | None = None, include_open: bool = False,
          dry_run: bool = False, now: float | None = None) -> dict[str, Any]:  # fmt: skip
    """Delete every session last active more than ``days`` days before ``now`` and the knowledge gaps not seen since.

    Args:
        store: the support store (escalations, messages, feedback, gaps).
        saver: the LangGraph checkpointer of the same deployment (``SqliteSaver`` or ``PostgresSaver``).
        days: the age, in whole days (1 to :data:`MAX_DAYS`).
        owners: the database with the API's ``session_owners`` table (``api.keys.KeyStore.db``), if there is one.
        include_open: delete old sessions whose escalation waits for an agent or is assigned to one too (kept
            otherwise, and counted under ``kept_open``).
        dry_run: only count.
        now: the current time (epoch seconds; default the clock).

    Returns:
        ``{older_than_days, cutoff, dry_run, include_open, sessions, checkpoints, escalations, escalation_events,
        messages, feedback, session_owners, gaps, kept_open}``: ``sessions``, ``escalations``, ``gaps`` and
        ``kept_open`` are ``{total, by_lang}``, the others counts of rows.

    Raises:
        ValueError: ``days`` out of range.
        graph.db.DatabaseError: the scan failed (nothing was deleted); :class:`PurgeFailed` when a session's deletion
            failed, with what went before it.
    """
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be a whole number from 1 to {MAX_DAYS}, got {days}")
    cutoff = (time.time() if now is None else now) - days * DAY_S
    report = _report(days, cutoff, dry_run, include_open)
    checkpoints = Checkpoints(saver, store.db)
    errors = _database_errors()
    try:
        scanned = _scan(store.db.query, checkpoints, owners.query if owners is not None else None, cutoff)
    except errors as exc:
        raise DatabaseError(f"cannot read the state to purge: {' '.join(str(exc).split())}") from exc
    run = _Run(store.db, checkpoints, owners, cutoff, include_open, not dry_run, report)
    for session in sorted(s for s, seen in scanned.items() if seen.last < cutoff):
        try:
            # A dry run neither waits for turns in flight nor reads again what it just read.
            with contextlib.nullcontext() if dry_run else store.db.exclusive(session_key(session)):
                run.session(session, scanned[session])
        except errors as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise PurgeFailed(f"the purge stopped at session {session}: {reason}", report) from exc
    try:
        with store.db.transaction() as tx:
            verb = "DELETE FROM gaps WHERE last_seen < ? RETURNING lang" if not dry_run else \
                "SELECT lang FROM gaps WHERE last_seen < ?"  # fmt: skip
            _add(report, "gaps", [row["lang"] for row in tx.execute(verb, (cutoff,)).fetchall()])
    except errors as exc:
        raise PurgeFailed(f"the purge stopped at the knowledge gaps: {' '.join(str(exc).split())}", report) from exc
    if not dry_run:
        _scrub(store, saver, owners)
    return report


def _scrub(store: SupportStore, saver: Any, owners: Database | None) -> None:
    """No copy of what was deleted left in the SQLite files' write-ahead logs (:meth:`graph.db.Database.scrub`)."""
    for database in (store.db, owners):
        if database is not None:
            database.scrub()
    if isinstance(conn := getattr(saver, "conn", None), sqlite3.Connection):  # SqliteSaver's own file
        with getattr(saver, "lock", contextlib.nullcontext()):
            scrub_sqlite(conn)


def erase(store: SupportStore, saver: Any, sessions: list[str], *, owners: Database | None = None,
          dry_run: bool = False) -> dict[str, Any]:  # fmt: skip
    """Delete everything kept about ``sessions`` now, whatever their age or state (an escalation waiting for or
    assigned to an agent included): a customer's request to erase their data (GDPR art. 17), which a purge by age
    cannot serve. Each session goes as :func:`purge` deletes one (under its turn's lock; on PostgreSQL in one
    transaction), after which the API answers 404 for it.

    Args:
        store: the support store (escalations, messages, feedback).
        saver: the LangGraph checkpointer of the same deployment.
        sessions: the session ids; an id nothing is kept under is reported in ``not_found``.
        owners: the database with the API's ``session_owners`` table, if there is one.
        dry_run: only count.

    Returns:
        ``{dry_run, sessions, checkpoints, escalations, escalation_events, messages, feedback, session_owners,
        not_found}``: ``sessions`` and ``escalations`` are ``{total, by_lang}``, ``not_found`` a list of ids, the
        others counts of rows.

    Raises:
        graph.db.DatabaseError: the state could not be read (nothing was deleted); :class:`PurgeFailed` when a
            session's deletion failed, with what went before it.
    """
    report: dict[str, Any] = {"dry_run": dry_run, **_counts(), "not_found": []}
    checkpoints = Checkpoints(saver, store.db)
    errors = _database_errors()
    # Any age: the cutoff is the end of time, and an open escalation goes too.
    run = _Run(store.db, checkpoints, owners, float("inf"), True, not dry_run, report)
    owner_reader = owners.query if owners is not None else None
    for session in dict.fromkeys(sessions):  # each once, in the order given
        try:
            with contextlib.nullcontext() if dry_run else store.db.exclusive(session_key(session)):
                seen = _scan(store.db.query, checkpoints, owner_reader, float("inf"), session).get(session)
                if seen is None:
                    report["not_found"].append(session)
                    continue
                run.session(session, seen)
        except errors as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise PurgeFailed(f"the erasure stopped at session {session}: {reason}", report) from exc
    if not dry_run:
        _scrub(store, saver, owners)
    return report


def find_sessions(store: SupportStore, saver: Any, values: list[tuple[str, str]], pii_key: str | None) -> list[str]:
    """The sessions in which the customer gave any of ``values`` (``(type, value)`` pairs such as ``("EMAIL",
    "ana@example.es")``), for an erasure or access request by someone who knows their e-mail or phone, not their
    session ids.

    The state keeps no personal value, only each session's keyed hashes of those it redacted (its placeholder map and
    ``pii_hashes``, keyed with the session's salt and ``pii_key``, the deployment's ``SUPPORTBOT_PII_KEY``), so each
    value is hashed with every session's own key and looked up there; two spellings of one value match
    (:func:`finetune.pii.canonical`). A name matches every session in which that name was given.
    """
    from finetune.pii import pii_hash, session_secret, unkeyed_pii_hash

    checkpoints = Checkpoints(saver, store.db)
    # A conversation begun before salted hashes (an upgraded data home) keeps the plain SHA-256 of what was given
    # then, also once it goes on with a salt: the same for every session, hashed once.
    unkeyed = [unkeyed_pii_hash(kind, value) for kind, value in values]
    try:
        threads = checkpoints.threads()
        found = []
        for thread in sorted(threads):
            state = checkpoints.state(thread)
            keys = set(state.get("placeholders") or {}) | set(state.get("pii_hashes") or [])
            hashed = list(unkeyed)
            if state.get("pii_salt"):  # and with the salt alone: a conversation held before pii_key was set
                for key in dict.fromkeys([pii_key, None]):
                    secret = session_secret(key, str(state["pii_salt"]))
                    hashed += [pii_hash(kind, value, secret) for kind, value in values]
            if any(h in keys for h in hashed):
                found.append(thread)
    except _database_errors() as exc:
        raise DatabaseError(f"cannot read the state to search: {' '.join(str(exc).split())}") from exc
    return found
