"""Input rails: prompt injection and jailbreaks, abuse, discriminatory requests and stereotyped generalisations
(refused), and requests for a person or legal threats (handed off).

:func:`check_input` is the one implementation: the graph node and ``supportbot guard input`` both call it.
"""

from __future__ import annotations

from typing import Any

from graph.deps import Deps
from graph.rails.abuse import BOT_COMPLAINT, check_abuse
from graph.rails.bias import check_stereotype
from graph.rails.classifier import InputRails, shipped_rails
from graph.rails.escalation import check_escalation
from graph.rails.patterns import hits
from graph.smalltalk import smalltalk
from graph.state import ChatState


def check_input(text: str, rails: InputRails | None = None) -> dict[str, Any]:
    """Every input rail on one message.

    Returns ``{"refused": bool, "rail": "injection" | "abuse" | "bias" | None, "score": float, "scores": {...},
    "escalation": {...}}``: ``score`` is the probability of the refusing rail (or of the likeliest one).
    """
    text = text if isinstance(text, str) else ""
    verdict = (rails or shipped_rails()).check(text) | {"escalation": check_escalation(text[:20_000])}
    if _frustrated_customer(text[:20_000], verdict):
        verdict |= {"refused": False, "rail": None}
    elif not verdict["refused"] and (stereotype := check_stereotype(text[:20_000]))["flagged"]:
        # a customer's own stereotype ("All customers from Morocco are scammers, right?") is refused as the bias
        # rail refuses, as it would be in a bot answer or an agent's reply; the learned rail reads requests
        verdict |= {"refused": True, "rail": "bias", "stereotype": stereotype}
    return verdict


def _frustrated_customer(text: str, verdict: dict[str, Any]) -> bool:
    """An insult that comes with a request for a person ("you stupid bot, get me a human") is a customer the bot
    has failed: not refused, a person takes over. Threats stay refused."""
    if verdict["rail"] != "abuse" or verdict["escalation"]["reason"] != "customer_request":
        return False
    abuse = check_abuse(text)
    return bool(abuse["insults"] or hits(BOT_COMPLAINT, text)) and not abuse["threats"]


def run(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Run every input rail; a refusal wins over a hand-off, a hand-off over small talk."""
    if state.get("route"):
        return {}
    verdict = check_input(state.get("text", ""))
    update: dict[str, Any] = {"guardrails": {"input": verdict}}
    if verdict["refused"]:
        return update | {"route": "refused", "reason": verdict["rail"]}
    if verdict["escalation"]["handoff"]:
        return update | {"route": "handoff", "reason": verdict["escalation"]["reason"]}
    if talk := smalltalk(state.get("text", "")):  # "hola", "thanks!", "are you a bot?": a reply in kind
        update["guardrails"]["smalltalk"] = talk
        update |= {"lang": talk["lang"]} if talk["lang"] else {}
        return update | {"route": "smalltalk", "reason": talk["kind"]}
    return update
