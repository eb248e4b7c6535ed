"""Detect the customer's language (es/en), and stop empty messages and messages in other languages early."""

from __future__ import annotations

import re
from typing import Any

from graph.deps import Deps
from graph.state import ChatState
from retrieval.language import asked_language, detect_language, language_tag, other_language
from retrieval.text import clean


def run(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Clean the message, pick the reply language, and route empty or unsupported-language messages away."""
    text = clean(state.get("message", ""))
    fallback = state.get("session_lang") or kb_language(getattr(deps, "kb", None))
    # The caller may fix the language, or the customer ask for one (now or earlier in the session); otherwise detect
    # it, keeping the session's for messages with no evidence.
    asked = asked_language(text)
    refused = asked if asked and state.get("lang") and asked[0] != state.get("lang") else None
    if refused:  # the caller fixed the other language (the API's lang, the UI's selector): not granted
        asked = None
    requested = state.get("lang") or (asked[0] if asked else None) or state.get("reply_lang") or None
    lang = requested or detect_language(text, default=fallback) or fallback  # type: ignore[arg-type]
    # requested: the language is fixed, and no later rail (small talk, another language) changes it
    verdict: dict[str, Any] = {"lang": lang, "other": None, "requested": requested is not None}
    if requested:  # the language the message is written in, which the rails and the search read it in
        verdict["written"] = detect_language(text) or requested
    update: dict[str, Any] = {"text": text, "lang": lang}
    if asked:
        update["reply_lang"] = verdict["asked"] = asked[0]
        if asked[1]:  # it asks for nothing else: the last question again, in that language (resolve_followup)
            verdict["switch"] = True
            topic = state.get("topic", "")
            if topic:  # searched in the language it was asked in
                verdict["written"] = detect_language(topic, default=language_tag(state.get("session_lang"))) or lang
            else:
                update |= {"route": "smalltalk", "reason": "language"}
    elif refused and refused[1]:  # "en español, por favor" with lang en: say so, not "Of course, ... in English"
        verdict["asked"] = refused[0]
        update |= {"route": "smalltalk", "reason": "language_fixed"}
    if not re.search(r"[^\W_]", text):
        update |= {"route": "out_of_scope", "reason": "empty"}
    else:
        other = other_language(text)
        if other is not None:
            verdict["other"] = other
            update |= {"route": "out_of_scope", "reason": "unsupported_language", "lang": requested or fallback}
    update["guardrails"] = {"language": verdict}
    return update


def kb_language(kb: object) -> str:
    """The language most of the knowledge base's articles are in, es or en (English on a tie): what a first message
    with no language of its own ("?", "🏋️💪") is answered in. A Spanish gym chain's help centre greeted it in
    English."""
    share = getattr(kb, "language_share", None) or {}
    return "es" if share.get("es", 0.0) > share.get("en", 0.0) else "en"


def query_language(state: ChatState) -> str:
    """The language to read the customer's message (and the query built from it) in: the answer's, unless the
    caller fixed the answer's language (``lang`` of the API) and the message is written in the other (``written``,
    detected once by :func:`run`). "¿Cómo devuelvo un producto?" with ``lang: en`` was searched as English (the
    English embedder, English stems) and answered from the gift-cards article, and "¿Hacéis envíos a Canarias?"
    refused as out of scope; the scope rail and the search read it as Spanish now, and the English version of what
    the search finds is shown."""
    written = (state.get("guardrails") or {}).get("language", {}).get("written")  # set only when lang was fixed
    return str(written or state.get("lang", "en"))
