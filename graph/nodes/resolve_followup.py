"""Resolve a follow-up from the conversation: "¿y cuánto tarda?" after a question about returns is a question about
returns. A short message that leans on what came before is searched together with the previous topic."""

from __future__ import annotations

import re
from typing import Any

from graph.deps import Deps
from graph.rails.patterns import fold
from graph.state import ChatState
from graph.text import content_stems

_MARKUP = re.compile(r"<!--.*?-->|<script.*?</script>|<style.*?</style>|<[^>]{1,200}>|```|[#*_`]{1,3}", re.S | re.I)
_LEADS = re.compile(
    r"^\W*(and|also|what about|how about|and if|so|then|but|what if|y|e|tambien|entonces|pero|y si|que tal|"
    r"vale y|ok y|ah y|and how|and what|y como|y cuanto|y donde|y cuando|y que)\b"
)
_REFERS = re.compile(r"\b(it|that|this|they|them|those|one|eso|esto|ese|esa|lo|la|los|las|le|les|ahi|alli)\b")
MAX_FOLLOWUP_STEMS = 3


def strip_markup(text: str) -> str:
    """Drop HTML tags, scripts and Markdown marks, keeping the words (a question pasted as HTML is a question)."""
    return " ".join(_MARKUP.sub(" ", text).split())


LONG_WORDS = 80


def focus(text: str) -> str:
    """The part of a long message that asks: its last paragraph with a question, cut to its questions when that is
    still long (customers tell the story first; the embedder reads only the first 256 tokens)."""
    if len(text.split()) <= LONG_WORDS:
        return text
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()] or [text]
    asking = [p for p in paragraphs if "?" in p] or paragraphs[-1:]
    last = asking[-1]
    if len(last.split()) > LONG_WORDS:
        questions = re.findall(r"[^.!?]*\?", last)
        last = " ".join(q.strip() for q in questions[-3:]) or " ".join(last.split()[-LONG_WORDS:])
    return last


def is_followup(text: str, lang: str) -> bool:
    """A short message that opens like a continuation or points back at something."""
    stems = content_stems(text, lang)
    folded = fold(text)
    if len(stems) > MAX_FOLLOWUP_STEMS:
        return False
    return bool(_LEADS.search(folded) or _REFERS.search(folded) or len(stems) <= 1)


def run(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Build the retrieval query: the cleaned message, with the previous topic when it is a follow-up."""
    if state.get("route"):
        return {}
    query = focus(strip_markup(state.get("text", "")) or state.get("text", ""))
    topic = state.get("topic", "")
    followup = bool(topic) and is_followup(query, state.get("lang", "en"))
    if followup:
        query = f"{topic} {query}"
    return {"query": query, "guardrails": {"followup": {"resolved": followup, "topic": topic if followup else None}}}
