"""The in-process backend: the LangGraph agent and the support store run inside the Streamlit process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from ui.backend import BackendError, BackendUnavailable
from ui.config import UIConfig


class InProcessBackend:
    """Runs ``graph.service.ChatService`` and ``graph.store.SupportStore`` on the configured data home.

    The graph, index and models load once, on first use (Streamlit caches one backend per config), so that an
    import or load failure shows as the "service is down" message rather than a traceback.
    """

    kind = "inprocess"

    def __init__(self, config: UIConfig) -> None:
        """Remember ``config``; nothing is loaded yet."""
        self.config = config
        self._lock = threading.Lock()
        self._service: Any = None
        self._store: Any = None
        self._kb: Any = None

    def _load(self) -> Any:
        with self._lock:
            if self._service is not None:
                return self._service
            index_dir = self.config.resolved_index_dir
            if self.config.search_backend == "faiss" and not (index_dir / "CURRENT").exists():
                raise BackendUnavailable(
                    f"no knowledge-base index at {index_dir}: build it with `supportbot kb ingest data/kb --index "
                    f"{index_dir}` (or run `supportbot demo`)"
                )
            try:
                from graph.config import GraphConfig
                from graph.service import ChatService
                from graph.store import SupportStore
            except ImportError as exc:  # graph/ missing or broken: the service is down, say why
                raise BackendUnavailable(f"the agent graph cannot be loaded: {exc}") from exc
            self.config.store_db.parent.mkdir(parents=True, exist_ok=True)
            values: dict[str, Any] = {  # mode and generator are validated by GraphConfig itself
                "index_dir": index_dir,
                "search_backend": self.config.search_backend,
                "es_url": self.config.es_url,
                "mode": self.config.mode,
                "generator": self.config.generator,
                "model_dir": self.config.model_dir,
                "openai_base_url": self.config.openai_base_url,
                "openai_model": self.config.openai_model,
                "checkpoint_db": self.config.checkpoint_db,
                "store_db": self.config.store_db,
                "cache_dir": self.config.home,
            }
            try:
                service = ChatService(GraphConfig(**values))
            except (OSError, ValueError) as exc:
                raise BackendUnavailable(f"the agent could not start: {exc}") from exc
            self._store = getattr(service, "store", None) or SupportStore(self.config.store_db)
            self._service = service
            return service

    @property
    def service(self) -> Any:
        """The loaded ``graph.service.ChatService`` (loads it on first use)."""
        return self._load()

    def _knowledge_base(self) -> Any:
        service = self._load()
        if self._kb is None:
            kb = getattr(getattr(service, "deps", None), "kb", None)  # the index the agent answers from
            if kb is None:  # the service keeps its index private: open the same one for the agents' searches
                from retrieval.backends import open_knowledge_base

                kb = open_knowledge_base(
                    self.config.search_backend,
                    self.config.resolved_index_dir,
                    es_url=self.config.es_url,
                    cache_dir=self.config.home,
                )
            self._kb = kb
        return self._kb

    def health(self) -> None:
        """Load the agent (once); raise :class:`BackendUnavailable` when it cannot be loaded."""
        self._load()

    def stream(
        self, message: str, *, session_id: str, mode: str | None = None, lang: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """The graph's own token stream, ending with the final chat result."""
        service = self._load()
        try:
            yield from service.stream(message, session_id=session_id, mode=mode, lang=lang)
        except ValueError as exc:  # bad input (too long, unknown mode): the graph's message is the reason
            raise BackendError(str(exc)) from exc

    def feedback(self, session_id: str, turn: int, rating: str, comment: str | None = None) -> dict[str, Any]:
        """Store thumbs up/down for answer ``turn``."""
        self._load()
        result: dict[str, Any] = self._store.add_feedback(session_id, turn, rating, comment)
        return result

    def handoff(self, session_id: str, reason: str = "customer_request") -> dict[str, Any]:
        """Escalate the conversation to a person (the graph stores the redacted transcript)."""
        service = self._load()
        record: dict[str, Any] = service.request_handoff(session_id, reason=reason)
        return record

    def search(
        self, query: str, *, k: int = 10, lang: str | None = None, tags: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Hybrid search over the index, filtered by language and tags."""
        results = self._knowledge_base().search(query, k=k, lang=lang, tags=tags or None)
        return [r.to_dict() for r in results]

    def document(self, doc_id: str) -> dict[str, Any] | None:
        """A stored article by id."""
        doc: dict[str, Any] | None = self._knowledge_base().document(doc_id)
        return doc

    def tags(self) -> list[str]:
        """Every tag of the FAISS index's articles (Elasticsearch indexes do not list theirs)."""
        data = getattr(self._knowledge_base(), "data", None)
        documents = getattr(data, "documents", None) or {}
        return sorted({tag for doc in documents.values() for tag in (getattr(doc, "tags", None) or [])})

    def escalations(self, limit: int = 100) -> list[dict[str, Any]]:
        """The escalation queue from the support store."""
        self._load()
        rows: list[dict[str, Any]] = self._store.escalations(limit=limit)
        return rows

    def knowledge_gaps(self, limit: int = 50) -> list[dict[str, Any]]:
        """Unanswered questions, most frequent first."""
        self._load()
        rows: list[dict[str, Any]] = self._store.knowledge_gaps(limit=limit)
        return sorted(rows, key=lambda row: (-int(row.get("count", 0)), str(row.get("question", ""))))
