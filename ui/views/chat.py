"""Customer chat: streamed answers with their sources, language following, feedback and handoff to a person."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import streamlit as st

from retrieval.text import clean
from ui import state
from ui.i18n import LANGS, t
from ui.protocol import Backend, BackendError, BackendUnavailable, RateLimited


def _failed(exc: BackendError, lang: str) -> str:
    """A failed request, said in the page's language: the service is down, or refused it (the API's reason without
    the transport's "HTTP 422: "), or is busy: over the rate limit of the UI's key, which every visitor shares (the
    API's English reason would say "for this key")."""
    if isinstance(exc, BackendUnavailable):
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
            st.markdown(state.without_images(f"[{number}] **{heading}** · {source.get('lang', '')}"))
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
        st.caption(t("feedback_thanks", lang))


def _ask(backend: Backend, prompt: str, lang_choice: str, session_id: str) -> dict[str, Any] | None:
    """Stream one answer into the page; returns the final chat result (None when it failed: the message is kept as
    ``unsent``, with why, for the customer to send again)."""
    final: dict[str, Any] = {}
    forced = None if lang_choice == "auto" else lang_choice
    if forced is None and not re.search(r"[^\W\d_]", prompt):  # no letter (emoji, a number): nothing to detect
        forced = state.page_lang()  # the conversation's so far (the browser's before it starts), not English

    streamed: list[str] = []  # as the service sent it; the page draws each piece without images

    def tokens() -> Iterator[str]:
        for event in backend.stream(prompt, session_id=session_id, lang=forced):
            if event.get("type") == "token":
                streamed.append(str(event.get("text", "")))
                yield state.without_images(streamed[-1])
            elif event.get("type") == "final":
                final.update(event)

    ui_lang = state.page_lang()
    slot = st.empty()
    try:
        with slot.container():
            st.write_stream(tokens())
    except BackendError as exc:
        st.session_state["unsent"] = {"text": prompt, "error": _failed(exc, ui_lang)}
        slot.error(st.session_state["unsent"]["error"])
        return None
    streamed_text = "".join(streamed)
    final.setdefault("answer", streamed_text)
    if final["answer"] != streamed_text:  # the final answer is authoritative (a rail may replace a streamed one)
        slot.markdown(state.without_images(final["answer"]))
    return final


AGENT_AVATAR = ":material/support_agent:"
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
    asked = " ".join(m["content"] for m in ss["messages"] if m["role"] == "user")
    if asked.strip():  # the labels follow the customer's language again (with Auto)
        from retrieval.language import detect_language

        ss["lang"] = detect_language(asked, default="es" if state.page_lang() == "es" else "en") or ss["lang"]


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
        st.error(unsent["error"])
        st.caption(t("not_sent", lang))
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
    lang, choice = state.page_lang(), state.lang_choice()

    with st.sidebar:
        st.selectbox(t("language", lang), list(state.LANG_CHOICES), key="lang_choice",
                     format_func=lambda label: t("auto", lang) if label == "Auto" else label)  # fmt: skip

    st.title(t("title", lang))
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
        if message["role"] == "notice":
            st.caption(t(message["key"], lang, **message["values"]))
            continue
        with st.chat_message(message["role"]):
            content = message["content"]
            st.markdown(state.literal(content) if message["role"] == "user" else state.without_images(content))
            if message["role"] == "assistant":
                _render_extras(backend, message, lang)
    if up and followed:
        _follow(backend, session_id)

    unsent_slot = st.empty()
    with unsent_slot.container():
        resend = _unsent(lang, up)
    prompt = st.chat_input(t("placeholder", lang), disabled=not up, max_chars=MAX_CHARS) or resend
    if not prompt or not clean(prompt):  # a blank message (spaces, zero-width characters) asks nothing, no error
        return
    if ss.pop("unsent", None):  # a new message, or the same one again: the failed one is no longer shown
        unsent_slot.empty()
    ss["messages"].append({"role": "user", "content": prompt})
    with st.chat_message("user"):
        st.markdown(state.literal(prompt))
    answer_slot = st.empty()  # emptied when the message went to a person: no answer bubble stays behind
    with answer_slot.chat_message("assistant"):
        final = _ask(backend, prompt, choice, session_id)
        if final is None:  # not in the conversation: shown apart, as not sent, with a button to send it again
            ss["messages"].pop()
            st.rerun()
        if final.get("route") in ("human", "handoff"):  # a person has, or will have, the conversation
            held = final.get("route") == "human"
            guard = (final.get("guardrails") or {}).get("human" if held else "handoff") or {}
            _hand_over("assigned" if held else "waiting", guard.get("escalation_id"), guard.get("agent"))
            if held:  # no bot answer: the message went to the agent
                ss["messages"].append({"role": "notice", "key": "sent_to_agent",
                                       "values": {"agent": guard.get("agent") or "?"}})  # fmt: skip
                answer_slot.empty()
                st.rerun()
        turn = sum(1 for m in ss["messages"] if m["role"] == "assistant")
        message = {
            "role": "assistant",
            "content": final.get("answer", ""),
            "lang": final.get("lang"),
            "route": final.get("route"),
            "sources": final.get("sources", []),
            "session_id": session_id,
            "turn": turn,
        }
        ss["messages"].append(message)
        _render_extras(backend, message, lang)
    if choice == "auto" and final.get("lang") in LANGS and final["lang"] != ss["lang"]:
        ss["lang"] = final["lang"]  # follow the customer's language: re-render the labels in it
        st.rerun()
    if final.get("route") == "handoff":  # redraw with the waiting state, which starts following the conversation
        st.rerun()


main()
