"""Per-process and per-session state of the Streamlit app: the config, the cached backend, the session id."""

from __future__ import annotations

import contextlib
import re
import uuid
from typing import Any

import streamlit as st

from ui.backend import make_backend
from ui.config import UIConfig
from ui.protocol import Backend, Staff

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<:&])")


# Where the browser's Markdown (GFM) makes a link of bare text, after the escapes are read: "www.", "http://",
# "https://" and an e-mail address's "@". An invisible word joiner there leaves the text as typed and no link.
_AUTOLINK = re.compile(r"(?i)\b(www|https?|ftp)(?=\\[.:])|(?<=\w)@(?=\w)")
_JOINER = "\u2060"


def literal(text: str) -> str:
    """``text`` for ``st.markdown`` shown as typed: what a customer writes is never a heading, a link or an image
    (a fake "system notice" with a phishing link, or a tracking image the agent's browser would fetch). A bare web or
    e-mail address was still a link until 2026-12-07 (GFM autolinks): a word joiner (U+2060) now breaks each."""
    escaped = _MARKDOWN.sub(r"\\\1", text)
    escaped = _AUTOLINK.sub(lambda m: (m.group(1) + _JOINER) if m.group(1) else "@" + _JOINER, escaped)
    return escaped.replace("\n", "  \n")


# The "!" of a Markdown image ("![alt](address)", "![alt][ref]") that no backslash escapes, and a "!" at the end,
# which a streamed answer's next piece may follow with "[".
_IMAGE = re.compile(r"(?<!\\)((?:\\\\)*)!(?=\[|$)")


def without_images(text: str) -> str:
    """``text`` for ``st.markdown`` with its Markdown kept (lists, bold, links) and no image: what a bot answer, an
    agent's reply or a knowledge-base article holds. A browser fetches an image's address as soon as the message is
    drawn: a tracking pixel in an agent's reply or an article, or conversation data that a language model, steered by
    a planted article or by the customer, put in an address. The image's "!" is escaped: it reads as "!" and a link.
    """
    return _IMAGE.sub(r"\1\\!", text)


@st.cache_resource(show_spinner=False)
def _backend(key: str, _config: UIConfig) -> Backend:
    return make_backend(_config)


def cached_backend(config: UIConfig) -> Backend:
    """The backend for ``config``, one per distinct config per process: the graph and index load once, shared by
    every browser tab (and by whoever else in the process asks, e.g. a test that serves the same agent)."""
    return _backend(config.cache_key(), config)


def config() -> UIConfig:
    """The UI config from the environment; an invalid variable stops the page with its message."""
    try:
        return UIConfig.from_env()
    except ValueError as exc:
        st.error(f"supportbot UI configuration error: {exc}")
        st.stop()
        raise  # unreachable: st.stop() raises; keeps type checkers happy


def backend() -> Backend:
    """The backend for the current config (cached per process)."""
    return cached_backend(config())


# The selector's values; "Auto" is shown in the page's language (the keyed widget keeps its value when it switches).
LANG_CHOICES = {"Auto": "auto", "Español": "es", "English": "en"}


def _initial_lang() -> str:
    """The browser's language when it is Spanish, else English (until the customer writes)."""
    locale = str(getattr(st.context, "locale", None) or "")
    return "es" if locale.lower().startswith("es") else "en"


def lang_choice() -> str:
    """The language the customer forced in the chat's selector (``es``, ``en``), or ``auto``."""
    return LANG_CHOICES.get(str(st.session_state.get("lang_choice") or "Auto"), "auto")


def page_lang() -> str:
    """The language of the customer's page: the one forced in the selector, else the one the chat follows (the
    browser's until the first answer). The selector's value is read from the session state, so the navigation,
    drawn before the chat page, already uses it."""
    state: Any = st.session_state
    state.setdefault("lang", _initial_lang())
    choice = lang_choice()
    return str(state["lang"]) if choice == "auto" else choice


SESSION_PARAM = "session"  # the page address's ?session=: a reload resumes the conversation (docs/ui.md)
CASE_PARAM = "case"  # the console's ?case=: a reload (after signing in again) reopens the case (docs/ui.md)
# The agent console's session state (ui/views/agent.py), all in this one place: the keys it keeps, and the beginnings
# of those it keys by case ("reply-<id>", "reply-<id>-draft-id", "claim-<id>", ...). sign_out() clears them and the
# address's ?case=, so that whoever signs in next in the same browser tab (a shared support-desk computer) does not
# get the last agent's open case, unsent replies, filters or notices. A key the console adds belongs here (a test
# signs out and checks that nothing the console kept is left). The customer chat's keys (session_id, messages, lang,
# ...) are not listed: signing out leaves the conversation in the chat page as it was.
CONSOLE_KEYS = frozenset({
    "queue_status", "queue_lang", "queue_age", "queue_case", "queue_status_next", "queue_case_next",
    "queue_case_open", "queue_drawn", "queue_fresh", "queue_done", "queue_address", "queue_address_read",
    "unsent_replies", "console_notice", "sign_out",
    "kb_query", "kb_lang", "kb_tags", "kb_tags_text", "kb_k", "kb_article", "gap_pick",
})  # fmt: skip
CONSOLE_CASE_KEYS = ("reply-", "claim-", "send-", "resolve-", "release-", "return-", "note-", "force-")
_ID = re.compile(r"[0-9a-f]{32}")  # uuid4().hex (conversations, cases): 122 random bits; no other form is taken


def from_address(param: str) -> str:
    """What the page's address gives ``param`` (``?param=``: a reload, or a link), as given; ``""`` when nothing.
    Take it only when :func:`is_id` says it has the form of an id (an address may be mistyped, cut or crafted)."""
    return str(st.query_params.get(param) or "")


def is_id(value: str) -> bool:
    """Whether ``value`` has the form of the ids the pages keep in their address (``uuid4().hex``)."""
    return bool(_ID.fullmatch(value))


def to_address(param: str, value: str | None) -> None:
    """Keep ``value`` in the page's address as ``?param=`` (``None``: the parameter goes), so that a reload or a copied
    link comes back to it; the address is written only when it changes. Streamlit clears the parameters when the
    visitor goes to another page, so each page's stay with it."""
    if value is None:
        if param in st.query_params:
            del st.query_params[param]
    elif st.query_params.get(param) != value:
        st.query_params[param] = value


def session_id() -> str:
    """This browser session's conversation id (a new one after "New conversation"), kept in the page's address.

    A reload starts a new browser session: it takes a well-formed id from the address and marks it ``resume``; the
    chat page then shows that conversation if the service knows it, and starts a new one otherwise.
    """
    state: Any = st.session_state
    if "session_id" not in state:
        given = from_address(SESSION_PARAM)
        if is_id(given):
            state["session_id"], state["resume"] = given, True
        else:
            state["session_id"] = uuid.uuid4().hex
    to_address(SESSION_PARAM, state["session_id"])
    return str(state["session_id"])


def new_conversation() -> None:
    """Forget the conversation shown in this browser session and start a new one (its id replaces the address's)."""
    state: Any = st.session_state
    state["session_id"] = uuid.uuid4().hex
    for key in ("messages", "handoff", "notice", "handoff_status", "agent_seen", "resume", "unsent", "pending"):
        state.pop(key, None)


def staff() -> Staff | None:
    """The agent or admin signed in to this browser session (kept in Streamlit's server-side session state)."""
    value = st.session_state.get("staff")
    return value if isinstance(value, Staff) else None


def require_staff() -> Staff:
    """The signed-in agent or admin; otherwise the page says so and stops (customers see only the chat)."""
    who = staff()
    if who is None:
        from ui.signin import form

        form(backend())
        st.stop()
        raise RuntimeError  # unreachable: st.stop() raises
    return who


def sign_out() -> None:
    """End the console session: the sign-in, the console's state (:data:`CONSOLE_KEYS`) and its ``?case=``. They
    outlived it: the next agent to sign in in the same tab got the last one's open case, filters and unsent replies.
    The chat page's state stays."""
    who = staff()
    state: Any = st.session_state
    state.pop("staff", None)
    for key in [k for k in state if k in CONSOLE_KEYS or k.startswith(CONSOLE_CASE_KEYS)]:
        del state[key]
    to_address(CASE_PARAM, None)
    if who is not None:
        with contextlib.suppress(Exception):  # signing out works locally even when the service is down
            backend().sign_out(who)
