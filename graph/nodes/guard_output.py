"""Output rails: grounded in the passages (rag/hybrid), in the customer's language, no PII the customer did not
give, no stereotyped generalisation. A failing LLM answer falls back to the extractive generator once; a failing
extractive answer (or one with no passages to fall back on) is handed to a person."""

from __future__ import annotations

import re
from typing import Any

from graph.deps import Deps
from graph.rails.bias import check_stereotype
from graph.rails.grounding import check_grounded, check_language, check_pii
from graph.state import ChatState


def run(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Check the answer; ``guardrails.output.action`` is ``ok``, ``fallback`` or ``handoff``."""
    answer, lang, kind = state.get("answer", ""), state.get("lang", "en"), state.get("generator", "extractive")
    passages = state.get("passages", []) if state.get("mode") != "finetune" else []
    checks: dict[str, Any] = {"empty": not answer.strip()}
    if answer.strip():
        if passages and kind == "extractive":  # passage sentences, verbatim: every word must come from them
            checks["grounded"] = _verbatim(answer, passages)
        elif passages:
            checks["grounded"] = check_grounded(answer, passages, lang, deps.config.support_threshold)
        if kind != "extractive":  # extractive answers are passage sentences in the customer's language
            checks["language"] = check_language(answer, lang)
            published = " ".join(str(p.get("text", "")) for p in passages)
            checks["pii"] = check_pii(answer, lang, deps.redactor, state.get("pii_hashes", []), published)
        checks["stereotype"] = check_stereotype(answer)
    failed = [
        name
        for name, verdict in checks.items()
        if (name == "empty" and verdict)
        or (name == "grounded" and not verdict["grounded"])
        or (name in ("language", "pii") and not verdict["ok"])
        or (name == "stereotype" and verdict["flagged"])
    ]
    if not failed:
        return {"guardrails": {"output": {"action": "ok", "checks": checks}}}
    if kind != "extractive" and passages:
        return {"generator": "extractive", "guardrails": {"output": {"action": "fallback", "failed": failed,
                                                                     "checks": checks}}}  # fmt: skip
    return {
        "route": "handoff",
        "reason": "unsupported_answer",
        "guardrails": {"output": {"action": "handoff", "failed": failed, "checks": checks}},
    }


def _verbatim(answer: str, passages: list[dict[str, Any]]) -> dict[str, Any]:
    """An extractive answer is grounded when every word of it (citation marks aside) occurs in the passages.

    Cheaper than the overlap check and exact for what the extractive generator builds; it still catches an
    answer that did not come from the passages (a bug, or a state built elsewhere)."""
    known = set(
        re.findall(r"\w+", " ".join(str(p.get("text", "")) + " " + str(p.get("title", "")) for p in passages).lower())
    )
    words = re.findall(r"\w+", re.sub(r"\[\d+\]", " ", answer).lower())
    unknown = sorted({w for w in words if w not in known})
    support = 1.0 - len(unknown) / max(len(set(words)), 1)
    return {"grounded": not unknown, "support": round(support, 3), "unsupported": unknown, "by_construction": True}
