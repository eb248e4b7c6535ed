"""Redact personal data in the incoming message (consistent placeholders per session, saved with the session as
value hashes), and remember only one-way hashes of what the customer gave, so the output rail can tell their own
data from anyone else's."""

from __future__ import annotations

from typing import Any

from finetune.pii import PlaceholderMap, pii_hash
from graph.deps import Deps
from graph.state import ChatState


def run(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Replace PII with placeholders; the raw message is dropped from the state here."""
    text, lang = state.get("text", ""), state.get("lang", "en")
    update: dict[str, Any] = {"message": ""}
    if not text:
        return update | {"guardrails": {"pii": {"entities": []}}}
    mapping = PlaceholderMap.restore(state.get("placeholders"))
    result = deps.redactor.redact(text, lang if lang in ("es", "en") else "en", mapping)
    hashes = [pii_hash(e.type, text[e.start : e.end]) for e in result.entities]
    return update | {
        "text": result.text,
        "messages": [{"role": "user", "content": result.text}],
        "pii_hashes": hashes,
        "placeholders": mapping.added(),
        "guardrails": {"pii": {"entities": sorted({e.type for e in result.entities})}},
    }
