"""Hand the conversation to a human agent, and the agent's side of it.

The node records an escalation with the redacted transcript. The functions below serve the person who takes it
over, for the API and the in-process UI alike: while an agent holds a session the customer's messages are kept for
the agent (:func:`hold_for_agent`, route ``human``, no bot answer); an agent's reply goes through the same PII
redaction and output rails as a bot answer (:func:`check_agent_reply`); agent assist drafts a reply in the
customer's language from the passages retrieved for the last customer question (:func:`draft_reply`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from graph.deps import Deps
from graph.nodes.respond import joined
from graph.state import ChatState

if TYPE_CHECKING:
    from finetune.pii import PlaceholderMap

_CITATION = re.compile(r"\s*\[\d+\]")
GREETING = {
    "es": "Hola, soy {agent}, del equipo de atención al cliente. ",
    "en": "Hi, I'm {agent} from the support team. ",
}
GREETING_UNSIGNED = {
    "es": "Hola, te atiende el equipo de atención al cliente. ",
    "en": "Hi, this is the support team. ",
}
FALLBACK = {
    "es": "Estoy revisando tu caso y te respondo enseguida.",
    "en": "I'm looking into your case and will get back to you right away.",
}


def run(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Record the escalation; the respond node words the reply (``queued``: the case was waiting already, so the
    customer is told it still is, not that it is being passed on again)."""
    reason = state.get("reason") or "customer_request"
    session_id = state.get("session_id", "")
    queued = deps.store.active_escalation(session_id) is not None
    record = deps.store.add_escalation(session_id, state.get("lang", "en"), reason, state.get("messages", []))
    guard = {"escalation_id": record["id"], "reason": reason} | ({"queued": True} if queued else {})
    return {"route": "handoff", "reason": reason, "guardrails": {"handoff": guard}}


def _lang_of(text: str, default: str) -> str:
    from retrieval.language import detect_language

    return detect_language(text, default=default if default in ("es", "en") else "en") or "en"  # type: ignore[arg-type]


# Words a customer message needs, placeholders aside, before it can change the language the customer is taken to
# write in: "ok" reads as English to the detector and "<EMAIL_1>" as the English word "email", so a Spanish customer
# handing over an e-mail got an English draft and their agent's Spanish replies were flagged as the wrong language.
EVIDENCE_WORDS = 3


def customer_lang(messages: list[dict[str, Any]], default: str) -> str:
    """The language the customer writes in: the one they last asked to be answered in ("Can you answer in Spanish
    please?", which the bot keeps to for the rest of the session: graph.nodes.detect_language), else that of their
    latest message with at least ``EVIDENCE_WORDS`` words (placeholders left out), else ``default`` (the case's
    language). An English writer who had asked for Spanish got an English draft, and their agent's Spanish reply was
    flagged as the wrong language (a QA pass in the browser, 2026-12-08)."""
    from retrieval.language import asked_language
    from retrieval.text import PLACEHOLDER

    default = default if default in ("es", "en") else "en"
    for message in reversed(messages):
        if message.get("role") == "user" and (asked := asked_language(str(message.get("content", "")))):
            return asked[0]
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        text = PLACEHOLDER.sub(" ", str(message.get("content", "")))
        if len(re.findall(r"[^\W\d_]+", text)) >= EVIDENCE_WORDS:
            return _lang_of(text, default)
    return default


def hold_for_agent(
    deps: Deps, message: str, session_id: str, lang: str | None, redact: Callable[[str, str], str],
    transcript: Callable[[str], list[Any]], request: dict[str, str] | None = None,
) -> dict[str, Any] | None:  # fmt: skip
    """When an agent holds ``session_id``: keep the customer's redacted message for the agent and return the turn's
    result fields (``route: "human"``, empty ``answer``); None when the bot should answer.

    Args:
        deps: the service's dependencies (store, redactor).
        message: the customer's raw message.
        session_id: the conversation.
        lang: the language the customer asked for, if any.
        redact: (text, lang) -> the text as the session's messages are stored (its placeholders; read only when an
            agent holds the session).
        transcript: the graph's messages of a session (where the stored message is anchored).
        request: the message's Idempotency-Key and digest (``ChatState.request``), kept with it; None without one.
    """
    active = deps.store.active_escalation(session_id)
    if active is None or active["status"] != "assigned":
        return None
    from retrieval.text import clean

    text = clean(message) if isinstance(message, str) else ""
    lang = lang or customer_lang([{"role": "user", "content": text}], active.get("lang") or "en")
    redacted = redact(text, lang) if text else ""
    meta = {"lang": lang, **({"request": request} if request else {})}
    stored = deps.store.add_customer_message(session_id, redacted, len(transcript(session_id)), meta)
    if stored is None:  # resolved or released in the meantime: the bot answers
        return None
    return held_result(active, stored)


def held_result(escalation: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """The turn's result fields for a customer message ``stored`` for the agent who holds ``escalation``."""
    return {"answer": "", "lang": stored["meta"].get("lang") or "en", "route": "human", "reason": "agent_assigned",
            "sources": [], "guardrails": {"human": {"escalation_id": escalation["id"],
                                                    "agent": escalation.get("assigned_name"),
                                                    "message_id": stored["id"]}},
            "tokens_generated": 0, "query": ""}  # fmt: skip


_HELLO = (
    r"hola|hi|hello|hey|dear|buenas|buenos d[ií]as|buenas (?:tardes|noches)|good (?:morning|afternoon|evening)|"
    r"estimad[oa]|querid[oa]"
)
# An agent reply's opening greeting, before a name: "Hola ", "Hi ", "Buenos días ", "Dear ".
_GREETING = re.compile(rf"\s*(?i:{_HELLO})\s+")


class ReplyRefused(ValueError):
    """An agent's reply the output rails will not send; the message says why."""


def check_agent_reply(
    deps: Deps, mapping: PlaceholderMap, text: str, lang: str, agent_name: str | None = None
) -> tuple[str, dict[str, Any]]:
    """The reply as the customer will see it, and the checks it went through.

    Personal data is replaced by the session's placeholders (an agent may paste a card number by mistake), except
    the agent's own name, which is theirs to give; a person's name the customer has not given in the chat is left
    out after the opening greeting ("Hola Laura, ..." -> "Hola, ...") and refused elsewhere; a stereotyped
    generalisation is refused, as it is in a bot answer; the language check is reported, not enforced (an agent may
    switch language on purpose).

    Raises:
        ReplyRefused: the reply is blank once cleaned, names a person the customer has not named (not in its
            greeting), or fails the bias rail.
    """
    from graph.rails.bias import check_stereotype
    from graph.rails.grounding import check_language
    from retrieval.text import clean

    text = clean(text)
    if not text.strip():
        raise ReplyRefused("the reply is empty once cleaned")
    own = {w.casefold() for w in re.findall(r"\w+", agent_name or "")}
    pieces: list[str] = []
    redacted, cursor = set(), 0
    given = mapping.copy() if mapping is not None else None  # find() registers the names it finds: in a copy
    for kind, start, end, _ in deps.redactor.find(text, lang if lang in ("es", "en") else "en", given):
        value = text[start:end]
        if kind in deps.config.keep_entities or (
            kind == "PERSON" and own and {w.casefold() for w in re.findall(r"\w+", value)} <= own
        ):
            continue
        if kind == "PERSON" and not mapping.known(kind, value):
            # A name the customer never gave reached them as "Hola <PERSON_1>, ...": after a greeting it goes
            # ("Hola, ..."); elsewhere the agent is told (the transcript holds no name the customer did not give).
            if _GREETING.fullmatch(text[cursor:start]) and not pieces:
                pieces.append(text[cursor:start].rstrip())
                cursor = end
                continue
            raise ReplyRefused(
                f"the reply names a person the customer has not named in this chat ({value!r}); the customer would "
                "see a placeholder such as <PERSON_1> instead: leave the name out"
            )
        pieces += [text[cursor:start], mapping.placeholder(kind, value)]
        redacted.add(kind)
        cursor = end
    reply = "".join([*pieces, text[cursor:]])
    checks: dict[str, Any] = {
        "pii": {"redacted": sorted(redacted)},
        "stereotype": check_stereotype(reply),
        "language": check_language(reply, lang),
    }
    if checks["stereotype"]["flagged"]:
        raise ReplyRefused("the reply generalises about a protected group; rephrase it before sending")
    return reply, checks


def _only_a_language(text: str) -> bool:
    """ "Can you answer in Spanish please?": a request for a language that asks nothing else (nothing to draft)."""
    from retrieval.language import asked_language

    asked = asked_language(text)
    return asked is not None and asked[1]


def _question(transcript: list[dict[str, Any]]) -> tuple[int, str]:
    """The last customer message that asks something (not only for a person, nor only a value handed over: "mi email
    es <EMAIL_1>" was drafted an answer about passwords, nor a thank-you, nor small talk: a greeting or a "hello?
    anyone?" of a customer waiting for the agent), with its index; else the last request for a person ("Mi pedido
    llegó roto. Quiero hablar con una persona" says what is wrong); (-1, "") if none. A value or an "ok" after the
    request was drafted an answer of its own ("Why one account per email?"), and so were "Buenas tardes" (a discount
    code's validity) and "hello? anyone?" (that the chat assistant is open 24/7), with their passages."""
    from graph.rails.acts import escalation, shipped_acts, small_talk
    from graph.rails.escalation import waiting
    from retrieval.conversation import is_acknowledgement, is_slot_answer
    from retrieval.text import has_words

    said = [(i, str(m.get("content", ""))) for i, m in enumerate(transcript) if m.get("role") == "user"]
    asked = [(i, t) for i, t in said if has_words(t) and not is_slot_answer(t) and not is_acknowledgement(t)
             and not _only_a_language(t)]  # fmt: skip
    request: tuple[int, str] | None = None
    for index, text in reversed(asked):
        if waiting(text):  # "still there?", "¿alguna novedad?": asks nothing, and is no request to draft for
            continue
        act = shipped_acts().read(text)  # read once for both checks
        if escalation(text, act)["handoff"]:
            request = request or (index, text)
        elif small_talk(text, act) is None:
            return index, text
    return request or (-1, "")


def customer_asks(escalation: dict[str, Any]) -> str:
    """What the customer of an escalation wants, for the queue: the question agent assist drafts for in the
    transcript as escalated (:func:`_question`), else the reason they typed with the hand-off; "" when neither."""
    question = _question(list(escalation.get("transcript") or []))[1]
    reason = str(escalation.get("reason") or "")
    return question or ("" if re.fullmatch(r"[a-z_]*", reason) else reason)


def draft_reply(
    deps: Deps, transcript: list[dict[str, Any]], lang: str, agent: str | None, known: str | None = None
) -> dict[str, Any]:
    """Agent assist: the passages for the last customer question and a reply drafted from them in ``lang``, by the
    configured generator in ``hybrid`` mode when a model is loaded, extractively otherwise (``known``: a draft
    already made for this question, so only the passages are fetched).

    Returns:
        ``{"text", "passages", "question", "for_message", "generator", "lang"}``.
    """
    from graph.nodes import retrieve

    index, question = _question(transcript)
    kind = deps.config.generator if deps.config.has_llm else "extractive"
    passages: list[dict[str, Any]] = []
    answer = ""
    if question:  # retrieved and drafted once per question (what the conversation was up to it, in this language)
        key = (kind, lang, tuple((m.get("role"), str(m.get("content", ""))) for m in transcript[: index + 1]))
        cached: dict[str, Any] = deps.assist.get(key) or {}
        passages = cached["passages"] if "passages" in cached else retrieve.run({"query": question, "lang": lang},
                                                                               deps)["passages"]  # fmt: skip
        state = {
            "query": question,
            "text": question,
            "lang": lang,
            "passages": passages,
            "generator": kind,
            "mode": "hybrid" if kind != "extractive" else "rag",
            "messages": transcript[: index + 1],
        }
        if known is None:
            answer = cached.get("answer") or _checked_draft(state, deps)
        deps.assist.put(key, {"passages": passages, "answer": answer if known is None else cached.get("answer")})
    if known is not None:
        return {"text": known, "passages": passages, "question": question, "for_message": index, "generator": kind,
                "lang": lang}  # fmt: skip
    greetings = GREETING if agent else GREETING_UNSIGNED
    greeting = greetings.get(lang, greetings["en"]).format(agent=agent)
    text = joined(greeting, answer or FALLBACK.get(lang, FALLBACK["en"]))  # a table or a list after a blank line
    return {"text": text, "passages": passages, "question": question, "for_message": index, "generator": kind,
            "lang": lang}  # fmt: skip


# A greeting that opens a generated answer: the draft's own greeting goes before it ("Hola, soy Ana... ¡Hola! Lo ...").
_OPENING_GREETING = re.compile(rf"^\s*[¡!]?\s*(?i:{_HELLO})\b[^.!?\n]{{0,20}}?[.!,]\s*")


def _checked_draft(state: dict[str, Any], deps: Deps) -> str:
    """The drafted answer through the output rails a bot answer goes through: a generated draft that fails them
    (a sentence no passage supports, another language, personal data) is replaced by the extractive one, as the
    bot's answer would be. A QA pass got "¡Hola! Lo siento, el pedido no llegó roto." for a customer whose order
    had arrived broken: an agent may send a draft as it is. A draft with a planted instruction is none ("")."""
    from graph.nodes import generate, guard_output
    from graph.nodes.respond import prefaced
    from graph.rails.instructions import check_instructions
    from retrieval.text import cut_sentences

    made = generate.run(cast(ChatState, state), deps)
    if made.get("generator", state["generator"]) != "extractive":
        checked = guard_output.run(cast(ChatState, {**state, **made}), deps)
        if checked["guardrails"]["output"]["action"] != "ok":
            made = generate.run(cast(ChatState, {**state, "generator": "extractive", "mode": "rag"}), deps)
    answer = _OPENING_GREETING.sub("", _CITATION.sub("", prefaced(made))).strip()
    if any(check_instructions(sentence)["flagged"] for sentence in cut_sentences(answer)):
        # An article that speaks to the assistant or asks for the customer's card number, a code or a password (the
        # bot's answer stops at the same output rail): the agent gets the plain fallback, and the passages to read.
        return ""
    return answer[:1].upper() + answer[1:]


# --- the agent desk, shared by the API and the in-process UI ----------------------------------------------------


def session_transcript(service: Any, session_id: str, *, include_drafts: bool = False) -> list[dict[str, Any]]:
    """The redacted conversation: bot turns and the messages exchanged with a person, in order."""
    merged: list[dict[str, Any]] = service.store.transcript(
        session_id, service.transcript(session_id), include_drafts=include_drafts
    )
    return merged


def escalation_view(service: Any, escalation_id: str) -> dict[str, Any]:
    """An escalation for its agent: history, the live redacted transcript (drafts marked), the passages for the
    last customer question and a drafted reply (made once per customer question and holder, then kept as a draft
    record; ``sent``: a reply was sent from it).

    Raises:
        graph.store.EscalationNotFound: unknown id.
    """
    store = service.store
    record = store.escalation(escalation_id)
    session_id = record["session_id"]
    transcript = session_transcript(service, session_id, include_drafts=True)
    visible = [m for m in transcript if not m.get("draft")]
    anchor = str(_question(visible)[0])  # one draft per customer question (transcript indices never move)
    reason = str(record.get("reason") or "")
    if anchor == "-1" and not re.fullmatch(r"[a-z_]*", reason):  # a typed reason, not a code
        # The customer said why they want a person (the chat page's button, POST /v1/handoff) and nothing else yet:
        # that is the question (the agent got no passages and a draft that answered nothing).
        visible, anchor = [*visible, {"role": "user", "content": reason}], "reason"
    lang = customer_lang(visible, record.get("lang") or "en")
    # A draft greets in its author's name: one made for a colleague who released the case is not the holder's.
    holder = record.get("assigned_name")
    stored = store.messages(session_id, include_drafts=True, escalation_id=escalation_id)
    kept = next((m for m in reversed(stored)
                 if m["draft"] and m["meta"].get("anchor") == anchor and m.get("author") == holder), None)  # fmt: skip
    draft = draft_reply(service.deps, visible, lang, record.get("assigned_name") or None,
                        kept["content"] if kept is not None else None)  # fmt: skip
    if anchor == "reason":  # no message of the transcript
        draft["for_message"] = -1
    if kept is not None:
        draft["id"] = kept["id"]
        # A reply already sent from it (its meta names the draft): the console's box starts empty, not from it again.
        draft["sent"] = any(not m["draft"] and m["meta"].get("draft_id") == kept["id"] for m in stored)
    elif record["status"] == "assigned":  # only the holder's drafts are recorded (the store checks the holder)
        saved = store.add_agent_message(escalation_id, record["assigned_to"], draft["text"],
                                        len(service.transcript(session_id)), draft=True,
                                        meta={"anchor": anchor, "generator": draft["generator"],
                                              "lang": lang})  # fmt: skip
        draft["id"] = saved["id"]
        transcript = session_transcript(service, session_id, include_drafts=True)
    draft.setdefault("sent", False)
    return {"escalation": record, "transcript": transcript, "passages": draft.pop("passages"), "draft": draft,
            "status": store.handoff_status(session_id)}  # fmt: skip


def send_agent_reply(service: Any, escalation_id: str, agent: str, text: str) -> dict[str, Any]:
    """Check and store an agent's reply to the customer; returns the stored message with its ``checks``.

    Raises:
        graph.store.EscalationNotFound, graph.store.EscalationConflict: unknown id, or not held by ``agent``.
        ReplyRefused: the reply fails the output rails.
    """
    store = service.store
    record = store.escalation(escalation_id)
    session_id = record["session_id"]
    if record["status"] != "assigned" or record["assigned_to"] != agent:
        store.refuse(escalation_id, "answered", agent)
    lang = customer_lang(store.transcript(session_id, service.transcript(session_id)), record.get("lang") or "en")
    with service.session_lock(session_id), service.placeholders(session_id) as mapping:
        content, checks = check_agent_reply(service.deps, mapping, text, lang, record.get("assigned_name"))
    drafts = [m for m in store.messages(session_id, include_drafts=True, escalation_id=escalation_id) if m["draft"]]
    meta: dict[str, Any] = {"checks": checks, "lang": lang, "sent_at": time.time()}
    if drafts:
        meta["draft_id"] = drafts[-1]["id"]
        meta["edited"] = content != drafts[-1]["content"]
    message = store.add_agent_message(escalation_id, agent, content, len(service.transcript(session_id)), meta=meta)
    return {**message, "checks": checks}


def resolve_escalation(service: Any, escalation_id: str, agent: str, note: str | None = None, *,
                       force: bool = False) -> dict[str, Any]:  # fmt: skip
    """Resolve an escalation (:meth:`graph.store.SupportStore.resolve`) with its internal note stored as the
    conversation is: cleaned (no control characters, no bidi overrides) and personal data replaced by the session's
    placeholders; a note blank once cleaned is none. Every agent reads the note beside the redacted transcript, and it
    kept a pasted card number or e-mail address in clear.

    Raises:
        graph.store.EscalationNotFound, graph.store.EscalationConflict: unknown id, or a transition its state forbids.
    """
    from retrieval.text import clean

    store = service.store
    if note is not None:
        if not clean(note).strip():
            note = None
        else:
            record = store.escalation(escalation_id)
            session_id, lang = record["session_id"], record.get("lang") or "en"
            with service.session_lock(session_id):
                note = service.redact(session_id, note, lang)  # as the conversation is stored
    resolved: dict[str, Any] = store.resolve(escalation_id, agent, note, force=force)
    return resolved
