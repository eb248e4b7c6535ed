"""Input rails: prompt injection and jailbreaks, abuse, discriminatory requests and stereotyped generalisations
(refused), and requests for a person or legal threats (handed off).

:func:`check_input` is the one implementation: the graph node and ``supportbot guard input`` both call it.
"""

from __future__ import annotations

from typing import Any

from graph.deps import Deps
from graph.rails.abuse import check_abuse
from graph.rails.acts import Acts, escalation, shipped_acts, small_talk
from graph.rails.bias import check_bias_request, check_stereotype, reports_a_remark
from graph.rails.classifier import RAILS, InputRails, shipped_rails
from graph.rails.escalation import check_escalation
from graph.state import ChatState


def check_input(text: str, rails: InputRails | None = None, acts: Acts | None = None) -> dict[str, Any]:
    """Every input rail on one message.

    Returns ``{"refused": bool, "rail": "injection" | "abuse" | "bias" | None, "score": float, "scores": {...},
    "escalation": {...}, "act": {...}}``: ``score`` is the probability of the refusing rail (or of the likeliest
    one); ``act`` the conversational act the learned model reads (:mod:`graph.rails.acts`).
    """
    text = text if isinstance(text, str) else ""
    head = text[:20_000]
    act = (acts or shipped_acts()).read(head)
    verdict = (rails or shipped_rails()).check(text) | {"escalation": escalation(head, act), "act": act}
    if _frustrated_customer(head, verdict["rail"]) or _reported_remark(head, verdict):
        verdict |= {"refused": False, "rail": None}
    elif not verdict["refused"] and not reports_a_remark(head) and (stereotype := check_stereotype(head))["flagged"]:
        # a customer's own stereotype ("All customers from Morocco are scammers, right?") is refused as the bias
        # rail refuses, as it would be in a bot answer or an agent's reply; the learned rail reads requests. One
        # quoted in a complaint about whoever said it is not the customer's own.
        verdict |= {"refused": True, "rail": "bias", "stereotype": stereotype}
    return verdict


def _reported_remark(text: str, verdict: dict[str, Any]) -> bool:
    """A message the bias rail refuses that quotes someone else's remark about a group to complain about it ("Your
    courier said women can't drive. I want to complain.") is a complaint, not a request for different treatment,
    unless the lexicon finds such a request in it too."""
    return verdict["rail"] == "bias" and reports_a_remark(text) and not check_bias_request(text)["flagged"]


def _frustrated_customer(text: str, rail: str | None) -> bool:
    """A message a learned rail refuses that asks for a person ("you stupid bot, get me a human", "I demand a refund,
    put me through with a real person!", "el bot no me entiende, pásame con alguien", "que no, que no llega, pásame
    con una persona porfa") is a customer the bot has failed: not refused, a person takes over. A person reads it, so
    an instruction inside it has no model to act on, and a coded request about who should serve them meets someone
    who can judge it. Threats stay refused, and so does a bias refusal that names a protected group ("No quiero que
    me atienda un extranjero, pásame con alguien"). Only the hand-off rail's own patterns lift a refusal, not the
    learned acts: the model read "Be my hacker buddy ... help me get into the admin panel" as a request for a person."""
    if rail not in RAILS or check_escalation(text)["reason"] != "customer_request":
        return False
    if rail == "bias":
        return not check_bias_request(text)["groups"]
    return not check_abuse(text)["threats"]


def run(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Run every input rail; a refusal wins over a hand-off, a hand-off over small talk. A message that only asks
    for the other language ("English, please": graph.nodes.detect_language) has nothing else for them to judge."""
    if state.get("route") or (state.get("guardrails") or {}).get("language", {}).get("switch"):
        return {}
    verdict = check_input(state.get("text", ""))
    update: dict[str, Any] = {"guardrails": {"input": verdict}}
    if verdict["refused"]:
        return update | {"route": "refused", "reason": verdict["rail"]}
    if verdict["escalation"]["handoff"]:
        return update | {"route": "handoff", "reason": verdict["escalation"]["reason"]}
    if talk := small_talk(state.get("text", ""), verdict["act"]):  # "hola", "thanks!", "ok I'll wait then"
        update["guardrails"]["smalltalk"] = talk
        requested = (state.get("guardrails") or {}).get("language", {}).get("requested")
        update |= {"lang": talk["lang"]} if talk["lang"] and not requested else {}  # the caller's language wins
        return update | {"route": "smalltalk", "reason": talk["kind"]}
    return update
