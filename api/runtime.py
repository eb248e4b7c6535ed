"""What one API process holds: the chat service, the knowledge base, the support store, keys, limits, metrics.

Everything heavy loads once, in the app's lifespan (:meth:`Runtime.load`), and lives on ``app.state.runtime``.
Knowledge-base writes are serialized here and swap in the new index version for both the agents' search and the
chat service, so no request sees a half-updated index.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anyio import CapacityLimiter
from anyio.lowlevel import RunVar

from api.config import ApiConfig
from api.logs import api_logger
from api.metrics import Metrics
from api.passwords import CONCURRENT_HASHES
from api.ratelimit import make_limiter

if TYPE_CHECKING:
    from graph.service import ChatService
    from graph.store import SupportStore
    from retrieval.backends import SearchableKnowledgeBase

log = api_logger()
FOLLOW_SECONDS = 2.0  # how often a process looks for an index version another process wrote
# How long /readyz waits for a connection of the shared state (a down server is refused at once; a hung one waits).
READY_CHECK_SECONDS = 2.0


# Free space below which the data home counts as not writable: SQLite needs room for its write-ahead log (up to
# 1000 pages, 4 MiB, before a checkpoint folds it back) and a transaction's pages; a full disk fails every turn.
MIN_FREE_BYTES = 16 * 1024 * 1024
READY_PROBE_PREFIX = ".supportbot-ready-"


def unwritable(folder: Path) -> OSError | None:
    """Why nothing can be written in ``folder`` now (a read-only mount, no permission, a full disk, a folder gone), or
    None when it can. A small file made and removed tells the truth where ``os.access`` does not (root, ACLs,
    network mounts); ``statvfs`` adds the floor of free space a new file's few bytes would not show."""
    try:
        fd, name = tempfile.mkstemp(prefix=READY_PROBE_PREFIX, dir=folder)
        try:
            os.write(fd, b"ok")
        finally:
            os.close(fd)
            os.unlink(name)
        stats = os.statvfs(folder)
    except OSError as exc:
        return exc
    if stats.f_bavail * stats.f_frsize < MIN_FREE_BYTES:
        free = stats.f_bavail * stats.f_frsize
        return OSError(f"{free} bytes free in {folder}, below {MIN_FREE_BYTES}")
    return None


# What a 503 says besides its reason category: the error itself (paths, database hosts) is only in the server log.
SEE_LOG = "the server log has the error"
STILL_LOADING = "the service is still loading"
STOPPING = "the service is stopping"


class NotReady(RuntimeError):
    """The graph or the index could not be loaded; the message is the reason's category (:func:`unready_reason`),
    which any caller may read."""


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling, ``exc`` first."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in found):
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def _reason_types() -> list[tuple[tuple[type[BaseException], ...], str]]:
    import sqlite3

    from finetune.base_model import BaseModelError
    from finetune.inference import ModelLoadError
    from graph.db import DatabaseError, SchemaMissing, unavailable_errors
    from graph.generators.base import GeneratorError
    from graph.scope_data import ScopeError
    from retrieval.embeddings import EmbedderError
    from retrieval.store import IndexFault

    reasons: list[tuple[tuple[type[BaseException], ...], str]] = [
        ((SchemaMissing,), "the state database has no schema for this version (run `supportbot db upgrade`)"),
        ((DatabaseError, *unavailable_errors()), "the state database is unreachable"),
        ((IndexFault,), "the knowledge-base index is not loaded"),
        ((EmbedderError,), "the embedding model is not loaded"),
        ((ScopeError,), "the scope guardrail could not be fitted"),
        ((GeneratorError, ModelLoadError, BaseModelError), "the answer generator's model is not loaded"),
        ((sqlite3.Error,), "a SQLite file of the data home (state or index metadata) could not be read"),
    ]
    try:
        from elasticsearch import ApiError, TransportError

        reasons.append(((TransportError, ApiError), "the Elasticsearch knowledge base is unreachable"))
    except ImportError:  # elasticsearch is only needed for that backend
        pass
    return reasons


def unready_reason(exc: BaseException) -> str:
    """What ``/readyz`` and every 503 say about a failed load: a fixed category ("the knowledge-base index is not
    loaded"), never the error's text, which may name paths, database hosts or credentials (the log has it)."""
    try:
        reasons = _reason_types()
    except Exception:  # a missing optional package must not turn "not ready" into a crash
        reasons = []
    # The outermost first: the project's own errors say what failed (an IndexFault may wrap a sqlite3.Error of the
    # index's metadata, which is no state database).
    for error in _chain(exc):
        for types, reason in reasons:
            if isinstance(error, types):
                return reason
    return "the chat service could not be loaded"


_PASSWORD_CHECKS: RunVar[CapacityLimiter] = RunVar("supportbot_password_checks")


def password_checks() -> CapacityLimiter:
    """The worker threads this event loop lends to password checks (``api.passwords.CONCURRENT_HASHES``): a
    sign-in beyond them waits on the loop instead of on a thread (each check takes 128 MiB and 0.4 s of a core)."""
    try:
        return _PASSWORD_CHECKS.get()
    except LookupError:
        limiter = CapacityLimiter(CONCURRENT_HASHES)
        _PASSWORD_CHECKS.set(limiter)
        return limiter


class SessionTurns:
    """The turns of one session in this process, one at a time, waiting on the event loop.

    ``ChatService`` runs a session's turns one after the other under the session's lock; a turn that waited for it
    did so on a worker thread, and one key's burst of messages to one session (45 at once) took every worker thread
    of the API, so every other caller waited. Here the later turns wait as coroutines, and enter the worker threads
    (and the service's lock, which still orders turns across replicas) one at a time.
    """

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def turn(self, session_id: str) -> AsyncIterator[None]:
        """Hold ``session_id``'s turn for the block (its lock is dropped when nobody holds or waits on it)."""
        lock, users = self._locks.get(session_id, (asyncio.Lock(), 0))
        self._locks[session_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[session_id]
            if users == 1:
                del self._locks[session_id]
            else:
                self._locks[session_id] = (lock, users - 1)


class Runtime:
    """The per-process state of the API."""

    def __init__(self, config: ApiConfig, service: Any | None = None) -> None:
        """Prepare the light parts; call :meth:`load` for the heavy ones.

        Args:
            config: the API's settings.
            service: an already loaded ``graph.service.ChatService`` to use instead of building one (several apps in
                one process, e.g. tests, share one); it must use ``config.graph_config()``'s databases.
        """
        self.config = config
        self.keys = config.key_store()
        # Shared buckets (PostgreSQL, Redis) when replicas share state; process memory otherwise.
        self.limiter = make_limiter(config.rate_limit_per_minute, database=self.keys.db, redis_url=config.redis_url)
        # Agent and admin keys (the console) get their own, higher limit; their buckets are their keys' own.
        self.staff_limiter = make_limiter(config.rate_limit_per_minute_staff, database=self.keys.db,
                                          redis_url=config.redis_url)  # fmt: skip
        # Sign-in attempts per client address: their own limit, not the customers' (which an operator raises for the
        # UI's one shared key: with it, an address could guess console passwords hundreds of times a minute).
        self.signin_limiter = make_limiter(config.signin_per_minute, database=self.keys.db, redis_url=config.redis_url)
        self.metrics = Metrics()
        self.turns = SessionTurns()  # one message of a session at a time, waiting on the event loop
        self.service: Any | None = service
        self.kb: Any | None = None
        self.store: Any | None = None
        self.load_error: str | None = None  # the error itself, for the server log only
        self._state_down: str | None = None  # the shared store /readyz last found down (logged once per outage)
        self.unready: str | None = None  # its category (unready_reason), for callers
        self._write_lock = threading.Lock()
        self.loaded_version: str | None = None  # the index version the service and the search were loaded from
        self._stop_following = threading.Event()
        self.stopping = threading.Event()  # the server was asked to stop (api.server): open event streams end
        self._follower: threading.Thread | None = None
        self.sync: Any | None = None  # api.index_sync.IndexSync: replicas share index versions through the database
        if config.database_url and config.index_sync and config.search_backend == "faiss":
            from api.index_sync import IndexSync

            self.sync = IndexSync(self.keys.db, Path(config.index_dir))

    def load(self) -> None:
        """Load the chat service, the knowledge base and the store; a failure is kept for ``/readyz``, not raised.

        Loading twice is a no-op: test clients and fuzzers may each run the app's lifespan.
        """
        if self.ready:
            return
        try:
            if self.sync is not None:  # the newest version another replica published, before anything loads it
                self.sync.align()
            version = self.index_version()
            if self.service is None:
                from graph.service import ChatService

                self.service = ChatService(self.config.graph_config())
            self.kb = self._open_kb()
            self.store = self.service.store  # one store (one pool) per process
            self.loaded_version = version
            self.load_error = self.unready = None
            self.metrics.ready.set(1)
            self._start_following()
        except Exception as exc:  # any load failure means "not ready", reported without a traceback
            self.load_error = f"{type(exc).__name__}: {exc}"
            self.unready = unready_reason(exc)
            self.metrics.ready.set(0)
            log.error("not ready (%s): %s", self.unready, self.load_error)  # once; 503s point here

    @property
    def ready(self) -> bool:
        """Whether chat and search can be served."""
        return self.service is not None and self.kb is not None and self.store is not None

    @property
    def unready_detail(self) -> str:
        """Why the service is not ready, as any caller may read it: the category and where the error is."""
        return f"{self.unready}; {SEE_LOG}" if self.unready else STILL_LOADING

    def begin_shutdown(self) -> None:
        """The server was asked to stop: open event streams end at their next poll and ``/readyz`` says so, while
        requests in flight finish."""
        if not self.stopping.is_set():
            log.info("stopping: open event streams end, requests in flight finish")
        self.stopping.set()

    def readiness(self) -> str | None:
        """None when chat and search can be served now, else why not (what ``/readyz`` says); sets the
        ``supportbot_ready`` gauge to match.

        Besides what loaded at start, the shared state is asked each time: the PostgreSQL server (one ``SELECT 1``
        on a pooled connection) and Redis (a ``PING``), and, while the state is in SQLite files there, whether the
        data home can be written (:func:`unwritable`). Until 2026-12-07 ``/readyz`` said ok and the gauge 1 while
        either server was down and every request that needed it was a 503, and until 2026-12-08 while nothing could
        be written in the data home (a read-only mount). A change is logged once, with the error."""
        if self.stopping.is_set():
            down: str | None = STOPPING
        else:
            down = self.unready_detail if not self.ready else self._shared_state_down()
        self.metrics.ready.set(0 if down else 1)
        return down

    def _shared_state_down(self) -> str | None:
        from graph.db import DatabaseError

        failed: str | None = None
        error: Exception | None = None
        try:
            self._ping_database()
        except DatabaseError as exc:
            failed, error = "the state database is unavailable", exc
        if failed is None and self.config.redis_url:
            try:
                self.limiter.check()  # Redis: a PING, within its socket timeout
            except DatabaseError as exc:
                failed, error = "the rate-limit store (Redis) is unavailable", exc
        if failed is None and not self.config.database_url:  # the state is in SQLite files in the data home
            for folder in dict.fromkeys((Path(self.config.home), self.config.keys_db.parent)):
                error = unwritable(folder)
                if error is not None:
                    failed = "the data home is not writable"
                    break
        if failed is None:
            if self._state_down is not None:
                log.info("ready again (was: %s)", self._state_down)
            self._state_down = None
            return None
        if failed != self._state_down:  # once per outage, not once per probe
            log.error("not ready: %s: %s: %s", failed, type(error).__name__, str(error).strip())
        self._state_down = failed
        return f"{failed}; {SEE_LOG}"

    def _ping_database(self) -> None:
        """One ``SELECT 1`` on the shared PostgreSQL server (SQLite files need no server)."""
        db = self.keys.db
        if getattr(db, "kind", None) != "postgres":
            return
        from graph.db import translate_errors

        with translate_errors(), db.pool.connection(timeout=READY_CHECK_SECONDS) as conn:
            conn.execute("SELECT 1")

    def require(self) -> None:
        """Raise :class:`NotReady` unless everything is loaded."""
        if not self.ready:
            raise NotReady(self.unready_detail)

    def _loaded(self, part: Any) -> Any:
        if part is None:
            raise NotReady(self.unready_detail)
        return part

    @property
    def chat_service(self) -> ChatService:
        """The loaded chat service; :class:`NotReady` before :meth:`load` succeeded."""
        service: ChatService = self._loaded(self.service)
        return service

    @property
    def knowledge_base(self) -> SearchableKnowledgeBase:
        """The loaded knowledge base the agents search; :class:`NotReady` before :meth:`load` succeeded."""
        kb: SearchableKnowledgeBase = self._loaded(self.kb)
        return kb

    @property
    def support_store(self) -> SupportStore:
        """The loaded support store (escalations, feedback, gaps); :class:`NotReady` before :meth:`load` succeeded."""
        store: SupportStore = self._loaded(self.store)
        return store

    def index_version(self) -> str | None:
        """The live index version (FAISS folder name), or None for Elasticsearch or no index."""
        if self.config.search_backend != "faiss":
            return None
        from retrieval.store import live_version

        try:
            version = live_version(Path(self.config.index_dir))
        except Exception:
            return None
        return version.name if version is not None else None

    def _open_kb(self) -> Any:
        """The knowledge base the agents search: the chat service's own when it serves this index (one copy of the
        vectors and one embedder in memory, not two), else opened here."""
        mine = (str(Path(self.config.index_dir).resolve()), self.config.search_backend, self.config.es_url)
        theirs = getattr(self.service, "config", None)
        if (theirs is not None and getattr(self.service, "deps", None) is not None
                and (str(Path(theirs.index_dir).resolve()), theirs.search_backend, theirs.es_url) == mine):  # fmt: skip
            return self.service.deps.kb  # type: ignore[union-attr]
        from retrieval.backends import open_knowledge_base

        return open_knowledge_base(
            self.config.search_backend,
            self.config.index_dir,
            es_url=self.config.es_url,
            cache_dir=self.config.resolved_cache_dir,
        )

    def _retrieval_config(self) -> Any:
        from retrieval.config import RetrievalConfig

        stored = getattr(self.kb, "config", None)  # the index's own config keeps the embedder that built it
        if isinstance(stored, RetrievalConfig):
            return stored
        return RetrievalConfig(embedder=self.config.embedder, embedder_backend=self.config.embedder_backend)

    def _start_following(self) -> None:
        if self.config.search_backend == "faiss" and self._follower is None:
            self._stop_following.clear()
            self._follower = threading.Thread(target=self._follow, name="index-follower", daemon=True)
            self._follower.start()

    def stop_following(self) -> None:
        """Stop looking for index versions written by other processes (the app's shutdown)."""
        self._stop_following.set()
        if self._follower is not None:
            self._follower.join(timeout=5)
            self._follower = None

    def _follow(self) -> None:
        while not self._stop_following.wait(FOLLOW_SECONDS):
            try:
                self.follow_index()
            except Exception as exc:  # an index being rewritten, a folder gone: try again at the next look
                log.warning("index follower: %s: %s", type(exc).__name__, exc)

    def follow_index(self) -> bool:
        """Switch search and chat to the live index version when another process wrote it (`supportbot kb ingest` or
        `kb delete` on this folder, a replica sharing it, or, with :attr:`sync`, a replica on another machine that
        published it); True when it switched. Requests keep the loaded version until the new one is loaded (a thread
        of the app looks every ``FOLLOW_SECONDS``). With :attr:`sync` a version written on this folder by another
        process is published for the other replicas."""
        if not self.ready:
            return False
        switched = self._follow_folder()
        if self.sync is not None:
            with self._write_lock:
                if self.sync.local() == self.loaded_version:
                    self.sync.publish()  # a version written on this folder (kb ingest): no-op when published
                adopted = self.sync.adopt()  # the newest another replica published
            if adopted:
                switched = self._follow_folder() or switched
        return switched

    def _follow_folder(self) -> bool:
        if self.index_version() in (None, self.loaded_version):
            return False
        with self._write_lock:
            version = self.index_version()
            if version in (None, self.loaded_version):
                return False
            self._swap()
        log.info("index version %s written by another process: now serving it", version)
        return True

    def _swap(self) -> None:
        """Load the live index version for search and chat, and record it as :attr:`loaded_version` (under the
        write lock)."""
        version = self.index_version()
        self.chat_service.reload_index()
        self.kb = self._open_kb()
        self.loaded_version = version

    def _change_index(self, change: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Apply one index write, then make search and chat use the new version.

        Requests keep using the previous service and knowledge base (complete, in memory) until the new ones are
        loaded, so a write never interrupts chat. The service reloads in place (``ChatService.reload_index``: it
        refits the scope rail for the new index version).
        """
        self.require()
        across = self.sync.exclusive() if self.sync is not None else contextlib.nullcontext()
        with across, self._write_lock:
            if self.sync is not None and self.sync.adopt():  # write on the newest version, whoever published it
                self._swap()
            report = change()
            if report.get("deleted") or report.get("added") or report.get("updated"):  # else nothing changed
                self._swap()
                if self.sync is not None:
                    self.sync.publish()
        report["index_version"] = self.index_version()
        return report

    def ingest_documents(self, documents: list[dict[str, Any]]) -> dict[str, Any]:
        """Add or update articles (JSONL records) and return the ingest report, dedup report included."""
        import json

        from retrieval.backends import ingest_knowledge_base

        def change() -> dict[str, Any]:
            with tempfile.TemporaryDirectory(prefix="supportbot-api-ingest-") as folder:
                path = Path(folder) / "documents.jsonl"
                path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in documents), "utf-8")
                return ingest_knowledge_base(
                    self.config.search_backend,
                    [path],
                    self.config.index_dir,
                    es_url=self.config.es_url,
                    config=self._retrieval_config(),
                    cache_dir=self.config.resolved_cache_dir,
                )

        return self._change_index(change)

    def delete_document(self, doc_id: str) -> dict[str, Any]:
        """Remove one article by id (``retrieval.store.IndexFault`` when it is unknown)."""
        from retrieval.backends import delete_from_knowledge_base

        return self._change_index(
            lambda: delete_from_knowledge_base(
                self.config.search_backend,
                self.config.index_dir,
                [doc_id],
                es_url=self.config.es_url,
                cache_dir=self.config.resolved_cache_dir,
            )
        )
