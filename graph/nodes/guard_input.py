"""Input rails: prompt injection and jailbreaks, abuse, discriminatory requests (refused), and requests for a
person or legal threats (handed off)."""

from __future__ import annotations

from typing import Any

from graph.deps import Deps
from graph.rails.abuse import check_abuse
from graph.rails.bias import check_bias_request
from graph.rails.escalation import check_escalation
from graph.rails.injection import check_injection
from graph.state import ChatState


def run(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Run every input rail; the first refusal reason wins over a hand-off."""
    if state.get("route"):
        return {}
    text = state.get("text", "")
    verdicts = {
        "injection": check_injection(text),
        "abuse": check_abuse(text),
        "bias": check_bias_request(text),
        "escalation": check_escalation(text),
    }
    update: dict[str, Any] = {"guardrails": verdicts}
    for name in ("injection", "abuse", "bias"):
        if verdicts[name]["flagged"]:
            return update | {"route": "refused", "reason": name}
    if verdicts["escalation"]["handoff"]:
        return update | {"route": "handoff", "reason": verdicts["escalation"]["reason"]}
    return update
