"""Conversation-aware retrieval queries: one function for the graph's follow-up node and ``kb search --batch``.

A message that stands on its own ("how do I reset my password?") is searched as it is: the latest customer turn
dominates. A follow-up ("¿y cuánto tarda?", "yes, from checking", "Crystal Minh") is searched together with the
resolved topic (the last query that stood on its own), then the customer's previous turn and the agent's last
turn, each cut to a few words so that the earlier turns, and the agent's most, weigh less than the latest one.
A reply to an agent turn that asks ("Which city?" -> "San Jose") counts as a follow-up, and so does a reply that only
hands over a value such a turn asks for ("Crystal Minh", "<EMAIL_1>", "Username: cminh730", "mi pedido es el
4182293"), whatever the agent's last turn was: the bot's own answers rarely end with the question a person would ask.
Budgets and rules were chosen on the multi-turn dev corpora (SGD dev, ABCD samples: docs/retrieval.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from retrieval.language import detect_language, strip_accents
from retrieval.lexical import analyze
from retrieval.text import PLACEHOLDER, WORD_WITH_APOSTROPHE

USER_ROLES = frozenset({"user", "customer", "human"})
_LEADS = re.compile(
    r"^\W*(and|also|what about|how about|and if|so|then|but|what if|y|e|tambien|entonces|pero|y si|que tal|"
    r"vale y|ok y|ah y|and how|and what|y como|y cuanto|y donde|y cuando|y que)\b"
)
# Not "la", "los", "las", "le", "les": mostly articles or a person in Spanish, so nearly every short Spanish question
# would lean on the previous topic (demo-switch dev set: es R@1 0.343 with them, docs/retrieval.md).
_REFERS = re.compile(r"\b(it|that|this|they|them|those|one|eso|esto|ese|esa|lo|ahi|alli)\b")
# A thank-you or an acknowledgement ("Thanks, that's all I need", "perfecto, gracias") asks nothing new: the topic
# carries over (SGD dev, docs/retrieval.md).
_CLOSES = re.compile(
    r"^\W*(thanks|thank you|thx|gracias|perfect|perfecto|great|genial|ok|okay|vale|correct|correcto|"
    r"that's all|that is all|eso es todo)\b"
)
# A question's first word, when the customer leaves out the question mark ("vale. como devuelvo un articulo").
_ASKS = re.compile(
    r"^\W*(how|what|where|when|why|which|who|can|could|do|does|did|is|are|will|would|como|que|cuanto|cuanta|cuantos|"
    r"cuantas|donde|cuando|por que|puedo|puede|puedes|podeis|hay|quien|cual|cuales)\b"
)
# An aside that opens a message without saying what it is about ("also,", "btw", "unrelated but", "por cierto",
# "oye, otra cosa:"): the scope rail reads the message without it. Customers open off-topic questions with these
# (benchmarks/data/conversations_dev.jsonl: "por cierto sabes de algun fisio bueno", "also do you know a good lasagna
# recipe"), and as the start of a conversation turn they made the words after them read like a support request.
_ASIDES = re.compile(
    r"^\W*(?:(?:also|btw|by the way|oh|and|so|ok|okay|cool|anyway|one more thing|another thing|quick question|"
    r"random question|unrelated|off topic|not related|but|por cierto|otra cosa|una cosa mas|una cosa|una pregunta|"
    r"oye|ah|bueno|pues|y|tambien|ademas|aparte|cambiando de tema|sin relacion|nada que ver)\b[\s,.:;!-]*)+"
)
MAX_FOLLOWUP_TERMS = 3  # a message with more content terms than this states its own need
# ... unless it opens like a continuation: up to this many terms (benchmarks/conversations.py dev, later turns: gold
# article first 0.565 -> 0.609; ABCD R@1 0.290 -> 0.323; SGD and demo topic switches unchanged; docs/retrieval.md)
MAX_LEAD_TERMS = 9
# The words of a reply that only hands over what it was asked for, besides the value itself: leads ("sure", "it's",
# "aquí tienes", "te paso") and the names of what is handed over ("Username:", "mi correo es", "order id"); lower-case,
# accent-free, apostrophes dropped. Question words are not among them: "where is order 4182293" asks.
_SLOT_WORDS = frozenset(
    """
    sure yes yeah yep ok okay of course here heres you go it its is are that thats this the a an my i im am and
    please thanks thank name names full first last surname e mail email address phone mobile cell telephone number no
    order id account user username login zip postcode postal code membership reference ref tracking
    si claro vale aqui tienes te paso es son el la los las de del mi mis y soy me llamo por favor gracias nombre
    apellido apellidos completo correo electronico direccion telefono movil celular numero pedido cuenta usuario
    codigo referencia seguimiento dni nie nif
    """.split()  # noqa: SIM905
)
MAX_SLOT_WORDS = 12  # a longer reply says more than the value asked for
MAX_NAME_WORDS = 4  # "Crystal Minh", "María de la Fuente": as many capitalised words as a full name has
PREVIOUS_USER_WORDS = 12  # the customer's previous turn, cut to its first words
AGENT_WORDS = 30  # the agent's (or bot's) last turn, cut shorter than the customer's own words
LATEST_REPEAT = 2  # the latest turn is written twice: it dominates the embedding's mean pooling
_SENTENCES = re.compile(r"(?<=[.!?])\s+")


@dataclass
class ConversationQuery:
    """The search text for a conversation and how it was built."""

    query: str
    followup: bool  # the latest turn leaned on earlier ones, which were added
    topic: str | None  # the topic carried over (None when the latest turn stood on its own)


def _terms(text: str, lang: str | None) -> list[str]:
    return analyze(text, lang if lang in ("en", "es") else detect_language(text, default="en") or "en")


def _folded(text: str) -> str:
    return strip_accents(text.lower().replace("’", "'"))


def _closes(text: str, lang: str | None = None) -> bool:
    """A short thank-you or acknowledgement ("Correct, thank you.", "perfecto, gracias")."""
    return bool(_CLOSES.search(_folded(text))) and len(_terms(text, lang)) <= MAX_FOLLOWUP_TERMS + 4  # BM25 keeps "you"


def _after_acknowledgements(text: str) -> str:
    """``text`` without the acknowledgements that open it ("ok gracias, y para canarias?" -> ", y para canarias?")."""
    folded = _folded(text)
    start = 0
    while match := _CLOSES.search(folded[start:]):
        start += match.end()
    return text[start:] if len(folded) == len(text) else folded[start:]


def _without_acknowledgements(text: str, lang: str | None) -> str:
    """``text`` without its sentences that only acknowledge ("Thanks.", "Correct, thank you."); they ask nothing."""
    kept = [sentence for sentence in _SENTENCES.split(text) if not (_closes(sentence, lang) and "?" not in sentence)]
    return " ".join(kept)


# Words that may follow an acknowledgement without making it say more ("thank you so much", "muchas gracias").
_THANKS_FILLERS = frozenset(
    """so very much a lot lots again for everything all you your help thanks thank gracias muchas muchisimas mil de
    nuevo por todo tu su la ayuda ok okay vale perfecto genial""".split()  # noqa: SIM905
)


def is_acknowledgement(text: str) -> bool:
    """A message that only acknowledges or thanks, asking nothing ("ok", "vale, gracias", "Perfect, thank you so
    much!"); "ok, y a Canarias" or "ok my order never came" say more and are not one."""
    if "?" in text or "¿" in text or not _CLOSES.search(_folded(text)):
        return False
    rest = re.findall(r"[^\W\d_]+", _folded(_after_acknowledgements(text)))
    return all(word in _THANKS_FILLERS for word in rest)


def is_slot_answer(text: str) -> bool:
    """A short reply that only hands over a value: a redaction placeholder (``<EMAIL_1>``), a code, number or e-mail
    ("cminh730", "(977) 625-2661"), or a name of at most four capitalised words ("Crystal Minh"), with nothing but
    a lead or the value's label ("it's", "sure,", "Username:", "mi correo es"). A question is not one.

    Lower-case names ("crystal minh") cannot be told from a request ("gift cards") by their shape and do not count.
    """
    if "?" in text or "¿" in text:
        return False
    values = len(PLACEHOLDER.findall(text))
    pieces = PLACEHOLDER.sub(" ", text).split()
    if values + len(pieces) > MAX_SLOT_WORDS:
        return False
    names = 0
    for piece in pieces:
        if "@" in piece or any(c.isdigit() for c in piece):  # an e-mail, a phone, an order number, "cminh730"
            values += 1
            continue
        for word in WORD_WITH_APOSTROPHE.findall(piece):
            if _folded(word).replace("'", "") in _SLOT_WORDS:
                continue
            if not (word[:1].isupper() and not word.isupper()):  # "HEY" shouts, "bronze" is not a name
                return False
            names += 1
    return bool(values or names) and names <= MAX_NAME_WORDS


def is_followup(text: str, lang: str | None = None) -> bool:
    """A message that opens like a continuation ("and...", "y si..."; up to ``MAX_LEAD_TERMS`` terms), a short one
    that points back at something or has at most one content term, or one that only hands over a value asked for
    (:func:`is_slot_answer`): it leans on the conversation, when there is one."""
    if is_slot_answer(text):
        return True
    if _closes(text, lang):
        # What follows the acknowledgement is judged by the rules below: "vale, ¿y a Canarias?" leans on the
        # conversation, "vale. ¿Cómo devuelvo un artículo?" is a question of its own (it was searched with the
        # previous topic and answered about Canarias).
        rest = _after_acknowledgements(text)
        if "?" not in rest and not _ASKS.search(_folded(rest)):  # "Thanks for all the help. I'll be going now."
            return True
        text = rest
    terms = _terms(text, lang)
    folded = _folded(text)
    if _LEADS.search(folded) and len(terms) <= MAX_LEAD_TERMS:  # "and if I'm out when they come, what happens?"
        return True
    if len(terms) > MAX_FOLLOWUP_TERMS + 2:
        return False
    # BM25's stopword lists keep question words ("how", "does"): a message that opens like a continuation or points
    # back may have two more terms than one that does neither.
    leans = bool(_LEADS.search(folded) or _REFERS.search(folded))
    return leans or len(terms) <= 1 if len(terms) <= MAX_FOLLOWUP_TERMS else leans


def without_asides(text: str) -> str:
    """``text`` without the asides that open it (``_ASIDES``: "also, btw ...", "oye, por cierto, ..."), or ``text``
    itself when nothing else is left."""
    folded = _folded(text)
    match = _ASIDES.match(folded)
    # Folding keeps the length (lower case and accents only), so the match's end is an offset into ``text``.
    rest = text[match.end() :].strip() if match and len(folded) == len(text) else text
    return rest or text


def _text(turn: Mapping[str, str]) -> str:
    return " ".join(str(turn.get("text", turn.get("content", "")) or "").split())


def _cut(text: str, words: int) -> str:
    return " ".join(text.split()[:words])


def conversation_query(
    turns: Sequence[Mapping[str, str]], topic: str | None = None, lang: str | None = None
) -> ConversationQuery:
    """The retrieval query for the last customer turn of ``turns``.

    Args:
        turns: ``{"role", "text"}`` (or ``"content"``) dicts, oldest first; roles ``user``/``customer`` are the
            customer, anything else (``assistant``, ``agent``, ``bot``, ``system``) the other side. Turns after
            the last customer turn are ignored.
        topic: the resolved topic of the conversation (the graph keeps its last answered query); when absent,
            the latest earlier customer turn that stood on its own is the topic.
        lang: the language of the latest turn (detected when None).

    Raises:
        ValueError: no customer turn with text.
    """
    users = [i for i, t in enumerate(turns) if str(t.get("role", "")).lower() in USER_ROLES and _text(t)]
    if not users:
        raise ValueError("a conversation needs at least one customer turn with text")
    last = users[-1]
    latest = _text(turns[last])
    agent = [_text(t) for t in turns[users[-2] + 1 if len(users) > 1 else 0 : last] if _text(t)]
    # An answer to the agent's question ("Which city?" -> "San Jose") leans on the conversation too.
    followup = is_followup(latest, lang) or bool(agent and agent[-1].rstrip().endswith("?"))
    closes = followup and _closes(latest, lang)
    earlier = [_text(turns[i]) for i in users[:-1]]
    if not followup:  # a message that states its own need is searched alone: topics switch (docs/retrieval.md)
        return ConversationQuery(latest, followup=False, topic=None)
    if not topic:
        topic = next((t for t in reversed(earlier) if not is_followup(t, lang)), None)
    context = [topic or ""]
    if earlier and earlier[-1] != topic:
        context.append(_cut(earlier[-1], PREVIOUS_USER_WORDS))
    if agent:
        context.append(_cut(agent[-1], AGENT_WORDS))
    context = [p for p in context if p]
    if not context:  # the first message of a conversation: nothing to lean on
        return ConversationQuery(latest, followup=False, topic=None)
    # A thank-you's own words ("great thanks for your help") would pull BM25 towards whatever article says "help"
    # (ABCD dev, docs/retrieval.md): its acknowledging sentences are left out, and what it still asks is written
    # twice like any follow-up ("Thanks. How long will that take?"); a bare thank-you searches the context alone.
    asks = _without_acknowledgements(latest, lang) if closes else latest
    return ConversationQuery(" ".join([*context, *[asks] * (LATEST_REPEAT if asks else 0)]), followup, topic)


def batch_query(record: Mapping[str, Any]) -> str:
    """The search text of one ``kb search --batch`` record.

    ``query`` (or ``text``) is the latest customer turn; ``turns`` or ``history`` (``[{role, text|content}]``,
    oldest first) are the conversation before it, or the whole conversation ending with that turn; ``topic`` is
    an optional resolved topic. Without turns the query is searched as it is.

    Raises:
        ValueError: ``turns``/``history`` that is not a list of objects with a role.
    """
    query = str(record.get("query", record.get("text", "")))
    turns = record.get("turns", record.get("history"))
    if turns is None:
        return query
    if not isinstance(turns, list) or not all(isinstance(t, Mapping) and "role" in t for t in turns):
        raise ValueError(f"{record.get('id')}: 'turns'/'history' must be a list of {{role, text}} objects")
    turns = list(turns)
    last = turns[-1] if turns else None
    ends_with_query = (
        last is not None and str(last.get("role", "")).lower() in USER_ROLES and _text(last) == " ".join(query.split())
    )
    if query.strip() and not ends_with_query:
        turns.append({"role": "user", "text": query})
    topic = record.get("topic")
    return conversation_query(turns, topic=str(topic) if topic else None, lang=record.get("lang")).query
