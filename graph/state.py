"""The agent's typed state: what one conversation turn reads and writes, with the reducers that merge updates.

``messages`` (the redacted transcript), ``topic``, ``pii_salt``, ``pii_hashes`` and ``placeholders`` persist across
turns through the checkpointer. Every other field belongs to the current turn: :func:`turn_input` resets them when a
turn starts.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

Route = Literal["answered", "smalltalk", "out_of_scope", "refused", "handoff"]
Mode = Literal["rag", "finetune", "hybrid"]
RESET = "__reset__"
# A conversation's id, whoever starts it (the API's path and body patterns, `supportbot chat --session`): a session
# the command line started can be read and continued through the API on the same data home.
SESSION_ID = r"^[A-Za-z0-9_-]{1,64}$"


def merge(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Merge per-node results (rails, latencies) into one dict; an update holding ``RESET`` starts afresh."""
    if right is None:
        return dict(left or {})
    if right.get(RESET):
        return {k: v for k, v in right.items() if k != RESET}
    return {**(left or {}), **right}


def union(left: list[str] | None, right: list[str] | None) -> list[str]:
    """Keep each value once, in first-seen order (hashes of the PII the customer gave)."""
    out = list(left or [])
    out += [v for v in right or [] if v not in out]
    return out


def first_wins(left: dict[str, str] | None, right: dict[str, str] | None) -> dict[str, str]:
    """Add the new keys, never change an existing one (a value's placeholder stays what it first was)."""
    return {**(right or {}), **(left or {})}


class ChatState(TypedDict, total=False):
    """State of one conversation (``thread_id`` = session id)."""

    # Persisted across turns.
    messages: Annotated[list[dict[str, str]], operator.add]  # redacted {"role", "content"} turns (the bot's: "route")
    topic: str  # the last answered query that stood on its own (a follow-up keeps it), for follow-ups
    session_lang: str  # the language of the customer's last message
    # The language the customer asked to be answered in ("answer in Spanish, please"; retrieval.language.
    # asked_language), kept until they ask for the other; a language the caller fixes (the API's lang) wins.
    reply_lang: str
    pii_salt: str  # the session's own part of the key of its PII hashes (graph.deps.Deps.pii_secret)
    pii_hashes: Annotated[list[str], union]  # hashes of the PII values the customer gave in this session
    # The session's placeholders (finetune.pii.PlaceholderMap.saved: value hash -> "<EMAIL_1>"), so any replica
    # redacts the next message with the same numbering and knows the names already given.
    placeholders: Annotated[dict[str, str], first_wins]
    # This turn.
    message: str  # the raw incoming message; redact_pii clears it, so it is never checkpointed
    session_id: str
    stream: bool  # stream the generator's tokens (ChatService.stream)
    text: str  # the cleaned, redacted message
    lang: str
    mode: Mode
    generator: str  # generator of this turn ("extractive" after a groundedness fallback)
    query: str  # the retrieval query (follow-ups resolved, rewrites applied)
    standalone_query: str  # the query of a message that stood on its own, before rewrites ("" for a follow-up)
    message_query: str  # the message's own search text, without the conversation a follow-up's query adds
    rewrites: int
    passages: list[dict[str, Any]]
    answer: str
    # said before the answer, outside the output rails' checks: an extractive answer quoting articles that only
    # exist in another language says so (graph.nodes.respond.preface); "" for none
    preface: str
    citations: list[int]
    tokens_generated: int
    route: Route | None
    reason: str  # why the turn was refused / handed off / redirected
    guardrails: Annotated[dict[str, Any], merge]
    node_latency_ms: Annotated[dict[str, float], merge]
    # The client's Idempotency-Key of this turn's message and a keyed digest of the message ({"key", "digest"}), so
    # that the same message sent again with it gets this turn's answer back (ChatService); None without a key.
    request: dict[str, str] | None


def turn_input(
    message: str,
    session_id: str,
    mode: str,
    generator: str,
    lang: str | None,
    stream: bool = False,
    request: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The update that starts a turn: the message, and every per-turn field reset."""
    return {
        "message": message,
        "session_id": session_id,
        "stream": stream,
        "text": "",
        "lang": lang or "",
        "mode": mode,
        "generator": generator,
        "query": "",
        "standalone_query": "",
        "message_query": "",
        "rewrites": 0,
        "passages": [],
        "answer": "",
        "preface": "",
        "citations": [],
        "tokens_generated": 0,
        "route": None,
        "reason": "",
        "guardrails": {RESET: True},
        "node_latency_ms": {RESET: True},
        "request": request,
    }
