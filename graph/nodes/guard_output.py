"""Output rails: grounded in the passages (rag/hybrid), in the customer's language, no PII the customer did not
give, no stereotyped generalisation. A failing LLM answer falls back to the extractive generator once; a failing
extractive answer (or one with no passages to fall back on) is handed to a person."""

from __future__ import annotations

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
        if passages and kind == "extractive":  # passage sentences, verbatim: grounded by construction
            checks["grounded"] = {"grounded": True, "support": 1.0, "unsupported": [], "by_construction": True}
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
