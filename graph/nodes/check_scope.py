"""Scope rail node: is the (resolved) query about the knowledge base's domain? Embeds the query once; retrieval
reuses that vector."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graph.deps import Deps
from graph.nodes.detect_language import query_language
from graph.scope import ScopeModel
from graph.smalltalk import smalltalk
from graph.state import ChatState
from retrieval.conversation import is_slot_answer, without_asides
from retrieval.text import content_stems, gibberish, split_sentences

# A follow-up's own words may score this many times lower odds than the threshold and stay in scope (chosen on
# benchmarks/data/conversations_dev.jsonl and the dev out-of-scope messages sent as second turns; docs/graph.md).
FOLLOWUP_ODDS = 8.0
OWN_TERMS = 2  # ... when they say something of their own: this many content words besides numbers
# A query in an article's own words may score this many times lower odds than the threshold and be in scope (the
# same margin as a follow-up's; on the demo store, "what date will it be 5 days from now" uses two words of one
# chunk at odds 140 times lower).
ANCHORED_ODDS = 8.0

Respell = Callable[[str], tuple[str, Any] | None]  # a query -> (its typos corrected, that text's vector), or None


def respeller(kb: Any, embed: Callable[[str], Any], lang: str) -> Respell | None:
    """What :func:`scope_verdict` reads a misspelt query with: the index's speller (:mod:`retrieval.spelling`; typos
    only, not a real word's stem) and the index's embedder; None for a search backend without a speller."""
    speller = kb.speller() if hasattr(kb, "speller") else None
    if speller is None:
        return None

    def respell(query: str) -> tuple[str, Any] | None:
        fixed = speller.corrected(query, lang, stems=False)
        return (fixed, embed(fixed)) if fixed != query else None

    return respell


def _odds(p: float) -> float:
    return p / (1.0 - p) if p < 1.0 else float("inf")


def near(score: float, threshold: float) -> bool:
    """Whether ``score`` is within :data:`ANCHORED_ODDS` times lower odds of ``threshold``."""
    return _odds(score) * ANCHORED_ODDS >= _odds(threshold)


def anchor(kb: Any, lang: str) -> Callable[[str], bool] | None:
    """What :func:`scope_verdict` asks whether one article of the index uses every content word of a query
    (:meth:`retrieval.search.KnowledgeBase.holds_words`); None for a search backend without it."""
    holds = getattr(kb, "holds_words", None)
    return None if holds is None else (lambda query: bool(holds(query, lang)))


def scope_verdict(
    model: ScopeModel,
    vector: Any,
    query: str,
    lang: str,
    threshold: float | None = None,
    respell: Respell | None = None,
    anchored: Callable[[str], bool] | None = None,
    embed: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """``{"score", "threshold", "in_scope"[, "no_known_word", "business", "general_task", "other_company", "in_article",
    "sentence", "spelling"]}``: every rule of the scope rail on one query (``vector``: its embedding by the index's
    embedder; ``threshold``: overrides the fitted one). The graph node and ``supportbot guard scope`` both call this.
    A general task in the business's words (``general_task``: :meth:`graph.scope.ScopeModel.general_tasks`) is out of
    scope whatever the score, unless one of its sentences alone is support ("La cajera le dijo a mi hermano que los
    gitanos roban. Quiero poner una queja formal."); no other rule below reads it again.

    A query refused as typed is judged again with its typos corrected (``respell``, :func:`respeller`): "repiar my
    phone", "donde esta mi paqete" read far from every article, misspelt, and were refused; when that reading is in
    scope, so is the query (``spelling``: the corrected text). Keyboard mashing and a query naming another
    company are not read again (a company's name is no typo of the index's words).

    A query refused by the model, near its threshold (:func:`near`), whose every content word (two or more) one
    chunk of the index uses is in scope (``anchored``, :func:`anchor`; ``in_article``): the customer asked in the
    article's own words. On an 8-article bike shop's help centre "¿Qué incluye la revisión completa?" scored 0.020
    against a Spanish threshold of 0.054 while the article says "Una revisión completa cuesta 80 euros e
    incluye...".

    A refused query of several sentences, near the threshold (:func:`near`), one of which alone is in scope
    (``embed``: the index's embedder) is in scope (``sentence``: that one): "Your courier said women can't drive. I
    want to complain." scored 0.29 as a whole against 0.42, "I want to complain." 0.99 alone."""
    score = model.score(vector, query, lang) if query.strip() else 0.0
    cut = model.threshold(lang) if threshold is None else threshold
    # Keyboard mashing ("asdkjh qwe lkjzx") that shares no word with the knowledge base: nothing to answer from,
    # whatever the embedding says (misspelt questions also share no word, but read like words).
    unknown = gibberish(query) and model.coverage(query, lang) == 0.0
    # "what's your phone number?": about the business itself, in scope for any knowledge base
    business = bool(query.strip()) and bool(model.about_business(vector[None, :], [query])[0])
    # "calcula el precio sin IVA si el total son 55 euros": a general task in the business's words, out of scope
    task = bool(query.strip()) and not business and bool(model.general_tasks(vector[None, :], [query])[0])
    verdict: dict[str, Any] = {
        "score": round(score, 4),
        "threshold": round(cut, 4),
        "in_scope": (score >= cut or business) and not unknown and not task,
    }
    if unknown:
        verdict["no_known_word"] = True
    if business:
        verdict["business"] = True
    if task:
        verdict["general_task"] = True
    others = model.other_companies(query)
    if others:  # one of the features; the redirect names the company when the rail says no
        verdict["other_company"] = others[0]
    elif task:  # its words are the business's: no second reading of them, but a sentence of support in it counts
        if embed is not None and (one := _sentence_in_scope(model, embed, query, lang, cut)):
            verdict |= {"in_scope": True, "sentence": one}
    elif anchored is not None and not verdict["in_scope"] and not unknown and near(score, cut) and anchored(query):
        verdict |= {"in_scope": True, "in_article": True}
    elif (
        embed is not None
        and not verdict["in_scope"]
        and not unknown
        and near(score, cut)
        and (one := _sentence_in_scope(model, embed, query, lang, cut))
    ):
        verdict |= {"in_scope": True, "sentence": one}
    elif respell is not None and not verdict["in_scope"] and not unknown:
        read = respell(query)
        if read is not None:
            again = scope_verdict(model, read[1], read[0], lang, threshold)
            if again["in_scope"]:
                return again | {"spelling": read[0]}
    return verdict


def _sentence_in_scope(model: ScopeModel, embed: Callable[[str], Any], query: str, lang: str, cut: float) -> str:
    """The sentence of a query of several (each with a content word, small talk aside: "¿Qué tal todo?") that the
    model alone scores highest, when that puts it in scope and it is no general task, or ""."""
    pieces = split_sentences(query)
    if len(pieces) < 2:
        return ""
    best, best_score = "", cut
    for piece in (piece for piece in pieces if content_stems(piece, lang) and not smalltalk(piece)):
        vector = embed(piece)
        score = model.score(vector, piece, lang)
        if score >= best_score and not model.general_tasks(vector[None, :], [piece])[0]:
            best, best_score = piece, score
    return best


def _own_terms(text: str, lang: str) -> int:
    """Content words of a follow-up, numbers aside: "what about a 600 euro one" says one thing of its own."""
    return sum(not stem.isdigit() for stem in content_stems(text, lang))


def run(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Score the query; below the threshold the turn is a polite redirect.

    A message that stands on its own is judged without the asides that open it ("also,", "por cierto,"). A
    follow-up is judged with the conversation it leans on (its query holds the topic: "¿y a Canarias?" says little
    alone), and also by its own words when they say something of their own (``OWN_TERMS`` content words or more
    besides numbers, not a value handed over): "also, do you know a good lasagna recipe?" after a question about
    delivery leans on nothing but its "also", and was searched, and answered or handed to a person, as a question
    about delivery. Its own words may score up to ``FOLLOWUP_ODDS`` times lower odds than the threshold (the
    conversation speaks for it)."""
    if state.get("route"):
        return {}
    if deps.scope is None:
        return {"guardrails": {"scope": {"skipped": "no scope model for this search backend"}}}
    query = state.get("query", "")
    lang = query_language(state)
    own = without_asides(state.get("message_query") or query)
    followup = bool(state.get("guardrails", {}).get("followup", {}).get("resolved"))
    judged = query if followup else own
    respell, anchored = respeller(deps.kb, deps.embed, lang), anchor(deps.kb, lang)
    cut = deps.config.scope_threshold
    verdict = scope_verdict(deps.scope, deps.embed(judged), judged, lang, cut, respell, anchored, deps.embed)
    if followup and verdict["in_scope"] and _own_terms(own, lang) >= OWN_TERMS and not is_slot_answer(own):
        alone = scope_verdict(deps.scope, deps.embed(own), own, lang, cut, respell, anchored, deps.embed)
        verdict["own_score"] = alone["score"]
        if not alone["in_scope"] and _odds(alone["score"]) * FOLLOWUP_ODDS < _odds(alone["threshold"]):
            verdict["in_scope"] = False
            verdict |= {k: alone[k] for k in ("other_company",) if k in alone}
    update: dict[str, Any] = {"guardrails": {"scope": verdict}}
    if not verdict["in_scope"]:
        update |= {
            "route": "out_of_scope",
            # typed at random: ask what the customer needs, not say what the help centre covers
            "reason": "other_company"
            if "other_company" in verdict
            else "unclear"
            if verdict.get("no_known_word")
            else "out_of_domain",
        }
    return update
