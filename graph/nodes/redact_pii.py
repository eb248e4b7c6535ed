"""Redact personal data in the incoming message (consistent placeholders per session, saved with the session as
keyed value hashes), and remember only keyed hashes of what the customer gave, so the output rail can tell their own
data from anyone else's."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from finetune.pii import PIIError, PlaceholderMap
from graph.deps import Deps
from graph.state import ChatState

# What the transcript keeps of a message that could not be checked for personal data (the reply asks for it shorter).
UNCHECKED = "[message not kept: it could not be checked for personal data]"


def session_map(values: Mapping[str, Any], session_id: str, salt: str, deps: Deps) -> PlaceholderMap:
    """The session's placeholder map, from its saved state ``values``; new values are numbered past every
    placeholder of its transcript and of the messages kept for its agents too. A conversation saved by a version
    that kept its map in the process's memory (until 2026-12-05) has none saved: numbering began at 1 again, and a
    second card was <CARD_1> like the first, in that turn and in every later one."""
    used = [str(m.get("content", "")) for m in values.get("messages") or []]
    if session_id:
        used += [str(m.get("content", "")) for m in deps.store.messages(session_id)]
    return PlaceholderMap.restore(values.get("placeholders"), deps.pii_secret(salt), used)


def run(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Replace PII with placeholders; the raw message is dropped from the state here."""
    text, lang = state.get("text", ""), state.get("lang", "en")
    update: dict[str, Any] = {"message": ""}
    if not text:
        return update | {"guardrails": {"pii": {"entities": []}}}
    salt = state.get("pii_salt") or secrets.token_hex(16)
    mapping = session_map(state, state.get("session_id", ""), salt, deps)
    try:
        result = deps.redactor.redact(text, lang if lang in ("es", "en") else "en", mapping,
                                      keep=deps.config.keep_entities)  # fmt: skip
    except PIIError:  # a recognizer ran out of time: nothing of the message goes on, to a model, an index or storage
        return update | {
            "text": UNCHECKED, "messages": [{"role": "user", "content": UNCHECKED}], "route": "out_of_scope",
            "reason": "unchecked", "guardrails": {"pii": {"entities": [], "unchecked": True}},
        }  # fmt: skip
    return update | {
        "text": result.text,
        "messages": [{"role": "user", "content": result.text}],
        "pii_salt": salt,
        "pii_hashes": [mapping.key(e.type, text[e.start : e.end]) for e in result.entities + result.kept],
        "placeholders": mapping.added(),
        "guardrails": {"pii": {"entities": sorted({e.type for e in result.entities})}},
    }
