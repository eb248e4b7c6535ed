"""The in-process backend: the LangGraph agent and the support store run inside the Streamlit process."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any

from ui.config import UIConfig
from ui.protocol import BackendError, BackendUnavailable, Staff


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
        self._reads = itertools.count()

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
                from graph.config import graph_config_for
                from graph.service import ChatService
                from graph.store import SupportStore
            except ImportError as exc:  # graph/ missing or broken: the service is down, say why
                raise BackendUnavailable(f"the agent graph cannot be loaded: {exc}") from exc
            self.config.store_db.parent.mkdir(parents=True, exist_ok=True)
            try:  # mode and generator are validated by GraphConfig itself
                service = ChatService(graph_config_for(self.config, index_dir))
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
        self,
        message: str,
        *,
        session_id: str,
        mode: str | None = None,
        lang: str | None = None,
        request_key: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The graph's own token stream, ending with the final chat result."""
        service = self._load()
        try:
            yield from service.stream(message, session_id=session_id, mode=mode, lang=lang, request_key=request_key)
        except ValueError as exc:  # bad input (too long, unknown mode): the graph's message is the reason
            raise BackendError(str(exc)) from exc

    def feedback(self, session_id: str, turn: int, rating: str, comment: str | None = None) -> dict[str, Any]:
        """Store thumbs up/down for answer ``turn``."""
        result: dict[str, Any] = self._load().add_feedback(session_id, turn, rating, comment)
        return result

    def handoff(self, session_id: str, reason: str = "customer_request", lang: str | None = None) -> dict[str, Any]:
        """Escalate the conversation to a person (the graph stores the redacted transcript)."""
        service = self._load()
        record: dict[str, Any] = service.request_handoff(session_id, reason=reason, lang=lang)
        return record

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        lang: str | None = None,
        tags: list[str] | None = None,
        staff: Staff | None = None,
    ) -> list[dict[str, Any]]:
        """Hybrid search over the index, filtered by language and tags."""
        results = self._knowledge_base().search(query, k=k, lang=lang, tags=tags or None)
        return [r.to_dict() for r in results]

    def document(self, doc_id: str, staff: Staff | None = None) -> dict[str, Any] | None:
        """A stored article by id."""
        doc: dict[str, Any] | None = self._knowledge_base().document(doc_id)
        return doc

    def tags(self) -> list[str]:
        """Every tag of the FAISS index's articles (Elasticsearch indexes do not list theirs)."""
        data = getattr(self._knowledge_base(), "data", None)
        documents = getattr(data, "documents", None) or {}
        return sorted({tag for doc in documents.values() for tag in (getattr(doc, "tags", None) or [])})

    def escalations(
        self,
        limit: int = 100,
        *,
        staff: Staff | None = None,
        status: str | None = None,
        lang: str | None = None,
        older_than: float | None = None,
        mine: bool = False,
        oldest_first: bool = False,
    ) -> list[dict[str, Any]]:
        """The escalation queue from the support store."""
        self._load()
        rows: list[dict[str, Any]] = self._store.escalations(
            status=status, limit=limit, lang=lang, older_than=older_than, oldest_first=oldest_first,
            assigned_to=(staff.agent_id if staff is not None else "") if mine else None,
        )  # fmt: skip
        return rows

    def knowledge_gaps(self, limit: int = 50, staff: Staff | None = None) -> list[dict[str, Any]]:
        """Unanswered questions, most frequent first."""
        self._load()
        rows: list[dict[str, Any]] = self._store.knowledge_gaps(limit=limit)
        return sorted(rows, key=lambda row: (-int(row.get("count", 0)), str(row.get("question", ""))))

    def conversation(self, session_id: str) -> dict[str, Any]:
        """The merged transcript and who has the conversation."""
        from graph.nodes.handoff import session_transcript

        service = self._load()
        return {"messages": session_transcript(service, session_id),
                "handoff": service.store.handoff_status(session_id)}  # fmt: skip

    def changes(self, session_id: str) -> int:
        """Always new: reading the stores in process costs no request, so the chat reads them every time."""
        return next(self._reads)

    def _keys(self) -> Any:
        from api.keys import KeyStore

        return KeyStore(self.config.home / "api" / "keys.sqlite")  # the same file `supportbot keys` writes

    def sign_in(self, *, api_key: str | None = None, username: str | None = None, password: str | None = None
                ) -> Staff:  # fmt: skip
        """Check the key, or the user's scrypt-hashed password, in the data home's key database."""
        from api.keys import ApiKey, agent_identity

        keys = self._keys()
        try:
            if api_key:
                record = keys.authenticate(api_key)
                if record is None:
                    raise BackendError("invalid or revoked API key")
            else:
                role = keys.verify_user(username or "", password or "")
                if role is None:
                    raise BackendError("wrong user name or password")
                record = ApiKey(id=f"user:{username}", role=role, name=f"user:{username}", created="")
        finally:
            keys.close()
        if record.role not in ("agent", "admin"):
            raise BackendError("this key has the customer role: it opens only the customer chat")
        agent_id, display = agent_identity(record)
        return Staff(role=record.role, name=display, agent_id=agent_id)

    def sign_out(self, staff: Staff) -> None:
        """Nothing to revoke: no key was issued."""

    def escalation(self, staff: Staff, escalation_id: str) -> dict[str, Any]:
        """The escalation with agent assist (the same view the API serves)."""
        from graph.nodes.handoff import escalation_view
        from graph.store import EscalationError

        try:
            return escalation_view(self._load(), escalation_id)
        except EscalationError as exc:
            raise BackendError(str(exc)) from exc

    def act(self, staff: Staff, escalation_id: str, action: str, **body: Any) -> dict[str, Any]:
        """Claim, reply, resolve or release through the store (the same rules as the API's routes, the same limits on
        a reply's and a note's length: ``graph.store.check_agent_text``)."""
        from graph.nodes.handoff import ReplyRefused, resolve_escalation, send_agent_reply
        from graph.store import EscalationError, check_agent_text

        service, force, limit = self._load(), staff.role == "admin", self.config.max_message_chars
        try:
            match action:
                case "claim":
                    result: dict[str, Any] = service.store.claim(escalation_id, staff.agent_id, staff.name)
                case "messages":
                    text = str(body.get("text", ""))
                    check_agent_text(text, max_chars=limit)
                    result = send_agent_reply(service, escalation_id, staff.agent_id, text)
                case "resolve":
                    check_agent_text(body.get("note"), max_chars=limit, note=True)
                    result = resolve_escalation(service, escalation_id, staff.agent_id, body.get("note"),
                                                force=force)  # fmt: skip
                case "release":
                    result = service.store.release(escalation_id, staff.agent_id, to=body.get("to") or "queue",
                                                   force=force)  # fmt: skip
                case _:
                    raise ValueError(f"unknown escalation action {action!r}")
        except (EscalationError, ReplyRefused) as exc:
            raise BackendError(str(exc)) from exc
        return result

    def add_article(self, staff: Staff, document: dict[str, Any]) -> dict[str, Any]:
        """Adding articles changes the live index: the console does it through the API."""
        raise BackendError("adding articles needs the API: set SUPPORTBOT_API_URL (or use `supportbot kb ingest`)")
