"""SupportStore: escalations to human agents, customer feedback and knowledge gaps, in one thread-safe SQLite file."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS escalations (id TEXT PRIMARY KEY, session_id TEXT, lang TEXT, reason TEXT,
    transcript TEXT, status TEXT, created_at REAL);
CREATE TABLE IF NOT EXISTS feedback (id TEXT PRIMARY KEY, session_id TEXT, turn TEXT, rating TEXT, comment TEXT,
    created_at REAL);
CREATE TABLE IF NOT EXISTS gaps (question TEXT, lang TEXT, count INTEGER, last_seen REAL,
    PRIMARY KEY (question, lang));
"""
STATUSES = ("open", "assigned", "closed")


class SupportStore:
    """Escalations, feedback and knowledge gaps; one connection guarded by a lock (safe across threads)."""

    def __init__(self, db_path: Path) -> None:
        """Open (creating when needed) the database at ``db_path``."""
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.db_path), check_same_thread=False, timeout=30)
        self._db.row_factory = sqlite3.Row
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def add_escalation(
        self, session_id: str, lang: str, reason: str, transcript: list[dict[str, str]]
    ) -> dict[str, Any]:
        """Record a hand-off to a human agent; returns the escalation record (status ``open``)."""
        record = {
            "id": uuid.uuid4().hex,
            "session_id": session_id,
            "lang": lang,
            "reason": reason,
            "transcript": list(transcript),
            "status": "open",
            "created_at": time.time(),
        }
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO escalations VALUES (?,?,?,?,?,?,?)",
                (record["id"], session_id, lang, reason, json.dumps(transcript, ensure_ascii=False), "open",
                 record["created_at"]),
            )  # fmt: skip
        return record

    def escalations(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest escalations first, optionally only those with ``status``."""
        query, args = "SELECT * FROM escalations", []
        if status is not None:
            query, args = query + " WHERE status = ?", [status]
        with self._lock:
            rows = self._db.execute(query + " ORDER BY created_at DESC LIMIT ?", [*args, limit]).fetchall()
        return [{**dict(r), "transcript": json.loads(r["transcript"])} for r in rows]

    def set_escalation_status(self, escalation_id: str, status: str) -> bool:
        """Move an escalation to ``status`` (open, assigned, closed); False when the id is unknown."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        with self._lock, self._db:
            cursor = self._db.execute("UPDATE escalations SET status = ? WHERE id = ?", (status, escalation_id))
        return cursor.rowcount > 0

    def add_feedback(self, session_id: str, turn: str | int, rating: str, comment: str | None = None) -> dict[str, Any]:
        """Record a thumbs up/down on one answer (``turn``: a message id or index)."""
        if rating not in ("up", "down"):
            raise ValueError(f"rating must be 'up' or 'down', got {rating!r}")
        record = {
            "id": uuid.uuid4().hex,
            "session_id": session_id,
            "turn": str(turn),
            "rating": rating,
            "comment": comment,
            "created_at": time.time(),
        }
        with self._lock, self._db:
            self._db.execute("INSERT INTO feedback VALUES (?,?,?,?,?,?)", tuple(record.values()))
        return record

    def feedback(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest feedback first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM feedback ORDER BY created_at DESC LIMIT ?", (limit,)).fetchall()
        return [dict(r) for r in rows]

    def record_gap(self, question_redacted: str, lang: str) -> None:
        """Count a question the knowledge base could not answer (already redacted)."""
        question = " ".join(question_redacted.split())[:500]
        if not question:
            return
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO gaps VALUES (?,?,1,?) ON CONFLICT(question, lang) DO UPDATE SET count = count + 1,"
                " last_seen = excluded.last_seen",
                (question, lang, time.time()),
            )

    def knowledge_gaps(self, limit: int = 50) -> list[dict[str, Any]]:
        """The most frequent unanswered questions: ``{question, lang, count, last_seen}``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT question, lang, count, last_seen FROM gaps ORDER BY count DESC, last_seen DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [dict(r) for r in rows]
