"""Input rails: prompt injection and jailbreaks, abuse, discriminatory requests (refused), and requests for a
person or legal threats (handed off).

:func:`check_input` is the one implementation: the graph node and ``supportbot guard input`` both call it.
"""

from __future__ import annotations

from typing import Any

from graph.deps import Deps
from graph.rails.classifier import InputRails, shipped_rails
from graph.rails.escalation import check_escalation
from graph.state import ChatState


def check_input(text: str, rails: InputRails | None = None) -> dict[str, Any]:
    """Every input rail on one message.

    Returns ``{"refused": bool, "rail": "injection" | "abuse" | "bias" | None, "score": float, "scores": {...},
    "escalation": {...}}``: ``score`` is the probability of the refusing rail (or of the likeliest one).
    """
    text = text if isinstance(text, str) else ""
    verdict = (rails or shipped_rails()).check(text)
    return verdict | {"escalation": check_escalation(text[:20_000])}


def run(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Run every input rail; a refusal wins over a hand-off."""
    if state.get("route"):
        return {}
    verdict = check_input(state.get("text", ""))
    update: dict[str, Any] = {"guardrails": {"input": verdict}}
    if verdict["refused"]:
        return update | {"route": "refused", "reason": verdict["rail"]}
    if verdict["escalation"]["handoff"]:
        return update | {"route": "handoff", "reason": verdict["escalation"]["reason"]}
    return update
