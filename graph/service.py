"""ChatService: the agent behind one object. Loads the graph, the index and the models once; every turn of every
session goes through :meth:`ChatService.chat` or :meth:`ChatService.stream`; memory lives in the checkpointer (a
SQLite file, or PostgreSQL with ``database_url`` so that every API replica continues every conversation), so a
conversation survives a restart of the process."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graph.config import GraphConfig, GraphConfigError
from graph.db import connect_private, session_key
from graph.deps import Deps, VectorCache
from graph.state import turn_input
from graph.store import SupportStore

if TYPE_CHECKING:
    from finetune.pii import PlaceholderMap

RESULT_KEYS = ("answer", "lang", "mode", "route", "sources", "guardrails", "latency_ms", "node_latency_ms",
               "session_id", "tokens_generated")  # fmt: skip


class RequestKeyReused(ValueError):
    """An Idempotency-Key sent again with another message (or mode, or language) than the one it came with first."""


def _open_scope(config: GraphConfig, kb: Any, embed: VectorCache) -> Any:
    from graph.scope import deployment_scope, load_or_fit, load_or_fit_es
    from graph.scope_data import ScopeError

    data = getattr(kb, "data", None)

    def load(questions: Any) -> Any:
        if data is None:  # Elasticsearch: fitted from the articles and chunks read from the server
            return load_or_fit_es(kb, Path(config.cache_dir), customer_questions=questions)
        return load_or_fit(Path(config.index_dir), data, kb.embedder.encode, kb.embedder.name, config.cache_dir,
                           customer_questions=questions)  # fmt: skip

    try:
        return deployment_scope(load, config.scope_questions, config.company)
    except ScopeError as exc:
        raise GraphConfigError(f"scope rail: {exc}") from exc


def open_checkpointer(config: GraphConfig) -> tuple[Any, sqlite3.Connection | None]:
    """The conversation memory: LangGraph's PostgresSaver on the process's shared pool (its tables made by
    ``supportbot db upgrade``, checked by the store), or its SqliteSaver on ``checkpoint_db``."""
    if config.database_url:
        from langgraph.checkpoint.postgres import PostgresSaver

        from graph.db import shared_pool

        return PostgresSaver(shared_pool(config.database_url, config.database_pool_size)), None
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = connect_private(Path(config.checkpoint_db))
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return SqliteSaver(conn), conn


class ChatService:
    """The support agent (thread-safe: one instance serves every session)."""

    def __init__(self, config: GraphConfig) -> None:
        """Load the index, the scope rail, the PII redactor, the generators and the graph once.

        Raises:
            GraphConfigError: a configuration that cannot run (e.g. mode finetune with the extractive generator).
            retrieval.store.IndexFault, finetune.inference.ModelLoadError: a missing or unreadable index or model.
        """
        from finetune.pii import shared_redactor
        from graph.build import build_graph
        from graph.generators import make_generator
        from retrieval.language import detector

        self.config = config
        # The shared state first: a database that is down or not set up fails in a second, with what to do.
        self.store = SupportStore(config.store_db, database_url=config.database_url,
                                  pool_size=config.database_pool_size)  # fmt: skip
        self.checkpointer, self._conn = open_checkpointer(config)
        redactor = shared_redactor(Path(config.cache_dir) / "models" / "spacy")
        self.deps = self._index_deps({}, redactor=redactor, store=self.store)  # a bad index fails before a model loads
        if config.has_llm:
            self.deps.generators[config.generator] = make_generator(config.generator, config)
        self.graph = build_graph(self.deps, self.checkpointer)
        detector().detect_language_of("warm up")  # lingua loads its models lazily: pay it here, not per turn
        warmup = f"warmup-{uuid.uuid4().hex}"
        self.chat("hello", session_id=warmup, mode="rag")
        self.checkpointer.delete_thread(warmup)

    def _index_deps(self, generators: dict[str, Any], **kept: Any) -> Deps:
        """New run-time dependencies on the index's live version: the knowledge base and what is made from it (the
        scope rail, the extractive generator's sentence vectors); ``generators`` (the language model's, which
        reads no index) and ``kept`` (redactor, store) are carried over."""
        from graph.generators.extractive import ExtractiveGenerator
        from retrieval.backends import open_knowledge_base
        from retrieval.config import RetrievalConfig

        config = self.config
        retrieval_config = RetrievalConfig(embedder=config.embedder) if config.embedder else None
        kb = open_knowledge_base(config.search_backend, config.index_dir, es_url=config.es_url,
                                 cache_dir=config.cache_dir, config=retrieval_config)  # fmt: skip
        embed = VectorCache(kb.embedder.encode)  # type: ignore[attr-defined]
        extractive = ExtractiveGenerator.for_index(kb, embed)  # the index's sentence vectors, unlinked translations
        if hasattr(kb, "title_vectors"):  # the title list of the fusion (retrieval.search): encoded once, here
            kb.title_vectors()
        return Deps(config=config, kb=kb, embed=embed, scope=_open_scope(config, kb, embed),
                    generators={**generators, "extractive": extractive}, **kept)  # fmt: skip

    def reload_index(self) -> None:
        """Serve the index's live version (an admin's ingest or delete, another process's ``kb ingest``): reopen the
        knowledge base and refit what is made from it, keeping the databases, the redactor and a loaded language
        model. Turns in flight finish on the graph they started with."""
        from graph.build import build_graph

        deps = self.deps
        generators = {name: g for name, g in deps.generators.items() if name != "extractive"}
        fresh = self._index_deps(generators, redactor=deps.redactor, store=deps.store)
        graph = build_graph(fresh, self.checkpointer)
        self.deps, self.graph = fresh, graph

    def close(self) -> None:
        """Close the databases (a PostgreSQL pool stays open for the process's other users)."""
        if self._conn is not None:
            self._conn.close()
        self.store.close()

    def _input(self, message: str, session_id: str | None, mode: str | None, lang: str | None, stream: bool
               ) -> tuple[dict[str, Any], dict[str, Any], str]:  # fmt: skip
        if not isinstance(message, str):
            raise TypeError("message must be a string")
        mode = mode or self.config.mode
        self.config.check_mode(mode)
        if lang is not None and lang not in ("es", "en"):
            raise GraphConfigError(f"lang must be 'es' or 'en' (or None to detect it), got {lang!r}")
        session_id = session_id or uuid.uuid4().hex
        config = {"configurable": {"thread_id": session_id}}
        state = turn_input(message, session_id, mode, self.config.generator_for(mode), lang, stream)
        return state, config, session_id

    def _result(self, values: dict[str, Any], session_id: str, started: float) -> dict[str, Any]:
        cited = values.get("citations") or []
        passages = values.get("passages") or []
        # each source with the number the answer cites it by ([n]: its place among the passages shown), so that a
        # client can link "[4]" to its source when the answer cites only some of them
        chosen = [(n, passages[n - 1]) for n in cited if 0 < n <= len(passages)] or list(enumerate(passages, 1))
        keys = ("doc_id", "chunk_id", "title", "url", "lang", "score", "text")
        sources = [{**{k: p.get(k) for k in keys}, "citation": n} for n, p in chosen]
        return {
            "answer": values.get("answer", ""),
            "lang": values.get("lang") or "en",
            "mode": values.get("mode", self.config.mode),
            "route": values.get("route") or "answered",
            "sources": sources,
            "guardrails": values.get("guardrails", {}),
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            "node_latency_ms": values.get("node_latency_ms", {}),
            "session_id": session_id,
            "tokens_generated": int(values.get("tokens_generated") or 0),
            "reason": values.get("reason") or None,
            "query": values.get("query", ""),
            # every passage the generator was shown (``sources`` keeps only the ones an LLM answer cites)
            "shown": [{k: p.get(k) for k in keys} for p in passages],
            "replayed": False,
        }

    def chat(
        self,
        message: str,
        *,
        session_id: str | None = None,
        mode: str | None = None,
        lang: str | None = None,
        request_key: str | None = None,
    ) -> dict[str, Any]:
        """One turn: ``{"answer", "lang", "mode", "route", "sources", "guardrails", "latency_ms",
        "node_latency_ms", "session_id", "tokens_generated", "replayed"}`` (plus ``reason``, ``query`` and ``shown``:
        the passages the generator was shown, of which ``sources`` are the ones the answer cites).

        ``request_key``: the client's key for this message (an HTTP Idempotency-Key). The same message sent again
        with the session's last key gets that turn's result back (``replayed`` true) instead of a second turn.

        Raises:
            RequestKeyReused: the session's last key came with another message.
        """
        started = time.perf_counter()
        state, config, session_id = self._input(message, session_id, mode, lang, False)
        with self.session_lock(session_id):
            if (replay := self._replay(state, session_id, request_key, started)) is not None:
                return replay
            if (held := self._held_by_agent(state, started)) is not None:
                return held
            values = self.graph.invoke(state, config, durability="exit")
        return self._result(values, session_id, started)

    def _replay(self, state: dict[str, Any], session_id: str, key: str | None, started: float
                ) -> dict[str, Any] | None:  # fmt: skip
        """The result of the session's last turn when its message came with ``key`` (the same request sent again),
        else None, with ``state["request"]`` set for the new turn to keep (hold :meth:`session_lock`)."""
        if key is None:
            return None
        values = self._values(session_id)
        if not values.get("pii_salt"):  # a new session: its salt is chosen now, so that a retry digests alike
            state["pii_salt"] = secrets.token_hex(16)
        secret = self.deps.pii_secret(values.get("pii_salt") or state["pii_salt"])
        sent = json.dumps([state["message"], state["mode"], state["lang"]], ensure_ascii=False).encode()
        state["request"] = {"key": key, "digest": hmac.new(secret, sent, hashlib.sha256).hexdigest()}
        last = values.get("request") or {}
        if last.get("key") == key:
            self._check_digest(last, state["request"])
            return {**self._result(values, session_id, started), "replayed": True}
        from graph.nodes.handoff import held_result

        customer = [m for m in self.store.messages(session_id) if m.get("author") == "customer"]
        stored = customer[-1] if customer else None
        if stored is not None and (stored["meta"].get("request") or {}).get("key") == key:
            self._check_digest(stored["meta"]["request"], state["request"])
            held = held_result(self.store.escalation(stored["escalation_id"]), stored)
            return {**self._held_fields(held, state, started), "replayed": True}
        return None

    @staticmethod
    def _check_digest(first: dict[str, str], again: dict[str, str]) -> None:
        if not hmac.compare_digest(str(first.get("digest")), again["digest"]):
            raise RequestKeyReused(
                f"Idempotency-Key {again['key']!r} was sent with another message (or mode, or language) in this "
                "session; send a new key for a new message"
            )

    def session_lock(self, session_id: str) -> Any:
        """One writer of ``session_id``'s state at a time (across replicas on PostgreSQL): a second message sent
        before the first is answered waits for it instead of overwriting its saved state; an agent's reply or a
        hand-off waits for the turn in flight (both may add placeholders). Re-entrant."""
        return self.store.db.exclusive(session_key(session_id))

    def stream(
        self,
        message: str,
        *,
        session_id: str | None = None,
        mode: str | None = None,
        lang: str | None = None,
        request_key: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """One turn, streamed: ``{"type": "token", "text", "sentence"}`` events, one per sentence that passed the
        output rails (``text`` keeps its trailing space), then ``{"type": "final", **chat_result, "replaced"}``.

        The final answer is authoritative. When a sentence fails a rail the stream stops there; the final event
        carries the replacement (the extractive fallback, or the handoff reply), ``replaced`` is true (the client
        must swap the text it showed), and ``guardrails.output`` / ``guardrails.fallback`` / ``guardrails.stream``
        say which rail failed. Tokens of a failing sentence never reach the client. ``request_key``: as for
        :meth:`chat`; a replayed turn sends only its final event."""
        started = time.perf_counter()
        state, config, session_id = self._input(message, session_id, mode, lang, True)
        values: dict[str, Any] = {}
        released: list[str] = []
        with self.session_lock(session_id):
            replay = self._replay(state, session_id, request_key, started)
            if (held := replay or self._held_by_agent(state, started)) is not None:
                yield {"type": "final", **held, "replaced": False}  # nothing was streamed before it
                return
            for kind, chunk in self.graph.stream(state, config, stream_mode=["custom", "values"], durability="exit"):
                if kind == "custom":
                    released.append(str(chunk.get("text", "")))
                    yield chunk
                else:
                    values = chunk
        result = self._result(values, session_id, started)
        shown = "".join(released).strip()
        yield {"type": "final", **result, "replaced": bool(shown) and shown != str(result["answer"]).strip()}

    def _held_by_agent(self, state: dict[str, Any], started: float) -> dict[str, Any] | None:
        """While an agent holds the session: the message is kept for the agent and the bot stays silent."""
        from graph.nodes.handoff import hold_for_agent

        session_id = state["session_id"]
        held = hold_for_agent(self.deps, state["message"], session_id, state["lang"] or None,
                              partial(self.redact, session_id), self.transcript, state.get("request"))  # fmt: skip
        return None if held is None else self._held_fields(held, state, started)

    @staticmethod
    def _held_fields(held: dict[str, Any], state: dict[str, Any], started: float) -> dict[str, Any]:
        return {**held, "mode": state["mode"], "session_id": state["session_id"], "node_latency_ms": {},
                "latency_ms": round((time.perf_counter() - started) * 1000, 3), "replayed": False}  # fmt: skip

    def _values(self, session_id: str) -> dict[str, Any]:
        """The session's saved state (empty for an unknown session)."""
        return dict(self.graph.get_state({"configurable": {"thread_id": session_id}}).values or {})

    def transcript(self, session_id: str) -> list[dict[str, str]]:
        """The session's redacted messages ``[{"role", "content"}]`` (empty for an unknown session)."""
        return [dict(m) for m in self._values(session_id).get("messages", [])]

    @contextmanager
    def placeholders(self, session_id: str, values: dict[str, Any] | None = None) -> Iterator[PlaceholderMap]:
        """The session's PII placeholder map, read from its saved state (``values``, when the caller read it
        already); what the block adds is saved back (hold :meth:`session_lock` around it: two writers could give
        two values one number)."""
        from graph.nodes.redact_pii import session_map

        values = self._values(session_id) if values is None else values
        salt = values.get("pii_salt") or secrets.token_hex(16)
        mapping = session_map(values, session_id, salt, self.deps)
        yield mapping
        if added := mapping.added():
            self.graph.update_state({"configurable": {"thread_id": session_id}},
                                    {"placeholders": added, "pii_salt": salt}, as_node="respond")  # fmt: skip

    def redact(self, session_id: str, text: str, lang: str, values: dict[str, Any] | None = None) -> str:
        """``text`` as the session's messages are stored: cleaned (no control characters), personal data replaced by
        the session's placeholders (hold :meth:`session_lock`; ``values``: its saved state, if read already)."""
        from retrieval.text import clean

        with self.placeholders(session_id, values) as mapping:
            redactor, keep = self.deps.redactor, self.config.keep_entities
            return str(redactor.redact(clean(text), lang if lang in ("es", "en") else "en", mapping, keep=keep).text)

    def request_handoff(self, session_id: str, reason: str = "customer_request", lang: str | None = None
                        ) -> dict[str, Any]:  # fmt: skip
        """Escalate a session to a human agent outside the flow of a turn (the UI's "talk to a person" button); a
        free-text reason is stored redacted, like the conversation. ``lang``: the customer's language when the
        session has none yet (the button pressed before the first message), else the session's wins. The session's
        state is read once."""
        with self.session_lock(session_id):
            values = self._values(session_id)
            lang = str(values.get("session_lang") or lang or "en")
            redacted = self.redact(session_id, reason, lang, values) or "customer_request"
            transcript = [dict(m) for m in values.get("messages", [])]
            # The customer asked, whatever the reason they typed (it read "opened by bot" when they gave one).
            return self.store.add_escalation(session_id, lang, redacted, transcript, actor="customer")

    def add_feedback(self, session_id: str, turn: int, rating: str, comment: str | None = None) -> dict[str, Any]:
        """Record a rating of answer ``turn`` of the session; the comment is stored redacted, like the conversation."""
        with self.session_lock(session_id):
            redacted = None
            if comment:
                values = self._values(session_id)
                lang = str(values.get("session_lang") or "en")
                redacted = self.redact(session_id, comment, lang, values) or None
            return self.store.add_feedback(session_id, turn, rating, redacted)
