"""Word the reply for every route (answers as generated; redirects, refusals and hand-offs from templates in the
customer's language), and append it to the transcript."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from graph.deps import Deps
from graph.smalltalk import REPLIES
from graph.state import ChatState

# What the assistant helps with is named from the knowledge base it serves ("{topics}": titles of its articles,
# graph.scope_kb.topic_titles); a clause in square brackets goes when the knowledge base names none.
# The redirect also says how to reach a person: a customer whose real question the scope rail refused (a bank's
# customer asking what they spent on groceries, which no article covers) is not left at a dead end.
_SCOPE_EN = (
    "Sorry, I can only help with questions our help centre covers[, such as {topics}]. If it's about your own "
    "account or case, write “agent” and a person from our team will take over. Is there anything else I can help "
    "you with?"
)
_SCOPE_ES = (
    "Lo siento, solo puedo ayudarte con lo que cubre nuestro centro de ayuda[, como {topics}]. Si es sobre tu cuenta "
    "o tu caso, escribe «agente» y te atenderá una persona de nuestro equipo. ¿Hay algo más en lo que te pueda "
    "ayudar?"
)
# A question about another company ("Zara sent me the wrong size"): say so, and where to go ("{company}": as listed in
# data/scope/companies.txt).
_OTHER_EN = (
    "Sorry, I can't help with {company}: for that, please contact {company} directly. I can help with questions our "
    "help centre covers[, such as {topics}]; if it's about your own account or case with us, write “agent” and a "
    "person from our team will take over."
)
_OTHER_ES = (
    "Lo siento, no puedo ayudarte con {company}: para eso, contacta directamente con {company}. Puedo ayudarte con lo "
    "que cubre nuestro centro de ayuda[, como {topics}]; si es sobre tu cuenta o tu caso con nosotros, escribe "
    "«agente» y te atenderá una persona de nuestro equipo."
)
_TEAM_EN = "I'm passing your conversation to a member of our support team, who will reply here as soon as possible."
_TEAM_ES = (
    "Paso tu conversación a una persona de nuestro equipo de atención al cliente, que te responderá aquí lo antes "
    "posible."
)
TEMPLATES: dict[str, dict[str, str]] = {
    "empty": {"en": "Hello! How can I help you today?", "es": "¡Hola! ¿En qué puedo ayudarte?"},
    "out_of_domain": {"en": _SCOPE_EN, "es": _SCOPE_ES},
    "other_company": {"en": _OTHER_EN, "es": _OTHER_ES},
    "unsupported_language": {
        "en": "Sorry, I can only help in English or Spanish. / Lo siento, solo puedo atenderte en español o en inglés.",
        "es": "Lo siento, solo puedo atenderte en español o en inglés. / Sorry, I can only help in English or Spanish.",
    },
    "unchecked": {
        "en": "Sorry, I couldn't read that message. Could you send it again, shorter?",
        "es": "Lo siento, no he podido leer ese mensaje. ¿Puedes enviarlo de nuevo, más corto?",
    },
    # a message that says too little to search for or to hand to a person ("lol", "hmm ok"): graph.nodes.grade_relevance
    "unclear": {
        "en": "Sorry, I'm not sure what you need. Could you tell me a bit more[, for example about {topics}]? If you'd "
        "rather talk to a person, write “agent”.",
        "es": "Perdona, no sé bien qué necesitas. ¿Me cuentas un poco más[, por ejemplo sobre {topics}]? Si prefieres "
        "hablar con una persona, escribe «agente».",
    },
    "injection": {
        "en": "Sorry, I can't do that. I can help with questions our help centre covers[, such as {topics}].",
        "es": "Lo siento, eso no puedo hacerlo. Puedo ayudarte con lo que cubre nuestro centro de ayuda[, como "
        "{topics}].",
    },
    "abuse": {
        "en": "I'm here to help, but I can't continue with insults or threats. If you have a question for us, I'll "
        "gladly help.",
        "es": "Estoy aquí para ayudarte, pero no puedo seguir con insultos o amenazas. Si tienes alguna consulta, te "
        "ayudo encantado.",
    },
    "bias": {
        "en": "Sorry, I can't do that: we treat every customer and every member of our team equally, whatever their "
        "gender, age, origin, religion, disability, ethnicity, sexual orientation or income.",
        "es": "Lo siento, eso no puedo hacerlo: tratamos igual a todos los clientes y a todas las personas de nuestro "
        "equipo, sea cual sea su género, edad, origen, religión, discapacidad, etnia, orientación sexual o renta.",
    },
    "customer_request": {"en": "Of course. " + _TEAM_EN, "es": "Claro. " + _TEAM_ES},
    "legal_threat": {
        "en": "I'm sorry about this situation. " + _TEAM_EN,
        "es": "Siento mucho la situación. " + _TEAM_ES,
    },
    "no_answer": {
        "en": "I couldn't find a reliable answer to that in our help centre, so " + _TEAM_EN,  # "I'm" stays capital
        "es": "No he encontrado una respuesta fiable en nuestro centro de ayuda, así que "
        + _TEAM_ES[0].lower()
        + _TEAM_ES[1:],
    },
}
# a hand-off while the case waits in the queue already ("¿Sigue alguien ahí?", or a question the bot cannot answer)
TEMPLATES["queued"] = {
    "en": "Your conversation is already with our support team: a person will reply here as soon as possible.",
    "es": "Tu conversación ya está con nuestro equipo de atención al cliente: una persona te responderá aquí lo antes "
    "posible.",
}
# a greeting while the case waits in the queue ("hello?"): the bot's fresh "How can I help you today?" read as if the
# hand-off had been forgotten (a QA pass in the browser, 2026-12-07)
TEMPLATES["queued_greeting"] = {
    "en": "Hello! Your conversation is waiting for a person from our support team, who will reply here as soon as "
    "possible. Meanwhile, I can answer questions our help centre covers[, such as {topics}].",
    "es": "¡Hola! Tu conversación está esperando a una persona de nuestro equipo de atención al cliente, que te "
    "responderá aquí lo antes posible. Mientras tanto, puedo responderte sobre lo que cubre nuestro centro de "
    "ayuda[, como {topics}].",
}
TEMPLATES["unsupported_answer"] = TEMPLATES["no_answer"]
TEMPLATES |= REPLIES  # small talk: greeting, thanks, goodbye, identity


# An extractive answer quotes the knowledge base as written: when only another language's articles cover the
# question, the customer is told before the quote (graph.nodes.generate).
_PREFACE = {
    "en": "Our help centre covers this only in {language}:",
    "es": "Nuestro centro de ayuda solo trata esto en {language}:",
}
_LANGUAGE_NAMES = {"en": {"es": "Spanish", "en": "English"}, "es": {"es": "español", "en": "inglés"}}
_ANOTHER_LANGUAGE = {"en": "another language", "es": "otro idioma"}


def preface(source_lang: str | None, lang: str) -> str:
    """What goes before an answer quoted from articles in ``source_lang`` for a customer writing in ``lang``: ""
    when they are the same (or unknown)."""
    if not source_lang or source_lang == lang:
        return ""
    own = lang if lang in _PREFACE else "en"
    name = _LANGUAGE_NAMES[own].get(source_lang, _ANOTHER_LANGUAGE[own])
    return _PREFACE[own].format(language=name)


# The start of a text that opens with a block of its own: a table's header row or a list item.
_BLOCK_START = re.compile(r"^[ \t]*(?:\||(?:[-*+]|\d{1,3}[.)])[ \t])")


def joined(lead: str, text: str) -> str:
    """``lead`` (a preface, a greeting) then ``text``: after a space, or after a blank line when ``text`` opens with
    a table or a list, which Markdown renders as one only on lines of their own. An answer quoted from a Spanish
    price table reached an English customer as "Our help centre covers this only in Spanish: | Servicio | Precio |"
    followed by the rule and the rows as plain text, and an agent's draft as "Hola, te atiende el equipo de
    atención al cliente. | Servicio | Precio |" (a QA pass as a bicycle workshop's operator, 2026-12-08)."""
    lead, text = lead.rstrip(), text.strip("\n")
    if not lead or not text:
        return lead or text
    return f"{lead}\n\n{text}" if _BLOCK_START.match(text) else f"{lead} {text.lstrip()}"


def prefaced(state: Mapping[str, Any]) -> str:
    """The answer as the customer reads it: the generate node's ``preface``, if any, then the answer."""
    return joined(state.get("preface", ""), state.get("answer", ""))


_OPTIONAL = re.compile(r"\[([^\[\]]*)\]")


def named(titles: Sequence[str], lang: str) -> str:
    """Titles as a list in a sentence: “A”, “B” or “C” (en), «A», «B» o «C» (es)."""
    quoted = [f"«{t}»" if lang == "es" else f"“{t}”" for t in titles]
    if len(quoted) < 2:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + (" o " if lang == "es" else " or ") + quoted[-1]


def template(
    reason: str, lang: str, topics: Mapping[str, Sequence[str]] | None = None, company: str | None = None
) -> str:
    """The reply for ``reason`` in ``lang`` (English for unknown languages). ``topics``: per language, titles of the
    knowledge base that replies naming what the assistant helps with list as examples (the language's own, else
    the English ones, else any); without any, those replies leave the examples out. ``company``: the other company
    an ``other_company`` reply names (without it, that reply is the plain redirect)."""
    if reason == "other_company" and not company:
        reason = "out_of_domain"
    texts = TEMPLATES.get(reason, TEMPLATES["out_of_domain"])
    text = texts.get(lang, texts["en"]).replace("{company}", company or "")
    topics = topics or {}
    titles = topics.get(lang) or topics.get("en") or next(iter(topics.values()), [])
    if not titles:
        return _OPTIONAL.sub("", text)
    return _OPTIONAL.sub(lambda m: m.group(1), text).replace("{topics}", named(titles, lang))


def _queued(state: ChatState, deps: Deps) -> bool:
    """Whether the session's case waits in the queue for a person (none has taken it yet)."""
    store, session_id = getattr(deps, "store", None), state.get("session_id")
    if store is None or not session_id:
        return False
    active = store.active_escalation(session_id)
    return active is not None and active.get("status") == "open"


def run(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Finish the turn: the route, the reply, the transcript and the topic for follow-ups."""
    route = state.get("route") or "answered"
    lang = state.get("lang") or "en"
    topics = deps.scope.meta.get("topics") if deps.scope is not None else None
    other = state.get("guardrails", {}).get("scope", {}).get("other_company")
    reason = state.get("reason", "")
    if route == "handoff" and state.get("guardrails", {}).get("handoff", {}).get("queued"):
        reason = "queued"
    if route == "smalltalk" and reason == "greeting" and _queued(state, deps):
        reason = "queued_greeting"
    answer = prefaced(state) if route == "answered" else template(reason, lang, topics, other)
    update: dict[str, Any] = {
        "route": route,
        "answer": answer,
        "session_lang": lang,
        # An empty message leaves no trace in the transcript, so neither does the reply to it. The route goes with
        # the reply: a canned one (redirect, small talk, refusal, hand-off notice) asks nothing (resolve_followup).
        # Its language too: a page reloaded (ui) shows its labels in it, which a quote under another language's
        # preface, or a customer who asked for the other language, would not tell by its words.
        "messages": [{"role": "assistant", "content": answer, "route": route, "lang": lang}]
        if state.get("text")
        else [],
    }
    if route != "answered":
        update["passages"] = []
        update["citations"] = []
    elif not state.get("guardrails", {}).get("followup", {}).get("resolved"):
        # The topic is the last answered query that stood on its own, before any rewrite: a follow-up keeps the
        # topic it leaned on (its built query holds the topic and the turns before, and would nest them turn
        # after turn), and one that did not lean on it replaces it.
        topic = state.get("standalone_query") or state.get("query", "")
        if topic:
            update["topic"] = topic
    return update
