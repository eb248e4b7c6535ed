"""Detect the customer's language (es/en), and stop empty messages and messages in other languages early."""

from __future__ import annotations

import re
from typing import Any

from graph.deps import Deps
from graph.state import ChatState
from retrieval.text import clean

# Scripts no supported language uses: a message in them is in another language.
_OTHER_SCRIPT = re.compile(
    r"[\u0400-\u04ff\u0590-\u05ff\u0600-\u06ff\u0900-\u097f\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]"
)


def detector() -> Any:
    """The lingua detector over Spanish, English and the other languages customers write in, models preloaded."""
    from retrieval.language import OTHER_LANGUAGES, lingua_detector

    return lingua_detector("ENGLISH", "SPANISH", *OTHER_LANGUAGES, preload=True)


def other_language(text: str) -> str | None:
    """The name of the language ``text`` is in when it is clearly neither Spanish nor English, else None."""
    letters = re.findall(r"[^\W\d_]", text)
    if letters and sum(bool(_OTHER_SCRIPT.match(c)) for c in letters) > len(letters) / 2:
        return "other_script"
    if len(re.findall(r"[^\W\d_]{2,}", text)) < 4:  # too short to tell; "agente" is not Italian
        return None
    values = {v.language.name.lower(): v.value for v in detector().compute_language_confidence_values(text)}
    best = max(values, key=lambda name: values[name])
    if best in ("english", "spanish") or values[best] < 0.9:  # misspelt Spanish can look 0.7 Portuguese
        return None
    return best


def run(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Clean the message, pick the reply language, and route empty or unsupported-language messages away."""
    from retrieval.language import detect_language

    text = clean(state.get("message", ""))
    fallback = state.get("session_lang") or "en"
    # The caller may fix the language; otherwise detect it, keeping the session's for messages with no evidence.
    lang = state.get("lang") or detect_language(text, default=fallback) or fallback  # type: ignore[arg-type]
    verdict: dict[str, Any] = {"lang": lang, "other": None}
    update: dict[str, Any] = {"text": text, "lang": lang}
    if not re.search(r"[^\W_]", text):
        update |= {"route": "out_of_scope", "reason": "empty"}
    else:
        other = other_language(text)
        if other is not None:
            verdict["other"] = other
            update |= {"route": "out_of_scope", "reason": "unsupported_language", "lang": fallback}
    update["guardrails"] = {"language": verdict}
    return update
