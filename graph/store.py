"""SupportStore: escalations to human agents (their lifecycle and history), the messages exchanged while a person
owns a conversation, customer feedback and knowledge gaps, in one thread-safe SQLite file.

Lifecycle: ``open -> assigned -> resolved`` (or ``returned`` to the bot; ``release`` puts an assigned escalation
back in the queue as ``open``). Every transition is one conditional ``UPDATE ... WHERE status = ...`` in the same
transaction as its history row, so two agents claiming at once yield exactly one winner, also across processes.
The SQL sticks to what SQLite and PostgreSQL share (no ``INSERT OR``, no ``PRAGMA`` outside the setup).

Messages: the bot's turns live in the graph's checkpointer; the customer's messages while a person owns the session
and the agent's replies (and drafts) live here, each anchored after the number of graph messages that existed when
it was written (``after_turns``), so :meth:`SupportStore.transcript` merges both in order.

Storage: a SQLite file in the data home by default; with a ``postgresql://`` URL the tables of the shared database
(created by ``supportbot db upgrade``), so every API replica sees the same escalations (:mod:`graph.db`).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from graph.db import Transaction, open_database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS escalations (id TEXT PRIMARY KEY, session_id TEXT, lang TEXT, reason TEXT,
    transcript TEXT, status TEXT, created_at REAL);
CREATE TABLE IF NOT EXISTS escalation_events (id TEXT PRIMARY KEY, escalation_id TEXT NOT NULL, action TEXT NOT NULL,
    status TEXT NOT NULL, actor TEXT NOT NULL, note TEXT, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS session_messages (id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, escalation_id TEXT,
    role TEXT NOT NULL, content TEXT NOT NULL, author TEXT, after_turns INTEGER NOT NULL, draft INTEGER NOT NULL,
    meta TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS feedback (id TEXT PRIMARY KEY, session_id TEXT, turn TEXT, rating TEXT, comment TEXT,
    created_at REAL);
CREATE TABLE IF NOT EXISTS gaps (question TEXT, lang TEXT, count INTEGER, last_seen REAL,
    PRIMARY KEY (question, lang));
CREATE INDEX IF NOT EXISTS escalations_by_session ON escalations (session_id, status);
CREATE INDEX IF NOT EXISTS escalation_events_by_escalation ON escalation_events (escalation_id, at);
CREATE INDEX IF NOT EXISTS session_messages_by_session ON session_messages (session_id, id);
"""
# Columns added to the first version of the escalations table (a store written before the lifecycle existed, or
# before waiting_since).
_ADDED_COLUMNS = (("assigned_to", "TEXT"), ("assigned_name", "TEXT"), ("updated_at", "REAL"), ("note", "TEXT"),
                  ("waiting_since", "REAL"))  # fmt: skip
STATUSES = ("open", "assigned", "resolved", "returned")
ACTIVE = ("open", "assigned")  # a session has at most one active escalation
# waiting_since: since when the customer has been waiting for a person's reply. Set to the hand-off's time when the
# case opens; an agent's reply (not a draft) clears it, and the customer's next message sets it again (the first
# unanswered one counts): each in the transaction that writes the message. Only an open or assigned case has one (a
# closed case's customer talks to the bot). The queue's age filter and its "oldest first" go by it; until 2026-12-06
# they went by created_at, so a case answered a minute ago sorted by when it was opened, and a customer writing
# again after an agent's reply an hour ago counted as waiting since the hand-off.
_WAITING = "(CASE WHEN status IN ('open', 'assigned') THEN waiting_since END)"
# The same, computed from the stored messages: what a store written before the column holds (the SQLite setup and
# the Alembic revision 0003 fill the new column with it, once).
WAITING_SINCE_FROM_MESSAGES = (
    "UPDATE escalations SET waiting_since = CASE WHEN (SELECT MAX(r.id) FROM session_messages r WHERE "
    "r.escalation_id = escalations.id AND r.role = 'agent' AND r.draft = 0) IS NULL THEN created_at ELSE "
    "(SELECT MIN(w.created_at) FROM session_messages w WHERE w.escalation_id = escalations.id AND w.role = 'user' "
    "AND w.id > (SELECT MAX(r.id) FROM session_messages r WHERE r.escalation_id = escalations.id AND "
    "r.role = 'agent' AND r.draft = 0)) END WHERE status IN ('open', 'assigned')"
)
# queued_at: when the case last entered the queue (opened, or released back to it); the console's "waiting" counted
# from created_at, so a case an agent released after an hour read as waiting an hour the moment it came back.
_ESCALATION_COLUMNS = "id, session_id, lang, reason, transcript, status, created_at, assigned_to, assigned_name, " \
    "updated_at, note, COALESCE((SELECT MAX(q.at) FROM escalation_events q WHERE q.escalation_id = escalations.id " \
    "AND q.status = 'open'), created_at) AS queued_at, " + _WAITING + " AS waiting_since"  # fmt: skip


class EscalationError(Exception):
    """A lifecycle operation that cannot be done; the message says why."""


class EscalationNotFound(EscalationError, LookupError):
    """No escalation has that id."""


class EscalationConflict(EscalationError):
    """The escalation's status (or its owner) forbids the operation, e.g. another agent holds it."""


NOTE_MAX_CHARS = 2000  # the longest internal note an agent may leave when resolving a case


class AgentTextRejected(EscalationError, ValueError):
    """An agent's reply or resolution note outside the limits: ``field`` (``text`` or ``note``) and ``kind`` (the
    pydantic error type the API reports: ``string_too_long`` or ``string_too_short``)."""

    def __init__(self, field: str, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.field, self.kind = field, kind


def check_agent_text(text: str | None, *, max_chars: int, note: bool = False) -> None:
    """The limits on what an agent writes to an escalation, for the API and the in-process UI alike (the UI sent any
    length, blank replies included): a reply (``text``) is at most ``max_chars`` characters (the deployment's
    ``max_message_chars``, as for a customer's message) and not blank; a resolution note (``note=True``) may be
    left out, and is at most :data:`NOTE_MAX_CHARS`.

    Raises:
        AgentTextRejected: the text is too long or blank, saying which and by how much.
    """
    field, limit = ("note", NOTE_MAX_CHARS) if note else ("text", max_chars)
    if text is None and note:
        return
    text = text or ""
    if len(text) > limit:
        raise AgentTextRejected(field, f"{field} is {len(text)} characters; at most {limit} are accepted",
                                "string_too_long")  # fmt: skip
    if not note and not text.strip():
        raise AgentTextRejected(field, f"{field} is blank", "string_too_short")


def _setup_sqlite(db: sqlite3.Connection) -> None:
    """Create (or upgrade) the tables of a SQLite file; PostgreSQL's come from ``supportbot db upgrade``."""
    db.executescript(_SCHEMA)
    for name, kind in _ADDED_COLUMNS:
        try:
            db.execute(f"SELECT {name} FROM escalations LIMIT 0")
        except sqlite3.OperationalError:
            db.execute(f"ALTER TABLE escalations ADD COLUMN {name} {kind}")
            if name == "waiting_since":
                db.execute(WAITING_SINCE_FROM_MESSAGES)
    db.execute("UPDATE escalations SET status = 'resolved' WHERE status = 'closed'")  # first version


class SupportStore:
    """Escalations, agent messages, feedback and knowledge gaps (thread-safe)."""

    def __init__(self, db_path: Path, *, database_url: str | None = None, pool_size: int = 10) -> None:
        """Open the SQLite file ``db_path`` (creating or upgrading it), or the PostgreSQL database at
        ``database_url`` when one is given.

        Raises:
            graph.db.DatabaseUnavailable, graph.db.SchemaMissing: PostgreSQL is down, or not set up.
        """
        self.db_path = Path(db_path)
        self.db = open_database(database_url, self.db_path, _setup_sqlite, pool_size)

    @contextmanager
    def _transaction(self) -> Iterator[Transaction]:
        """One transaction: committed on success, rolled back on an exception."""
        with self.db.transaction() as tx:
            yield tx

    def close(self) -> None:
        """Close the connection (a PostgreSQL pool stays open for the process's other users)."""
        self.db.close()

    # --- escalations -------------------------------------------------------------------------------------------

    def add_escalation(
        self, session_id: str, lang: str, reason: str, transcript: list[dict[str, str]], *, actor: str | None = None
    ) -> dict[str, Any]:
        """Record a hand-off to a human agent (status ``open``); a session already waiting for or talking to a
        person keeps its escalation, which is returned instead of a second one (a reason the customer typed then is
        added to its history as ``asked_again``). ``actor``: who opened it, for its history (default: ``customer``
        for the reason ``customer_request``, else ``bot``)."""
        now = time.time()
        escalation_id = uuid.uuid4().hex
        with self._transaction() as db:
            # One statement: inserted only when the session has no active escalation (atomic in SQLite; on
            # PostgreSQL two replicas racing meet the partial unique index of the active statuses: DO NOTHING).
            cursor = db.execute(
                "INSERT INTO escalations (id, session_id, lang, reason, transcript, status, created_at, updated_at,"
                " waiting_since) SELECT ?, ?, ?, ?, ?, 'open', ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM escalations"
                " WHERE session_id = ? AND status IN ('open', 'assigned')) ON CONFLICT DO NOTHING",
                (escalation_id, session_id, lang, reason, json.dumps(transcript, ensure_ascii=False), now, now, now,
                 session_id),
            )  # fmt: skip
            if cursor.rowcount:
                actor = actor or ("customer" if reason == "customer_request" else "bot")
                self._event(db, escalation_id, "opened", "open", actor, reason, now)
            elif actor == "customer" and reason != "customer_request":
                # The customer asks again with a reason of their own: the case stays, and what they typed goes in
                # its history (it was stored nowhere).
                row = db.execute(
                    "SELECT id, status FROM escalations WHERE session_id = ? AND status IN ('open', 'assigned')",
                    (session_id,),
                ).fetchone()
                if row is not None:
                    self._event(db, row["id"], "asked_again", row["status"], actor, reason, now)
        active = self.active_escalation(session_id)
        assert active is not None
        return active

    def _event(self, db: Transaction, escalation_id: str, action: str, status: str, actor: str,
               note: str | None, at: float) -> None:  # fmt: skip
        db.execute(
            "INSERT INTO escalation_events (id, escalation_id, action, status, actor, note, at) VALUES (?,?,?,?,?,?,?)",
            (uuid.uuid4().hex, escalation_id, action, status, actor, note, at),
        )

    @staticmethod
    def _escalation(row: Any) -> dict[str, Any]:
        return {**dict(row), "transcript": json.loads(row["transcript"] or "[]")}

    def escalations(
        self,
        status: str | None = None,
        limit: int = 100,
        *,
        lang: str | None = None,
        older_than: float | None = None,
        assigned_to: str | None = None,
        oldest_first: bool = False,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """The newest escalations first (``oldest_first``: the customer waiting longest for a person's reply first,
        by ``waiting_since``, then the cases nobody waits on, oldest first), optionally only those with ``status``
        (``closed``: resolved or returned), in ``lang``, whose customer has been waiting for a reply ``older_than``
        seconds or more (never a case whose last message is the agent's, nor a closed one), or held by the agent
        ``assigned_to``; ``limit`` of them after skipping ``offset``.

        The filters are applied before the limit: the console's "mine" filtered the newest 100 assigned cases, so an
        agent's own older cases vanished behind colleagues' ones."""
        query, args = f"SELECT {_ESCALATION_COLUMNS} FROM escalations WHERE 1 = 1", list[Any]()
        if status == "closed":
            query += " AND status IN ('resolved', 'returned')"
        elif status is not None:
            query, args = query + " AND status = ?", [*args, status]
        if lang is not None:
            query, args = query + " AND lang = ?", [*args, lang]
        if older_than is not None:
            query, args = query + f" AND {_WAITING} <= ?", [*args, time.time() - older_than]
        if assigned_to is not None:
            query, args = query + " AND assigned_to = ?", [*args, assigned_to]
        if oldest_first:
            query += f" ORDER BY CASE WHEN {_WAITING} IS NULL THEN 1 ELSE 0 END, {_WAITING}, created_at, id"
        else:
            query += " ORDER BY created_at DESC, id DESC"
        rows = self.db.query(query + " LIMIT ? OFFSET ?", [*args, limit, offset])
        return [self._escalation(r) for r in rows]

    def escalation(self, escalation_id: str) -> dict[str, Any]:
        """One escalation with its ``history`` (every transition: action, status, actor, note, at).

        Raises:
            EscalationNotFound: no escalation has that id.
        """
        with self._transaction() as db:
            row = db.execute(f"SELECT {_ESCALATION_COLUMNS} FROM escalations WHERE id = ?",
                             (escalation_id,)).fetchone()  # fmt: skip
            events = db.execute(
                "SELECT action, status, actor, note, at FROM escalation_events WHERE escalation_id = ? ORDER BY at",
                (escalation_id,),
            ).fetchall()
        if row is None:
            raise EscalationNotFound(f"no escalation {escalation_id}")
        return {**self._escalation(row), "history": [dict(e) for e in events]}

    def active_escalation(self, session_id: str) -> dict[str, Any] | None:
        """The session's open or assigned escalation, or None when the bot has the conversation."""
        row = self.db.one(
            f"SELECT {_ESCALATION_COLUMNS} FROM escalations WHERE session_id = ? AND status IN ('open', 'assigned')"
            " ORDER BY created_at DESC LIMIT 1",
            (session_id,),
        )
        return self._escalation(row) if row is not None else None

    def handoff_status(self, session_id: str) -> dict[str, Any]:
        """Who has the conversation: ``{"status": "bot" | "waiting" | "assigned", "escalation_id", "agent",
        "last"}`` (``last``: how the latest escalation ended, when it has)."""
        row = self.db.one(
            "SELECT id, status, assigned_name FROM escalations WHERE session_id = ? ORDER BY created_at DESC LIMIT 1",
            (session_id,),
        )
        if row is None:
            return {"status": "bot", "escalation_id": None, "agent": None, "last": None}
        status = {"open": "waiting", "assigned": "assigned"}.get(row["status"], "bot")
        return {"status": status, "escalation_id": row["id"], "agent": row["assigned_name"] if status == "assigned"
                else None, "last": None if status != "bot" else row["status"]}  # fmt: skip

    def _transition(self, escalation_id: str, action: str, status: str, actor: str, note: str | None,
                    where: str, args: tuple[Any, ...], sets: str = "", set_args: tuple[Any, ...] = ()
                    ) -> dict[str, Any]:  # fmt: skip
        now = time.time()
        with self._transaction() as db:
            cursor = db.execute(
                f"UPDATE escalations SET status = ?, updated_at = ?{sets} WHERE id = ? AND ({where})",
                (status, now, *set_args, escalation_id, *args),
            )
            if cursor.rowcount:
                if note is not None and action == "resolved":
                    db.execute("UPDATE escalations SET note = ? WHERE id = ?", (note, escalation_id))
                self._event(db, escalation_id, action, status, actor, note, now)
        if not cursor.rowcount:
            self.refuse(escalation_id, action, actor)
        return self.escalation(escalation_id)

    def refuse(self, escalation_id: str, action: str, actor: str) -> None:
        """Raise the reason a transition did not apply (read after the failed conditional update)."""
        current = self.escalation(escalation_id)  # raises EscalationNotFound
        status, holder = current["status"], current["assigned_to"]
        if status in ("resolved", "returned"):
            raise EscalationConflict(f"escalation {escalation_id} is already {status}; it cannot be {action}")
        if status == "assigned" and holder != actor:
            raise EscalationConflict(
                f"escalation {escalation_id} is assigned to another agent ({current['assigned_name'] or holder})"
            )
        raise EscalationConflict(f"escalation {escalation_id} is {status}: claim it before it can be {action}")

    def claim(self, escalation_id: str, agent: str, name: str | None = None) -> dict[str, Any]:
        """Assign an open escalation to ``agent`` (claiming one's own again is a no-op).

        Raises:
            EscalationNotFound: unknown id.
            EscalationConflict: another agent holds it, or it is resolved or returned.
        """
        try:
            return self._transition(escalation_id, "claimed", "assigned", agent, None, "status = 'open'", (),
                                    ", assigned_to = ?, assigned_name = ?", (agent, name or agent))  # fmt: skip
        except EscalationConflict:
            current = self.escalation(escalation_id)
            if current["status"] == "assigned" and current["assigned_to"] == agent:
                return current
            raise

    def release(self, escalation_id: str, agent: str, *, to: str = "queue", force: bool = False) -> dict[str, Any]:
        """Give an assigned escalation back: to the queue (``open``) or to the bot (``returned``).

        Args:
            escalation_id: the escalation.
            agent: who releases it; only its holder may, unless ``force`` (an admin).
            to: ``queue`` or ``bot``.
            force: release another agent's escalation.
        """
        if to not in ("queue", "bot"):
            raise ValueError(f"to must be 'queue' or 'bot', got {to!r}")
        status, action = ("open", "released") if to == "queue" else ("returned", "returned")
        where = "status = 'assigned' AND (assigned_to = ? OR ? = 1)"
        if to == "bot":  # nobody has to claim a conversation to give it back to the bot
            where = "status = 'open' OR " + where
        return self._transition(escalation_id, action, status, agent, None, where, (agent, int(force)),
                                ", assigned_to = NULL, assigned_name = NULL")  # fmt: skip

    def resolve(self, escalation_id: str, agent: str, note: str | None = None, *, force: bool = False
                ) -> dict[str, Any]:  # fmt: skip
        """Close an open escalation, or an assigned one held by ``agent`` (any, with ``force``); the bot answers the
        session again."""
        where = "status = 'open' OR (status = 'assigned' AND (assigned_to = ? OR ? = 1))"
        return self._transition(escalation_id, "resolved", "resolved", agent, note, where, (agent, int(force)))

    def set_escalation_status(self, escalation_id: str, status: str) -> bool:
        """Force an escalation to ``status`` (an operator's repair; ``closed`` means resolved), recorded in its
        history as done by ``system``; False when the id is unknown. Agents use claim, release and resolve."""
        status = "resolved" if status == "closed" else status
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        now = time.time()
        with self._transaction() as db:
            cursor = db.execute("UPDATE escalations SET status = ?, updated_at = ? WHERE id = ?",
                                (status, now, escalation_id))  # fmt: skip
            if cursor.rowcount:
                self._event(db, escalation_id, "set", status, "system", None, now)
        return cursor.rowcount > 0

    # --- messages while a person owns the session --------------------------------------------------------------

    def add_customer_message(self, session_id: str, content: str, after_turns: int, meta: dict[str, Any] | None = None
                             ) -> dict[str, Any] | None:  # fmt: skip
        """Keep a (redacted) customer message for the agent who holds the session; None (nothing stored) when no
        agent holds it, so the bot answers instead. Check and write are one transaction: the case's ``waiting_since``
        starts here unless the customer was already waiting (updated first: the row's lock orders it with an agent's
        reply), and the insert checks the same holder."""
        now = time.time()
        with self._transaction() as db:
            db.execute("UPDATE escalations SET waiting_since = COALESCE(waiting_since, ?) WHERE session_id = ? AND"
                       " status = 'assigned'", (now, session_id))  # fmt: skip
            cursor = db.execute(
                "INSERT INTO session_messages (session_id, escalation_id, role, content, author, after_turns, draft,"
                " meta, created_at) SELECT session_id, id, 'user', ?, 'customer', ?, 0, ?, ? FROM escalations"
                " WHERE session_id = ? AND status = 'assigned' RETURNING id",
                (content, after_turns, json.dumps(meta or {}, ensure_ascii=False), now, session_id),
            ).fetchone()
            message_id = cursor["id"] if cursor is not None else None
        return self.message(message_id) if message_id is not None else None

    def add_agent_message(self, escalation_id: str, agent: str, content: str, after_turns: int, *,
                          draft: bool = False, meta: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
        """Store an agent's reply (or a ``draft`` the customer never sees) in the escalation's session; only the
        agent who holds the escalation may write (checked in the same statement). A reply (not a draft) ends the
        customer's wait (``waiting_since``), in the same transaction.

        Raises:
            EscalationNotFound: unknown id.
            EscalationConflict: the escalation is not assigned to ``agent``.
        """
        now = time.time()
        with self._transaction() as db:
            if not draft:
                db.execute("UPDATE escalations SET waiting_since = NULL WHERE id = ? AND status = 'assigned' AND"
                           " assigned_to = ?", (escalation_id, agent))  # fmt: skip
            cursor = db.execute(
                "INSERT INTO session_messages (session_id, escalation_id, role, content, author, after_turns, draft,"
                " meta, created_at) SELECT session_id, id, 'agent', ?, assigned_name, ?, ?, ?, ? FROM escalations"
                " WHERE id = ? AND status = 'assigned' AND assigned_to = ? RETURNING id",
                (content, after_turns, int(draft), json.dumps(meta or {}, ensure_ascii=False), now, escalation_id,
                 agent),
            ).fetchone()  # fmt: skip
            message_id = cursor["id"] if cursor is not None else None
        if message_id is None:
            self.refuse(escalation_id, "answered", agent)
        return self.message(message_id)  # type: ignore[arg-type]

    @staticmethod
    def _message(row: Any) -> dict[str, Any]:
        record = {**dict(row), "draft": bool(row["draft"]), "meta": json.loads(row["meta"] or "{}")}
        record["at"] = record.pop("created_at")
        return record

    def message(self, message_id: int) -> dict[str, Any]:
        """One stored message by id."""
        return self._message(self.db.one("SELECT * FROM session_messages WHERE id = ?", (message_id,)))

    def messages(self, session_id: str, *, include_drafts: bool = False, escalation_id: str | None = None
                 ) -> list[dict[str, Any]]:  # fmt: skip
        """The session's stored messages in the order they were written."""
        query, args = "SELECT * FROM session_messages WHERE session_id = ?", [session_id]
        if not include_drafts:
            query += " AND draft = 0"
        if escalation_id is not None:
            query, args = query + " AND escalation_id = ?", [*args, escalation_id]
        return [self._message(r) for r in self.db.query(query + " ORDER BY id", args)]

    def transcript(self, session_id: str, graph_messages: list[dict[str, Any]], *, include_drafts: bool = False
                   ) -> list[dict[str, Any]]:  # fmt: skip
        """The whole conversation: the graph's turns (``graph_messages``, in order) with the stored messages placed
        after the graph message they followed; stored ones carry ``id``, ``author``, ``at`` and ``draft``."""
        stored = self.messages(session_id, include_drafts=include_drafts)
        merged: list[dict[str, Any]] = []
        pending = iter(stored)
        upcoming = next(pending, None)
        for position in range(len(graph_messages) + 1):
            while upcoming is not None and min(upcoming["after_turns"], len(graph_messages)) <= position:
                merged.append({"role": upcoming["role"], "content": upcoming["content"], "id": upcoming["id"],
                               "author": upcoming["author"], "at": upcoming["at"], "draft": upcoming["draft"],
                               "escalation_id": upcoming["escalation_id"]})  # fmt: skip
                upcoming = next(pending, None)
            if position < len(graph_messages):
                merged.append(dict(graph_messages[position]))
        return merged

    # --- feedback and knowledge gaps ---------------------------------------------------------------------------

    def add_feedback(self, session_id: str, turn: int, rating: str, comment: str | None = None) -> dict[str, Any]:
        """Record a thumbs up/down on answer number ``turn`` (0-based) of the session; the record keeps it a number."""
        if rating not in ("up", "down"):
            raise ValueError(f"rating must be 'up' or 'down', got {rating!r}")
        record = {
            "id": uuid.uuid4().hex,
            "session_id": session_id,
            "turn": int(turn),
            "rating": rating,
            "comment": comment,
            "created_at": time.time(),
        }
        stored = {**record, "turn": str(record["turn"])}  # the column is TEXT (schema 0001): the number's digits
        with self._transaction() as db:
            db.execute("INSERT INTO feedback VALUES (?,?,?,?,?,?)", tuple(stored.values()))
        return record

    def feedback(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest feedback first (``turn`` a number, as :meth:`add_feedback` returned it)."""
        rows = self.db.query("SELECT * FROM feedback ORDER BY created_at DESC LIMIT ?", (limit,))
        return [{**row, "turn": int(row["turn"])} if str(row["turn"]).isdigit() else row for row in rows]

    def record_gap(self, question_redacted: str, lang: str) -> None:
        """Count a question the knowledge base could not answer (already redacted)."""
        question = " ".join(question_redacted.split())[:500]
        if not question:
            return
        with self._transaction() as db:
            db.execute(
                "INSERT INTO gaps VALUES (?,?,1,?) ON CONFLICT(question, lang) DO UPDATE SET count = gaps.count + 1,"
                " last_seen = excluded.last_seen",
                (question, lang, time.time()),
            )

    def knowledge_gaps(self, limit: int = 50) -> list[dict[str, Any]]:
        """The most frequent unanswered questions: ``{question, lang, count, last_seen}``."""
        return self.db.query(
            "SELECT question, lang, count, last_seen FROM gaps ORDER BY count DESC, last_seen DESC LIMIT ?", (limit,)
        )


def gap_article_id(question: str, lang: str) -> str:
    """The id suggested for the article that fills a knowledge gap: ``gap-<10 hex digits>-<lang>``, a SHA-256 digest
    of the gap's key (its question, whitespace collapsed as :meth:`SupportStore.record_gap` stores it, and its
    language), so one gap gets one id in every process and after every restart. It used Python's ``hash()``, which
    is salted per process: after a restart the same gap was suggested under a new id and could be written twice."""
    key = f"{lang}\n{' '.join(question.split())}"
    return f"gap-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:10]}-{lang}"
