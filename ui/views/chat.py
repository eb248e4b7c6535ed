"""Customer chat: streamed answers with their sources, language following, feedback and handoff to a person."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException

from retrieval.text import clean
from ui import state
from ui.i18n import LANGS, t
from ui.protocol import Backend, BackendError, BackendUnavailable, RateLimited


def _failed(exc: BackendError, lang: str) -> str:
    """A failed request, said in the page's language: the service is down, or refused it (the API's reason without
    the transport's "HTTP 422: "), or is busy: over the rate limit of the UI's key, which every visitor shares (the
    API's English reason would say "for this key")."""
    # The UI's own key refused (revoked, expired: 401 / 403): the service is unavailable to this customer, who never
    # saw that key ("invalid or revoked API key" was quoted to them in English).
    if isinstance(exc, BackendUnavailable) or re.match(r"HTTP 40[13]\b", str(exc)):
        return t("service_down", lang)
    if isinstance(exc, RateLimited):
        return t("busy", lang, seconds=exc.retry_after)
    return t("request_failed", lang, reason=re.sub(r"^HTTP \d{3}: ", "", str(exc)))


def _send_feedback(backend: Backend, session_id: str, turn: int, key: str) -> None:
    value = st.session_state.get(key)
    if value is None:
        return
    try:
        backend.feedback(session_id, turn, "up" if value == 1 else "down")
        st.session_state[f"{key}-sent"] = True
    except BackendError as exc:
        st.session_state["notice"] = _failed(exc, state.page_lang())


def _render_sources(message: dict[str, Any], lang: str) -> None:
    sources = message.get("sources") or []
    if not sources:
        return
    with st.expander(t("sources", lang, n=len(sources))):
        for position, source in enumerate(sources, start=1):
            number = source.get("citation") or position  # the [n] the answer cites it by
            title = source.get("title") or source.get("doc_id", "")
            url = source.get("url")
            heading = f"[{title}]({url})" if url else title
            # the language in words: a Spanish screen reader read the code "es" as the verb ("Seguir mi pedido es")
            code = str(source.get("lang") or "")
            language = t(f"lang_{code}", lang) if code in LANGS else code
            st.markdown(state.without_images(f"[{number}] **{heading}** · {language}"))
            if source.get("text"):
                snippet = str(source["text"])
                st.caption(state.without_images(snippet[:300] + ("…" if len(snippet) > 300 else "")))


def _render_extras(backend: Backend, message: dict[str, Any], lang: str) -> None:
    """Sources, detected language and the thumbs of one answer."""
    _render_sources(message, lang)
    if message.get("lang") in LANGS:
        st.caption(t("detected", lang, name=t(f"lang_{message['lang']}", lang)))
    key = f"feedback-{message['session_id']}-{message['turn']}"
    st.feedback(
        "thumbs", key=key, on_change=_send_feedback, args=(backend, message["session_id"], message["turn"], key)
    )
    if st.session_state.get(f"{key}-sent"):
        st.success(t("feedback_thanks", lang), icon=":material/check:")  # a status, announced (was a caption)


def _record(final: dict[str, Any], question: dict[str, Any], lang_choice: str, session_id: str) -> None:
    """Keep one answered turn in the conversation the page shows, right under its ``question``: the bot's answer, or
    the note that the message went to the person who has the conversation; who has it now, and the customer's
    language (with Auto). Nothing when the question is no longer in the conversation shown (**New conversation**)."""
    ss: Any = st.session_state
    messages = ss.get("messages") or []
    at = next((i + 1 for i, message in enumerate(messages) if message is question), None)
    if at is None:
        return
    if final.get("route") in ("human", "handoff"):  # a person has, or will have, the conversation
        held = final.get("route") == "human"
        guard = (final.get("guardrails") or {}).get("human" if held else "handoff") or {}
        _hand_over("assigned" if held else "waiting", guard.get("escalation_id"), guard.get("agent"))
        if held:  # no bot answer: the message went to the agent
            messages.insert(at, {"role": "notice", "key": "sent_to_agent",
                                 "values": {"agent": guard.get("agent") or "?"}})  # fmt: skip
            return
    messages.insert(at, {
        "role": "assistant",
        "content": final.get("answer", ""),
        "lang": final.get("lang"),
        "route": final.get("route"),
        "sources": final.get("sources", []),
        "session_id": session_id,
        "turn": sum(1 for m in messages[:at] if m["role"] == "assistant"),  # the service's answer number
    })  # fmt: skip
    if lang_choice == "auto" and final.get("lang") in LANGS:
        ss["lang"] = final["lang"]  # follow the customer's language: the labels are drawn in it


def _not_sent(question: dict[str, Any], error: str) -> None:
    """``question`` could not be answered: out of the conversation, shown apart as not sent, to send again."""
    ss: Any = st.session_state
    ss["messages"] = [m for m in ss.get("messages") or [] if m is not question]
    ss["unsent"] = {"text": question["content"], "error": error, "key": question.get("key")}


def _keep_finished() -> bool:
    """Keep the turns read to their end (``pending``, see :func:`_ask`), in the order asked, each once; True when
    there was one."""
    ss: Any = st.session_state
    pending = ss.get("pending") or []
    finished = [turn for turn in pending if turn["done"] and not turn["kept"]]
    for turn in finished:
        turn["kept"] = True  # a plain dict: a run stopped in the middle of this loop does not keep it twice
        if turn["final"] is not None:
            _record(turn["final"], turn["question"], turn["lang_choice"], turn["session_id"])
        elif turn["error"] is not None:
            _not_sent(turn["question"], turn["error"])
    ss["pending"] = [turn for turn in pending if not turn["kept"]]
    return bool(finished)


def _ask(backend: Backend, question: dict[str, Any], lang_choice: str, session_id: str) -> dict[str, Any] | None:
    """Stream the answer to ``question`` (the conversation's last message) into the page and keep the turn
    (:func:`_record`); returns the final chat result, None when it failed: the question is then taken out of the
    conversation and kept as ``unsent``, with why, for the customer to send again.

    A click, a language switch or another message while the answer streams makes Streamlit stop this run at its next
    drawing call or read of the session state (``ScriptControlException``) and start the next one at once (fast
    reruns): the rest of the answer is then read here, without drawing or touching the session state, into this
    turn's entry of ``pending``, which the next run keeps (:func:`_keep_finished`; :func:`_await_answer` while it
    is still being read). It vanished from the page, the question left with no answer under it (the service had it:
    a reload showed it; the in-process agent lost it)."""
    prompt = str(question["content"])
    final: dict[str, Any] = {}
    forced = None if lang_choice == "auto" else lang_choice
    if forced is None and not re.search(r"[^\W\d_]", prompt):  # no letter (emoji, a number): nothing to detect
        forced = state.page_lang()  # the conversation's so far (the browser's before it starts), not English

    streamed: list[str] = []  # as the service sent it; the page draws each piece without images
    ui_lang = state.page_lang()
    turn = {"question": question, "lang_choice": lang_choice, "session_id": session_id, "done": False,
            "kept": False, "final": None, "error": None}  # fmt: skip
    st.session_state.setdefault("pending", []).append(turn)

    def take(event: dict[str, Any]) -> bool:
        if event.get("type") == "token":
            streamed.append(str(event.get("text", "")))
            return True
        if event.get("type") == "final":
            final.update(event)
        return False

    # nothing is sent before it is read; the question's key makes a resend of it after a failure (the service may
    # have answered it: a connection cut at the end) get that answer instead of a second turn
    events = iter(backend.stream(prompt, session_id=session_id, lang=forced, request_key=question.get("key")))

    def tokens() -> Iterator[str]:
        for event in events:
            if take(event):
                yield state.without_images(streamed[-1])

    try:
        try:
            slot = st.empty()
            with slot.container():
                st.write_stream(tokens())
            final.setdefault("answer", "".join(streamed))
            turn["final"] = final
        except BackendError as exc:
            turn["error"] = _failed(exc, ui_lang)
    except ScriptControlException:  # stopped: read the answer to its end for the next run (no Streamlit call)
        try:
            for event in events:
                take(event)
            final.setdefault("answer", "".join(streamed))
            turn["final"] = final
        except BackendError as exc:
            turn["error"] = _failed(exc, ui_lang)
        finally:
            turn["done"] = True
        raise
    turn["done"] = True
    _keep_finished()  # this turn, after any earlier run's answer read meanwhile (its turn number comes first)
    if turn["error"] is not None:
        slot.error(str(turn["error"]))
        return None
    if final["answer"] != "".join(streamed):  # the final answer is authoritative (a rail may replace a streamed one)
        slot.markdown(state.without_images(final["answer"]))
    return final


@st.fragment(run_every=1)
def _await_answer() -> None:
    """A run stopped by this one (the customer clicked or wrote while it streamed) is still reading its answer:
    redraw the page once it has it. Reads only the session state."""
    if any(turn["done"] for turn in st.session_state.get("pending") or []):
        st.rerun(scope="app")


AGENT_AVATAR = ":material/support_agent:"
# The chat's notes between messages are info boxes: Streamlit draws them with role="status", so a screen reader
# announces them as they appear, and in full contrast. They were captions: not announced, and grey at 3.9:1 on white
# (WCAG AA asks 4.5:1 at their size).
NOTICE_ICONS = {"sent_to_agent": ":material/forward_to_inbox:", "back_to_bot": ":material/smart_toy:"}
MAX_CHARS = 40_000  # the API's default longest message (SUPPORTBOT_MAX_MESSAGE_CHARS): the box stops there
ACTIVE = ("waiting", "assigned")
RETRY_S = 3  # while the service is down, the page checks it this often and comes back by itself


def _render_agent(message: dict[str, Any]) -> None:
    with st.chat_message("agent", avatar=AGENT_AVATAR):
        st.markdown(state.without_images(message["content"]))
        st.caption(str(message.get("author") or ""))


def _add_agent_message(message: dict[str, Any]) -> bool:
    """Show an agent's message from the server once (the poll and a resumed transcript both bring them)."""
    ss: Any = st.session_state
    seen: set[int] = ss.setdefault("agent_seen", set())
    if message.get("id") in seen:
        return False
    seen.add(message["id"])
    ss["messages"].append({"role": "agent", "content": message.get("content", ""), "author": message.get("author")})
    return True


def _sync(backend: Backend, session_id: str) -> bool:
    """Take the agent's new messages and the hand-off status from the server; True when the page must redraw.

    Raises:
        BackendUnavailable, RateLimited: the service is down, or the UI's key is over its rate limit.
    """
    ss: Any = st.session_state
    try:
        conversation = backend.conversation(session_id)
    except (BackendUnavailable, RateLimited):
        raise
    except BackendError:
        return False
    changed = False
    for message in conversation.get("messages", []):
        if message.get("role") == "agent" and _add_agent_message(message):
            changed = True
    status = conversation.get("handoff") or {"status": "bot"}
    previous = (ss.get("handoff_status") or {}).get("status", "bot")
    if status.get("status") != previous:
        if previous in ACTIVE and status.get("status") == "bot":
            ss["messages"].append({"role": "notice", "key": "back_to_bot", "values": {}})
            ss.pop("handoff", None)  # that hand-off is over: its "we passed your conversation" is no longer true
        ss["handoff_status"] = status
        changed = True
    return changed


@st.fragment(run_every=2)
def _follow(backend: Backend, session_id: str) -> None:
    """While a person has (or is about to take) the conversation: read it again when it may have changed
    (``Backend.changes``: with the API, its event stream, so waiting costs the UI's shared key no request per
    poll), redraw when a message comes or who has it changes, or when the service is gone (the page then says so and
    retries). After a 429 nothing is asked until its Retry-After has passed."""
    ss: Any = st.session_state
    try:
        version = backend.changes(session_id)  # asked every run: the stream stays open while the page follows
        if version == ss.get("follow_version") or time.monotonic() < ss.get("follow_after", 0.0):
            return
        changed = _sync(backend, session_id)
        ss["follow_version"] = version
    except RateLimited as exc:  # the shared key's budget is spent: ask again only once the API allows it
        ss["follow_after"] = time.monotonic() + exc.retry_after
        return
    except BackendUnavailable:
        changed = True
    if changed:
        st.rerun(scope="app")


@st.fragment(run_every=RETRY_S)
def _retry(backend: Backend) -> None:
    """While the service is down: check it again every few seconds and redraw the page once it is back (the
    conversation shown lives in the session state, and stays)."""
    try:
        backend.health()
    except BackendError:
        return
    st.rerun(scope="app")


def _resume(backend: Backend, session_id: str) -> None:
    """A reload (or a link) named this conversation: show it as the service has it, with who has it now. What comes
    back is the stored transcript: personal data redacted, answers without their sources. A conversation the service
    does not know starts afresh under a new id (an address cannot choose the id of someone's next conversation).

    Raises:
        BackendUnavailable: the service is down; the page retries later.
    """
    ss: Any = st.session_state
    try:
        conversation = backend.conversation(session_id)
    except (BackendUnavailable, RateLimited):  # down, or busy: the page says so and resumes on a later run
        raise
    except BackendError:  # not this customer's (the API answers 404): nothing to show
        conversation = {}
    messages, handoff = conversation.get("messages") or [], conversation.get("handoff") or {"status": "bot"}
    if not messages and not handoff.get("escalation_id"):
        state.new_conversation()
        return
    ss.pop("resume", None)
    ss["messages"], ss["agent_seen"], ss["handoff_status"] = [], set(), handoff
    turn = 0
    for message in messages:
        if message.get("role") == "agent":
            _add_agent_message(message)
        elif message.get("role") == "user":
            ss["messages"].append({"role": "user", "content": str(message.get("content", ""))})
        elif message.get("role") == "assistant":
            ss["messages"].append({"role": "assistant", "content": str(message.get("content", "")), "lang": None,
                                   "route": message.get("route"), "sources": [], "session_id": session_id,
                                   "turn": turn})  # fmt: skip
            turn += 1
    # The labels follow the conversation's language again (with Auto): the one its last answer is in, as they did
    # before the reload (a customer who asked for the other language writes in theirs and reads answers in the one
    # asked for: the page came back in the language they write in), else the customer's own words.
    answers = [m["content"] for m in ss["messages"] if m["role"] == "assistant" and m["content"].strip()]
    said = answers[-1] if answers else " ".join(m["content"] for m in ss["messages"] if m["role"] == "user")
    langs = [m.get("lang") for m in messages if m.get("role") == "assistant" and m.get("lang") in ("es", "en")]
    if langs:  # the bot's answers carry their language (since 2026-12-08): an answer quoting another language's
        ss["lang"] = langs[-1]  # article under a preface in the customer's would read as the article's
    elif said.strip():
        from retrieval.language import detect_language

        ss["lang"] = detect_language(said, default="es" if state.page_lang() == "es" else "en") or ss["lang"]


def _hand_over(status: str, escalation_id: str | None, agent: str | None) -> None:
    """A person has the conversation (``assigned``) or is about to take it (``waiting``): the page says so and
    follows the conversation from now on, whatever it followed before (a second hand-off is like the first)."""
    st.session_state["handoff_status"] = {"status": status, "escalation_id": escalation_id, "agent": agent}


def _ask_person(backend: Backend, session_id: str, lang: str) -> None:
    """The "talk to a person" button (a callback: the run it starts already shows the waiting state)."""
    ss: Any = st.session_state
    try:
        ss["handoff"] = record = backend.handoff(session_id, lang=lang)
    except BackendError as exc:
        ss["notice"] = _failed(exc, lang)
        return
    held = record.get("status") == "assigned"
    _hand_over("assigned" if held else "waiting", record.get("id"), record.get("assigned_name"))


def _unsent(lang: str, up: bool) -> str | None:
    """The message whose answer failed (busy, down, refused), under the conversation: said not sent, why, in the
    page's language, and a button to send it again; returns its text when that button was pressed."""
    unsent = st.session_state.get("unsent")
    if not unsent:
        return None
    with st.chat_message("user"):
        st.markdown(state.literal(unsent["text"]))
        st.error(f"{t('not_sent', lang)} {unsent['error']}")  # one alert: announced with why, in full contrast
        pressed = st.button(t("resend", lang), key="resend", icon=":material/send:", disabled=not up)
    return str(unsent["text"]) if pressed else None


def _banner(lang: str) -> None:
    """Who has the conversation now, and nothing about an earlier state."""
    ss: Any = st.session_state
    status = ss.get("handoff_status") or {}
    if status.get("status") == "assigned":
        st.info(t("with_agent", lang, agent=status.get("agent") or "?"), icon=AGENT_AVATAR)
    elif status.get("status") == "waiting":
        if ss.get("handoff"):  # the customer pressed the button: the case number to quote
            st.success(t("handoff_done", lang, id=str(ss["handoff"].get("id", "?"))[:8]))  # the console's short id
        st.info(t("waiting", lang), icon=":material/hourglass_top:")


def main() -> None:
    """Render the customer chat."""
    backend = state.backend()
    session_id = state.session_id()
    ss: Any = st.session_state
    ss.setdefault("messages", [])
    _keep_finished()  # answers that runs stopped midway read to their end (before the labels: they may follow one)
    lang, choice = state.page_lang(), state.lang_choice()

    with st.sidebar:
        st.selectbox(t("language", lang), list(state.LANG_CHOICES), key="lang_choice", placeholder=t("choose", lang),
                     format_func=lambda label: t("auto", lang) if label == "Auto" else label)  # fmt: skip

    # No anchor: it is a link a keyboard user tabs to, which screen readers read in Streamlit's English ("Link to
    # heading"), on a Spanish page too.
    company = state.config().company
    st.title(t("title_company", lang, company=company) if company else t("title", lang), anchor=False)
    st.caption(t("caption", lang))
    up = True
    try:
        backend.health()
        if ss.get("resume"):
            _resume(backend, session_id)
            st.rerun()  # drawn again with the conversation, its hand-off and its language (or under a new id)
    except BackendUnavailable as exc:
        up = False
        st.error(t("connection_lost", lang), icon=":material/sync_problem:")
        with st.expander(t("details", lang)):
            st.code(str(exc), language=None)
        _retry(backend)
    except BackendError as exc:  # reachable but refusing (e.g. a revoked key): say why, keep the page usable
        st.warning(_failed(exc, lang))

    # Above the message box, not in the sidebar: a phone's collapsed sidebar hid it. Off while a person has the
    # conversation or is about to take it (the banner says so).
    followed = (ss.get("handoff_status") or {}).get("status") in ACTIVE
    with st.bottom:
        st.button(t("handoff", lang), key="ask_person", icon=AGENT_AVATAR, type="tertiary", on_click=_ask_person,
                  args=(backend, session_id, lang), disabled=not up or followed)  # fmt: skip
    with st.sidebar:
        if st.button(t("new_chat", lang), width="stretch"):
            state.new_conversation()
            st.rerun()
    if ss.get("notice"):
        st.warning(ss.pop("notice"))
    _banner(lang)

    for message in ss["messages"]:
        if message["role"] == "agent":
            _render_agent(message)
            continue
        if message["role"] == "notice":  # a status: announced by screen readers (role="status"), full contrast
            st.info(t(message["key"], lang, **message["values"]), icon=NOTICE_ICONS.get(message["key"]))
            continue
        with st.chat_message(message["role"]):
            content = message["content"]
            st.markdown(state.literal(content) if message["role"] == "user" else state.without_images(content))
            if message["role"] == "assistant":
                _render_extras(backend, message, lang)
    if up and followed:
        _follow(backend, session_id)
    if ss.get("pending"):  # a stopped run still reads its answer
        _await_answer()

    unsent_slot = st.empty()
    with unsent_slot.container():
        resend = _unsent(lang, up)
    prompt = st.chat_input(t("placeholder", lang), disabled=not up, max_chars=MAX_CHARS) or resend
    if not prompt or not clean(prompt):  # a blank message (spaces, zero-width characters) asks nothing, no error
        return
    unsent = ss.pop("unsent", None)
    if unsent:  # a new message, or the same one again: the failed one is no longer shown
        unsent_slot.empty()
    # a resent message keeps its Idempotency-Key (the service answers it once); a new one gets its own
    again = resend is not None and prompt == resend and unsent and unsent.get("key")
    question = {"role": "user", "content": prompt, "key": unsent["key"] if again else uuid.uuid4().hex}
    shown = len(ss["messages"])
    ss["messages"].append(question)
    with st.chat_message("user"):
        st.markdown(state.literal(prompt))
    page_lang = ss["lang"]
    answer_slot = st.empty()  # emptied when the message went to a person: no answer bubble stays behind
    with answer_slot.chat_message("assistant"):
        final = _ask(backend, question, choice, session_id)  # the turn is kept in the session state
        if final is None:  # not in the conversation: shown apart, as not sent, with a button to send it again
            st.rerun()
        if final.get("route") == "human":  # no bot answer: the message went to the agent ("Sent to ...")
            answer_slot.empty()
            st.rerun()
        messages = ss["messages"]
        _render_extras(backend, next(messages[i + 1] for i, m in enumerate(messages) if m is question), lang)
    # The labels follow the customer's language; an earlier run's answer, kept meanwhile, is drawn in its place.
    if ss["lang"] != page_lang or len(ss["messages"]) != shown + 2 or ss.get("pending"):
        st.rerun()
    if final.get("route") == "handoff":  # redraw with the waiting state, which starts following the conversation
        st.rerun()


main()
