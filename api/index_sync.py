"""One knowledge base for every replica, through the shared state database.

With ``SUPPORTBOT_DATABASE_URL`` set and the FAISS backend, each replica still searches its own index folder, but
every index version it writes (an admin's ``POST /v1/kb/documents`` or ``DELETE``, a ``supportbot kb ingest`` on its
folder) is published, packed, in the database's ``index_versions`` table, and every replica makes the newest
published version its live one (:class:`api.runtime.Runtime` looks every ``FOLLOW_SECONDS``). Article writes through
the API are serialized across replicas by an advisory lock, and each starts from the newest published version, so
two admins on two replicas never write from two different bases. At start a replica takes the newest published
version (or publishes its own when there is none). The last :data:`KEEP` versions of an index are kept.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from graph.db import Database
from retrieval.store import install_version, live_version, pack_version, write_lock

KEEP = 2  # published versions kept per index: the live one and the one before it


class IndexSync:
    """The published versions of one index (named after its folder) in the shared database."""

    def __init__(self, db: Database, folder: Path, name: str | None = None) -> None:
        self.db, self.folder, self.name = db, folder, name or folder.name
        self.known: str | None = None  # the last version this process published or adopted

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the index's write lock across every replica (a PostgreSQL advisory lock)."""
        with self.db.exclusive(f"index-versions:{self.name}"):
            yield

    def latest(self) -> str | None:
        """The newest published version's name, or None when none is."""
        row = self.db.one("SELECT version FROM index_versions WHERE name = ? ORDER BY seq DESC LIMIT 1", (self.name,))
        return str(row["version"]) if row else None

    def local(self) -> str | None:
        """The live version of this replica's folder, or None when it holds no index."""
        version = live_version(self.folder)
        return version.name if version is not None else None

    def publish(self) -> bool:
        """Publish the folder's live version unless it is already; True when it was published now."""
        if self.local() in (None, self.known):
            return False
        name, archive = pack_version(self.folder)
        with self.db.transaction() as tx:
            added = tx.execute(
                "INSERT INTO index_versions (name, version, archive, published_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (name, version) DO NOTHING",
                (self.name, name, archive, time.time()),
            ).rowcount
            tx.execute(
                "DELETE FROM index_versions WHERE name = ? AND seq NOT IN"
                " (SELECT seq FROM index_versions WHERE name = ? ORDER BY seq DESC LIMIT ?)",
                (self.name, self.name, KEEP),
            )
        self.known = name
        return bool(added)

    def adopt(self) -> bool:
        """Make the newest published version this folder's live one; True when it changed the folder."""
        latest = self.latest()
        if latest is None or latest == self.local():
            self.known = self.known if latest is None else latest
            return False
        row = self.db.one("SELECT archive FROM index_versions WHERE name = ? AND version = ?", (self.name, latest))
        if row is None:  # pruned between the two reads: a newer one is published, taken at the next look
            return False
        with write_lock(self.folder):
            install_version(self.folder, latest, bytes(row["archive"]))
        self.known = latest
        return True

    def align(self) -> None:
        """At start: take the newest published version, or publish this folder's when none is."""
        with self.exclusive():
            if self.latest() is None:
                self.publish()
            else:
                self.adopt()
