"""Hand the conversation to a human agent: an escalation record with the redacted transcript."""

from __future__ import annotations

from typing import Any

from graph.deps import Deps
from graph.state import ChatState


def run(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Record the escalation; the respond node words the reply."""
    reason = state.get("reason") or "customer_request"
    record = deps.store.add_escalation(
        state.get("session_id", ""), state.get("lang", "en"), reason, state.get("messages", [])
    )
    return {"route": "handoff", "reason": reason, "guardrails": {"handoff": {"escalation_id": record["id"],
                                                                              "reason": reason}}}  # fmt: skip
