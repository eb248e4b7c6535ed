"""Grade retrieval: is the best passage about the question? When it is weak, rewrite the query once (content words
only, plus the conversation's topic) and retrieve again; still weak, record a knowledge gap and hand off, unless the
message says too little to search for at all ("lol", "hmm ok"): then ask what the customer needs."""

from __future__ import annotations

from typing import Any

from graph.deps import Deps
from graph.nodes.detect_language import query_language
from graph.state import ChatState
from retrieval.lexicon import OTHER, load_lexicon
from retrieval.text import STOPWORDS, content_stems, overlap, words

CONFIDENT_MARGIN = 0.1
UNCLEAR_WORDS = 3  # a message of at most this many words with at most one content word says too little to hand off
LEXICON_TOP, LEXICON_MIN_PROB = 3, 0.1  # a query word's translations that count in a passage of the other language


def relevance(query: str, passage: dict[str, Any], lang: str) -> float:
    """max(dense cosine, share of the query's content stems the passage uses): the embedder is English-centric,
    so Spanish queries lean on the lexical half. In a passage of the other language a stem also counts when one of
    its es<->en lexicon translations is there: "¿Cómo restablezco mi contraseña?" shares no word with "Reset your
    password", and every question of a Spanish customer to an English-only help centre read as weak."""
    stems = content_stems(query, lang)
    text = f"{passage.get('title', '')} {passage.get('text', '')}"
    lexical = overlap(stems, set(content_stems(text, lang)))
    other = str(passage.get("lang") or lang)
    lexicon = load_lexicon("bundled") if other != lang and OTHER.get(lang) == other else None
    if stems and lexicon is not None:
        support = set(content_stems(text, other))
        crossed = [next((t for t in lexicon.translate([s], lang, LEXICON_TOP, LEXICON_MIN_PROB) if t in support), s)
                   for s in stems]  # fmt: skip
        lexical = max(lexical, overlap(crossed, support))
    return max(float(passage.get("dense_score", 0.0)), lexical if stems else 0.0)


def unclear(text: str, lang: str) -> bool:
    """Whether ``text`` says too little for a person to act on: at most :data:`UNCLEAR_WORDS` words, at most one of
    them a content word. "lol" reached the agents' queue as a case ("I couldn't find a reliable answer...") and the
    knowledge gaps list (a QA pass through the API, 2026-12-07)."""
    return len(words(text)) <= UNCLEAR_WORDS and len(set(content_stems(text, lang))) <= 1


def rewrite(query: str, topic: str) -> str:
    """The query's content words (greetings, filler and stop words dropped), with the topic when there is one."""
    kept = " ".join(w for w in words(query) if w not in STOPWORDS)
    return f"{topic} {kept}".strip() if topic and topic not in query else kept


def respelt(query: str, kb: Any, lang: str) -> str:
    """``query`` with the words the index does not have replaced by the index's words they misspell
    (:mod:`retrieval.spelling`; real words kept), as the search itself reads them; ``query`` itself for a search
    backend without a speller."""
    speller = kb.speller() if hasattr(kb, "speller") else None
    return query if speller is None else str(speller.corrected(query, lang, stems=False))


def run(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Set ``guardrails.relevance`` and, when weak, either a rewritten query or the hand-off route.

    The passages are graded against the query with its typos fixed, as the search read it: graded on its misspelt
    words, "how do i chnage my pasword" (searched right: the account article first) was weak, rewritten to "chnage
    pasword", searched again and answered from the VAT article (a QA pass, 2026-12-07)."""
    passages = state.get("passages", [])
    lang = query_language(state)  # an English question with lang es is graded as English
    query = respelt(state.get("query", ""), deps.kb, lang)
    score = max((relevance(query, p, lang) for p in passages[:3]), default=0.0)
    weak = score < deps.config.relevance_threshold
    verdict = {"score": round(score, 4), "weak": weak, "rewrites": state.get("rewrites", 0)}
    update: dict[str, Any] = {"guardrails": {"relevance": verdict}}
    if not weak:
        return update
    if state.get("rewrites", 0) == 0:
        new = rewrite(query, state.get("topic", ""))
        if new and new != state.get("query", ""):
            return update | {"query": new, "rewrites": 1}
    scope = state.get("guardrails", {}).get("scope", {})
    confident = scope.get("score", 0.0) >= scope.get("threshold", 1.0) + CONFIDENT_MARGIN
    # A message the scope rail's business detector accepted asks about the business itself ("¿dónde estáis?",
    # "where r u located"): short, but no "lol". A bicycle workshop's customer asking where it is was told "Perdona,
    # no sé bien qué necesitas" (a QA pass as its operator, 2026-12-08); a person answers it now, and the operator
    # sees it among the knowledge gaps.
    if unclear(state.get("text", query), lang) and not confident and not scope.get("business"):
        return update | {"route": "out_of_scope", "reason": "unclear"}
    deps.store.record_gap(state.get("text", query), state.get("lang", "en"))
    if confident and passages:
        # Confidently in the domain (misspelt, say): answer from the best passages; the output rails still check.
        return update | {"guardrails": {"relevance": {**verdict, "weak": False, "answered_anyway": True}}}
    return update | {"route": "handoff", "reason": "no_answer"}
