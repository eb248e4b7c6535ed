"""Conversational acts, learned: a request for a person, a legal threat, and small talk (a greeting, thanks or a
closing that asks nothing, a goodbye, a question about the assistant), in the words the hand-written rules
(:mod:`graph.rails.escalation`, :mod:`graph.smalltalk`) do not list: "can someone from your team check this", "¿me
puede atender alguien?", "ok I'll wait then", "vale, lo miro mañana". Those had been answered with an unrelated
help article.

One multinomial logistic regression over the message's USE multilingual v3 embedding (the input rails encoded the
same text moments before: a cache hit), the rules' own verdicts as features, and hashed character n-grams (the
input rails' :func:`graph.rails.classifier.char_ngrams`). The weights ship as ``data/rails/acts.npz``;
``python -m graph.rails.fit_acts`` refits them from ``data/dialogue/train.jsonl`` and real customer messages, and
chooses each act's threshold so that almost no real customer question is taken for one (docs/graph.md,
"Conversational acts").

The rules stay first: the model only adds what they miss (:func:`escalation`, :func:`small_talk`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

from graph.rails.classifier import Encode, InputRailModel, use_encode
from graph.rails.escalation import check_escalation
from graph.smalltalk import smalltalk
from retrieval.bundled import bundled_path
from retrieval.text import gibberish, words

WEIGHTS = bundled_path("rails", "acts.npz")
ACTS = ("none", "handoff", "legal", "greeting", "thanks", "goodbye", "identity")
SMALL_TALK = ("greeting", "thanks", "goodbye", "identity")
# The small talk the model's verdict is acted on: all four. A question about the assistant was left to the rules until
# 2026-12-07 (the model took "teneis chat por telegram o solo por la web?" and "what about that?" for one), and 11 of
# the 26 written dev questions about it got an unrelated article ("que clase de ayuda das tu?": the cookies policy);
# the model now reads 24 of them, and 1 of the 996 data/eval questions (docs/graph.md, "Conversational acts").
ACTED_SMALL_TALK = SMALL_TALK
# Thanks and goodbyes ask nothing and raise nothing new: "y si luego no lo quiero?" is a question and "thanks but my
# parcel never arrived" a problem, whatever the model says.
CLOSINGS = ("thanks", "goodbye")
_CONTRAST = frozenset(["but", "however", "although", "though", "pero", "aunque", "sin", "embargo", "sino"])
_NEGATION = frozenset(
    ["no", "not", "nope", "nop", "nah", "nothing", "never", "none", "cannot", "still", "nada", "nunca", "tampoco",
     "ningun", "ninguna", "ninguno", "sigue", "siguen", "todavia"]
    + [f"{w}{a}t" for w in ("didn", "doesn", "don", "isn", "wasn", "won", "can", "haven", "hasn", "aren", "weren",
                            "couldn", "wouldn", "shouldn") for a in ("", "'", "’")]
)  # fmt: skip
# Ways to reach the business: a question with one of them is about the business, not about the assistant ("how can
# I contact you?" was read as a question about the assistant and answered with what it is). Not "call" or "llamar":
# "would it be accurate to call you a bot", "¿cómo te puedo llamar?" ask about the assistant.
_CONTACT = frozenset([
    "contact", "contacting", "reach", "phone", "telephone", "email", "mail", "address", "hours", "contactar",
    "contacto", "contactaros", "contactarte", "telefono", "correo", "direccion", "horario", "escribiros",
])  # fmt: skip
_FAREWELL = frozenset(["bye", "goodbye", "byebye", "cya", "ttyl", "adios", "chao", "chau", "ciao", "hasta", "despido"])
_CLOSING_IDIOMS = re.compile(
    r"\b(?:nothing|nada)\s+(?:else|more|further|mas)\b|\bpues\s+nada\b|\bnever\s*mind\b"
    r"|\bno\s+(?:worries|problem|pasa\s+nada|importa|need|more|other|further)\b"
)
# A short request for a thing ("necesito una factura", "I want a transfer") is a question for the knowledge base, not
# for a person: the model took "necesito una factura" and "necesito un recibo" for hand-off requests by their
# "necesito un ..." ("necesito un agente"). Its hand-off is not acted on when nothing in the message names a person,
# a way to talk to one, or a complaint.
_THING_REQUEST = re.compile(
    r"^\W*((hola|hello|hi|hey|buenas)\W+)?(i need|i want|i'?d like|i would like|can i (get|have)|give me|necesito|"
    r"quiero|quisiera|queria|dame|me (das|da|puedes dar|podeis dar|podrias dar))\b"
)
_PEOPLE = frozenset([
    "someone", "somebody", "anyone", "anybody", "person", "people", "human", "agent", "agents", "manager",
    "supervisor", "boss", "staff", "team", "representative", "rep", "operator", "adviser", "advisor", "engineer",
    "technician", "department", "desk", "office", "reception", "handler", "callback", "call", "ring", "phone",
    "talk", "speak", "chat", "contact", "complaint", "complain", "alguien", "persona", "personas", "humano",
    "humana", "agente", "responsable", "encargado", "encargada", "gerente", "superior", "asesor", "asesora",
    "ejecutivo", "gestor", "operario", "operador", "operadora", "personal", "trabajador", "departamento",
    "recepcion", "secretaria", "comercial", "tecnico", "equipo", "hablar", "hablarlo", "llamada", "llame",
    "llamar", "llamen", "atienda", "atiendan", "atencion", "reclamacion", "reclamaciones", "queja", "telefono",
    "contacto",
])  # fmt: skip
MAX_THING_WORDS = 6
REASONS = {"handoff": "customer_request", "legal": "legal_threat"}  # the hand-off reasons of the escalation rail
RULE_SCALE = 2.0  # the rules' 0/1 verdicts beside the unit-length embedding, scaled for the L2 penalty
MAX_WORDS = 20  # a longer message is not taken for small talk by the model (the rule's own limit is 10 words)


# Words that thank, in any message ("thanks heaps", "thanks for helping me", "te lo agradezco mucho"): a short problem
# report ("arrived damaged", "llegó roto") has none, and the model took such reports for thanks by their length.
# Letters typed three times or more count once ("graciaaas", "thanksss").
GRATITUDE = frozenset(["thanks", "thank", "thx", "ty", "tysm", "cheers", "appreciate", "appreciated", "grateful",
                       "gracias", "grax", "agradezco", "agradecido", "agradecida", "agradecidos", "merci"])  # fmt: skip


def thanks_word(text: str) -> bool:
    """Whether ``text`` has a word that thanks (:data:`GRATITUDE`)."""
    return any(re.sub(r"(.)\1{2,}", r"\1", word) in GRATITUDE for word in words(text))


def rule_features(text: str) -> np.ndarray:
    """The hand-written rules' verdicts on ``text`` as 0/1 features: asks for a person, threatens legal action, is
    small talk, has a word that thanks."""
    escalation = check_escalation(text)
    return np.array(
        [float(escalation["reason"] == "customer_request"), float(escalation["reason"] == "legal_threat"),
         float(smalltalk(text) is not None), float(thanks_word(text))], dtype=np.float32,
    )  # fmt: skip


def act_features(vectors: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    """Dense rows of [embedding, scaled rule verdicts] (``vectors``: the texts' USE embeddings)."""
    extra = np.stack([rule_features(t) for t in texts]) if len(texts) else np.zeros((0, 4), np.float32)
    return np.hstack([vectors, RULE_SCALE * extra]).astype(np.float32)


class Acts:
    """The shipped (or a given) act model with its encoder."""

    def __init__(self, model: InputRailModel | None = None, encode: Encode = use_encode) -> None:
        self.model = model if model is not None else InputRailModel.load(WEIGHTS)
        self.encode = encode

    def read_many(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """One ``{"act", "score", "scores"}`` per text: ``act`` the act whose probability is furthest over its
        threshold (None when none is over it), ``score`` that act's probability (or the likeliest act's)."""
        texts = [t[:20_000] if isinstance(t, str) else "" for t in texts]
        if not texts:
            return []
        probs = self.model.probabilities(act_features(self.encode(texts), texts), texts)
        out = []
        for row in probs:
            margins = {act: row[k] - self.model.thresholds[act] for k, act in enumerate(ACTS) if k}
            best = max(margins, key=lambda a: margins[a])
            out.append({
                "act": best if margins[best] >= 0 else None,
                "score": round(float(row[ACTS.index(best)]), 4),
                "scores": {act: round(float(row[k]), 4) for k, act in enumerate(ACTS) if k},
            })  # fmt: skip
        return out

    def read(self, text: str) -> dict[str, Any]:
        """The act of one message."""
        return self.read_many([text])[0]


@cache
def shipped_acts() -> Acts:
    """The process-wide :class:`Acts` with the shipped weights (loaded on first use)."""
    return Acts()


def escalation(text: str, act: dict[str, Any] | None = None) -> dict[str, Any]:
    """:func:`graph.rails.escalation.check_escalation`'s verdict, or, when its patterns find nothing, the model's
    request for a person or legal threat (``learned``: the act's probability). ``act``: the message's
    :meth:`Acts.read`, when already read."""
    verdict = check_escalation(text)
    if verdict["handoff"]:
        return verdict
    act = act if act is not None else shipped_acts().read(text)
    if act["act"] == "handoff" and thing_request(text):
        return verdict
    if act["act"] in REASONS:
        return {"handoff": True, "reason": REASONS[act["act"]], "matches": [], "learned": act["score"]}
    return verdict


def thing_request(text: str) -> bool:
    """Whether ``text`` is a short request for a thing ("necesito una factura", "I want a transfer"): "I need",
    "quiero", "dame" ... and at most :data:`MAX_THING_WORDS` words, none of them naming a person, a way to talk to
    one, or a complaint (:data:`_PEOPLE`)."""
    found = words(text)
    return (len(found) <= MAX_THING_WORDS and _THING_REQUEST.match(" ".join(found)) is not None
            and _PEOPLE.isdisjoint(found))  # fmt: skip


def small_talk(text: str, act: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """:func:`graph.smalltalk.smalltalk`'s ``{"kind", "lang"}``, or, when it finds none, the model's greeting, thanks,
    goodbye or question about the assistant (:data:`ACTED_SMALL_TALK`) of at most :data:`MAX_WORDS` words, thanks or
    a goodbye only when :func:`closing_blocked` lets it (``lang`` None: the message's detected language answers;
    ``learned``: the act's probability). ``act``: the message's :meth:`Acts.read`, when already read."""
    talk = smalltalk(text)
    if talk is not None or not 0 < len(words(text)) <= MAX_WORDS:
        return talk
    if gibberish(text):  # keyboard mashing ("ñlkj", "hjkl") read as a greeting by the model
        return None
    act = act if act is not None else shipped_acts().read(text)
    if act["act"] == "identity" and not _CONTACT.isdisjoint(words(text)):
        return None
    if act["act"] in ACTED_SMALL_TALK and acted_on(act["act"], text):
        return {"kind": act["act"], "lang": None, "learned": act["score"]}
    return None


def closing_blocked(text: str) -> bool:
    """Whether the model's thanks or goodbye is not acted on: a question mark, a "but" that turns thanks into a new
    problem ("thanks but my parcel never arrived"), or, in a message with no word that thanks or says goodbye, a
    negation or "still" that reports one ("hmm not really", "ok still nothing", "no funcionó"), closing idioms
    ("nothing else", "pues nada", "no worries", "never mind") aside."""
    if "?" in text or "¿" in text:
        return True
    found = words(text)
    if not _CONTRAST.isdisjoint(found):
        return True
    if thanks_word(text) or not _FAREWELL.isdisjoint(found):
        return False
    return not _NEGATION.isdisjoint(words(_CLOSING_IDIOMS.sub(" ", " ".join(found))))


def acted_on(act: str, text: str) -> bool:
    """Whether the model's ``act`` on ``text`` can be acted on at all (the rules aside): a hand-off or legal threat
    always; small talk of :data:`ACTED_SMALL_TALK` in at most :data:`MAX_WORDS` words, a closing only when
    :func:`closing_blocked` lets it. The fit chooses each act's threshold on the messages it can be acted on."""
    if act in REASONS:
        return True
    if act not in ACTED_SMALL_TALK or not 0 < len(words(text)) <= MAX_WORDS:
        return False
    return act not in CLOSINGS or not closing_blocked(text)
