"""Agent console (sign-in required): the escalation queue with filters, a case view (live transcript, agent-assist
passages and draft, claim / reply / release / resolve), knowledge-base search, and the knowledge gaps with a form
for admins to write the missing article.

Every session-state key the page keeps is listed in ``ui.state.CONSOLE_KEYS`` (or begins with one of
``CONSOLE_CASE_KEYS``): signing out clears them, so a key added here belongs there."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

import streamlit as st

from retrieval.documents import ID_PATTERN
from retrieval.text import has_words
from ui import state
from ui.protocol import Backend, BackendError, BackendUnavailable, SignedOut, Staff

SERVICE_DOWN = "The support service is unavailable right now; the console will work again once it is back."
LANG_FILTER = {"Any language": None, "Español": "es", "English": "en"}
MAX_QUERY_CHARS = 1000  # the API's longest search query (GET /v1/kb/search): a longer one was a raw HTTP 422


def _search_tab(backend: Backend, who: Staff) -> None:
    query = st.text_input("Search the knowledge base", key="kb_query", placeholder="e.g. reembolso / refund",
                          max_chars=MAX_QUERY_CHARS)  # fmt: skip
    col_lang, col_tags, col_k = st.columns([1, 2, 1])
    lang = LANG_FILTER[col_lang.selectbox("Language", list(LANG_FILTER), key="kb_lang")]
    known_tags = backend.tags()
    if known_tags:
        tags = col_tags.multiselect("Tags", known_tags, key="kb_tags")
    else:  # the API does not list tags: type them
        typed = col_tags.text_input("Tags (comma-separated)", key="kb_tags_text")
        tags = [tag.strip() for tag in typed.split(",") if tag.strip()]
    k = int(col_k.number_input("Results", min_value=1, max_value=50, value=10, key="kb_k"))
    if not has_words(query):  # the knowledge base finds nothing without a letter or a digit ('¿?¡!')
        if query.strip():
            st.warning("The search has no words: type a question or keywords, not only punctuation.")
        elif query:  # spaces only: the agent typed something, and there is nothing to search for
            st.warning("The search is empty: type a question or keywords, not only spaces.")
        else:
            st.caption("Type a question or keywords; Spanish and English articles are searched together.")
        return
    results = backend.search(query, k=k, lang=lang, tags=tags or None, staff=who)
    if not results:
        st.info("No article matches these filters.")
        return
    st.caption(f"{len(results)} articles")
    for rank, result in enumerate(results, start=1):
        tag_text = ", ".join(result.get("tags") or []) or "no tags"
        st.markdown(state.without_images(
            f"{rank}. **{result.get('title', '')}** · `{result['doc_id']}` · {result.get('lang', '')} · "
            f"score {float(result.get('score', 0.0)):.3f} · {tag_text}"
        ))  # fmt: skip
        st.caption(state.without_images(str(result.get("text", ""))[:240]))
    doc_id = st.selectbox("Open article", [r["doc_id"] for r in results], key="kb_article", format_func=lambda d: d)
    if doc_id:
        _article(backend, doc_id, who)


def _article(backend: Backend, doc_id: str, who: Staff) -> None:
    document = backend.document(doc_id, staff=who)
    if document is None:
        st.warning(f"Article {doc_id} is no longer in the knowledge base.")
        return
    with st.container(border=True):
        st.subheader(state.without_images(document.get("title") or doc_id), anchor=False)
        details = [f"id `{doc_id}`", f"language {document.get('lang') or '?'}"]
        if document.get("tags"):
            details.append("tags " + ", ".join(document["tags"]))
        if document.get("updated"):
            details.append(f"updated {document['updated']}")
        if document.get("translation_of"):
            details.append(f"translation of `{document['translation_of']}`")
        st.caption(" · ".join(details))
        if document.get("url"):
            st.markdown(state.without_images(f"[{document['url']}]({document['url']})"))
        st.markdown(state.without_images(document.get("text", "")))


AGENT_AVATAR = ":material/support_agent:"
STATUS_FILTER = {"Open": "open", "Assigned": "assigned", "Mine": "mine", "Closed": "closed", "All": None}
AGE_FILTER = {"Any age": None, "Waiting > 5 min": 300.0, "Waiting > 1 h": 3600.0, "Waiting > 1 day": 86400.0}
# Listed the customer waiting longest first (then the cases nobody waits on): the cases still to be answered. Until
# 2026-12-06 only "Open"; an agent's own and the assigned cases came newest first, so the customer an agent had kept
# waiting longest sat at the bottom of "Mine".
WAITING_ORDER = ("open", "assigned", "mine")


def _when(value: Any) -> str:
    """An epoch time as ``YYYY-MM-DD HH:MM UTC``; any other value as it is."""
    if isinstance(value, int | float):
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(value))
    return str(value or "")


def _short(text: str, limit: int = 90) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _age(value: Any) -> str:
    """Minutes (hours from two on) since an epoch time."""
    if not isinstance(value, int | float):
        return ""
    minutes = max(0, int((time.time() - value) // 60))
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"


def _waiting(record: Mapping[str, Any]) -> str:
    """How long the customer has waited for a person's reply (the service's ``waiting_since``: from the hand-off,
    or from their first message after the agent's last reply), "answered" when the last word is the agent's, and
    nothing for a closed case. It showed the time since the case last entered the queue (an assigned one's since its
    creation), which neither the age filter nor "longest waiting first" used."""
    if record.get("status") not in ("open", "assigned"):
        return ""
    since = record.get("waiting_since")
    return _age(since) if since is not None else "answered"


def render_turn(turn: dict[str, Any]) -> None:
    """One transcript message: the customer, the bot, or a person (role ``agent``, with their name)."""
    role = str(turn.get("role", ""))
    if role == "agent":
        with st.chat_message("agent", avatar=AGENT_AVATAR):
            st.markdown(state.without_images(str(turn.get("content", ""))))
            st.caption(f"{turn.get('author') or 'agent'} · {_when(turn.get('at'))}")
        return
    with st.chat_message("user" if role == "user" else "assistant"):
        content = str(turn.get("content", ""))
        st.markdown(state.literal(content) if role == "user" else state.without_images(content))


def _label(record: dict[str, Any]) -> str:
    """A case in the picker, by what never changes (id, language, reason, when it came): the browser sends the
    chosen label back, and a label that changed under it (status, waiting time, a colleague's claim, which the queue
    now shows as they happen) matched no case, so the next click closed the open case."""
    parts = (f"#{str(record.get('id', '?'))[:8]}", record.get("lang"), record.get("reason"),
             _when(record.get("created_at")))  # fmt: skip
    return " · ".join(str(p) for p in parts if p)


QUEUE_LIMIT = 100  # cases listed at most; the caption says when there may be more
REFRESH_S = 3  # the queue and the open case are checked this often; the page redraws only when they changed
DONE = {"resolve": "resolved", "queue": "is back in the queue", "bot": "went back to the bot"}
FAILED: tuple[Any, ...] = ("failed",)  # what a tab that could not fetch its data shows (it says why)


def _queue(backend: Backend, who: Staff, status: str | None, lang: str | None, older_than: float | None
           ) -> list[dict[str, Any]]:  # fmt: skip
    """The escalations the filters select (``mine``: those this agent holds): the open, assigned and own cases the
    customer waiting longest first (:data:`WAITING_ORDER`), the others newest first. The service applies every filter
    before its limit: "mine" used to filter the newest ``QUEUE_LIMIT`` assigned cases here, and an open queue longer
    than that hid its longest-waiting customers."""
    return backend.escalations(QUEUE_LIMIT, staff=who, status="assigned" if status == "mine" else status, lang=lang,
                               older_than=older_than, mine=status == "mine",
                               oldest_first=status in WAITING_ORDER)  # fmt: skip


def _fingerprint(rows: list[dict[str, Any]], view: dict[str, Any] | None) -> tuple[Any, ...]:
    """What others change in the tab: the queue's cases, who has them and since when their customer waits (a reply,
    a customer's new message); the open case's status, holder, messages and draft (a customer's new message makes
    one)."""
    queue = tuple((str(r.get("id")), r.get("status"), r.get("assigned_to"), r.get("waiting_since")) for r in rows)
    if view is None:
        return (queue,)
    record = view.get("escalation") or {}
    turns = sum(1 for turn in view.get("transcript", []) if not turn.get("draft"))
    return queue, record.get("status"), record.get("assigned_to"), turns, (view.get("draft") or {}).get("id")


def _drawn(filters: tuple[Any, ...], case: str | None = None, fingerprint: tuple[Any, ...] = FAILED) -> None:
    """Record what the tab is drawing (the watch compares it); ``FAILED`` until the run has fetched it."""
    st.session_state["queue_drawn"] = {"filters": filters, "case": case, "fingerprint": fingerprint}


@st.fragment(run_every=REFRESH_S)
def _watch(backend: Backend, who: Staff) -> None:
    """Every few seconds: fetch what the tab drew (the same filters, the same open case) and redraw the page when it
    changed: a new hand-off, a colleague's claim, the customer's new message. The page used to change only on a
    click. A redraw keeps every widget's value (the reply being typed, the open case, the filters), and the reply
    box takes no new draft by itself (``_reply_box``). A tab that failed is redrawn once the service answers."""
    drawn = st.session_state.get("queue_drawn")
    if drawn is None or st.session_state.pop("queue_fresh", False):  # the page's own run has just fetched it
        return
    try:
        rows = _queue(backend, who, *drawn["filters"])
        now = _fingerprint(rows, backend.escalation(who, drawn["case"]) if drawn["case"] else None)
    except BackendError:  # down or refused: the same as a tab that failed, which says so
        now = FAILED
    if now != drawn["fingerprint"]:
        st.rerun(scope="app")


def _escalations_tab(backend: Backend, who: Staff) -> None:
    ss = st.session_state
    _case_from_address(backend, who)
    for key in ("queue_status", "queue_case"):  # set by an action of the last run (widgets take it before drawing)
        if f"{key}_next" in ss:
            ss[key] = ss.pop(f"{key}_next")
    col_status, col_lang, col_age = st.columns(3)
    status = STATUS_FILTER[col_status.selectbox("Status", list(STATUS_FILTER), key="queue_status")]
    lang = LANG_FILTER[col_lang.selectbox("Language", list(LANG_FILTER), key="queue_lang")]
    older_than = AGE_FILTER[col_age.selectbox("Age", list(AGE_FILTER), key="queue_age")]
    filters = (status, lang, older_than)
    _drawn(filters)
    ss["queue_fresh"] = True
    _watch(backend, who)
    notices = st.container()  # always there: a notice coming or going does not move the case view (and its box)
    queue = _queue(backend, who, *filters)
    rows = _keep_open_case(backend, who, queue, notices)
    if ss.get("queue_case") is None and ss.get("queue_done"):  # the last case left this agent: say what became of it
        notices.success(ss["queue_done"])
    if ss.get("queue_case") is None and ss.get("queue_address"):  # the address named a case that cannot be opened
        notices.warning(ss["queue_address"])
    if not rows:
        state.to_address(state.CASE_PARAM, None)
        _drawn(filters, None, _fingerprint(queue, None))
        st.info("No escalations match these filters.")
        return
    count = f"{len(rows)} escalation" + ("" if len(rows) == 1 else "s")  # "1 escalations" read as a typo
    order = "longest waiting first" if status in WAITING_ORDER else "newest first"
    more = f" (the first {QUEUE_LIMIT}: narrow the filters to see the others)" if len(queue) >= QUEUE_LIMIT else ""
    st.caption(f"{count}{more}, {order}. Transcripts are redacted (PII replaced by placeholders).")
    from graph.nodes.handoff import customer_asks

    # A static table, not st.dataframe: its grid is a canvas a keyboard agent tabbed through once per column (8 stops,
    # none named) and that the screen reader's table commands do not read; the case is opened with the picker below.
    # st.table draws its cells as Markdown: the customer's words are literal (a hand-off reason is free text).
    st.table(  # "customer asks": the queue said only "customer_request", and every case had to be opened
        [{"case": str(r.get("id", ""))[:8], "status": r.get("status"), "lang": r.get("lang"),
          "customer asks": state.literal(_short(customer_asks(r))), "reason": state.literal(str(r.get("reason") or "")),
          "created": _when(r.get("created_at")), "waiting": _waiting(r),
          "agent": state.literal(str(r.get("assigned_name") or ""))} for r in rows],
        hide_index=True, alt="The escalation queue: one row per case.",
    )  # fmt: skip
    labels = {str(r["id"]): _label(r) for r in rows}
    if "queue_case" not in ss and ss.get("queue_case_open") in labels:  # a run that failed (the service was down)
        ss["queue_case"] = ss["queue_case_open"]  # did not draw the picker, and Streamlit dropped its value
    chosen = st.selectbox("Open a case", list(labels), index=None, placeholder="Pick a case from the queue",
                          format_func=lambda i: labels[i], key="queue_case")  # fmt: skip
    ss["queue_case_open"] = chosen
    state.to_address(state.CASE_PARAM, str(chosen) if chosen else None)  # a reload reopens it (_case_from_address)
    if not chosen:
        _drawn(filters, None, _fingerprint(queue, None))
        return
    ss.pop("queue_done", None)
    ss.pop("queue_address", None)
    _drawn(filters, str(chosen))
    view = backend.escalation(who, str(chosen))
    _drawn(filters, str(chosen), _fingerprint(queue, view))
    _case(backend, who, str(chosen), view)


CLOSED = ("resolved", "returned")


def _case_from_address(backend: Backend, who: Staff) -> None:
    """The case the page's address names (``?case=``, which the tab keeps there): on the tab's first run in a browser
    session (a reload, then signing in again, or a link), it opens again under the status filter that shows it. A
    case the service does not know, a closed one, or an address that names no case leaves the queue as it is, saying
    why (``queue_address``); the tab then takes the parameter out of the address. Reloading used to lose the case:
    the agent had to find it in the queue again.

    Raises:
        BackendUnavailable: the service is down; the tab says so, and the address is read again once it is back.
    """
    ss = st.session_state
    if ss.get("queue_address_read"):
        return
    given = state.from_address(state.CASE_PARAM)
    notice = None
    if given and not state.is_id(given):
        notice = "The address does not name a case (its `case` is not a case id): showing the queue."
    elif given:
        try:
            record = backend.escalation(who, given)["escalation"]
        except BackendUnavailable:
            raise
        except (BackendError, KeyError) as exc:  # not found (the API answers 404), or refused
            notice = f"Case #{given[:8]} from the address could not be opened ({exc}): showing the queue."
        else:
            status = record.get("status")
            if status in CLOSED:
                notice = f"Case #{given[:8]} from the address is already {status}: showing the queue."
            else:
                mine = status == "assigned" and record.get("assigned_to") == who.agent_id
                ss["queue_status"] = "Mine" if mine else "Assigned" if status == "assigned" else "Open"
                ss["queue_case"] = given
    ss["queue_address_read"] = True
    if notice:
        ss["queue_address"] = notice


def _keep_open_case(backend: Backend, who: Staff, rows: list[dict[str, Any]], notices: Any) -> list[dict[str, Any]]:
    """``rows`` with the case this agent has open, when it just left them (a colleague claimed it, or the agent's
    reply ended the wait an age filter selected it by): its view stays, saying who has it (in ``notices``). It used
    to vanish, the next case took its place, and a click on Claim meant for it was lost or claimed the other one."""
    opened = st.session_state.get("queue_case")
    if not opened or any(str(r.get("id")) == opened for r in rows):
        return rows
    try:
        record = backend.escalation(who, str(opened))["escalation"]
    except (BackendError, KeyError):
        return rows
    if record.get("status") == "assigned" and record.get("assigned_to") == who.agent_id:
        # The agent's own reply took it out of a "Waiting > ..." filter: it said "is now assigned, held by <their
        # own name>", as if a colleague had taken it.
        notices.info(f"Case #{str(opened)[:8]} is yours and no longer matches these filters (its customer is not "
                     "waiting that long now): it stays open here.")  # fmt: skip
        return [record, *rows]
    # Only an assigned case is held: a resolved one said "is now resolved, held by <the agent who had it>".
    held = (
        f", held by {record['assigned_name']}"
        if record.get("status") == "assigned" and record.get("assigned_name")
        else ""
    )
    notices.warning(f"Case #{str(opened)[:8]} is now {record.get('status')}{held}: it no longer matches these filters.")
    return [record, *rows]


def _transcript(view: dict[str, Any]) -> None:
    """The conversation as the last run fetched it (``_watch`` redraws the page when the customer writes)."""
    turns = [t for t in view.get("transcript", []) if not t.get("draft")]
    st.caption(f"Conversation ({len(turns)} messages, redacted) · {view['status']['status']}")
    for turn in turns:
        render_turn(turn)


def _case(backend: Backend, who: Staff, escalation_id: str, view: dict[str, Any]) -> None:
    record, draft = view["escalation"], view.get("draft") or {}
    mine = record.get("status") == "assigned" and record.get("assigned_to") == who.agent_id
    held = record.get("status") == "assigned" and record.get("assigned_name")  # a closed case is held by nobody
    with st.container(border=True):
        st.subheader(f"Case #{escalation_id[:8]} · {record.get('status')}", anchor=False)
        # The reason, the notes and the question are the customer's (or an agent's) text, shown as typed: a hand-off
        # reason rendered as Markdown put a customer's link and tracking image in the console.
        st.caption(f"session `{record.get('session_id')}` · {record.get('lang')} · "
                   f"{state.literal(str(record.get('reason') or ''))}"
                   + (f" · held by {state.literal(str(held))}" if held else ""))  # fmt: skip
        with st.expander("History"):
            for event in record.get("history", []):
                st.markdown(f"- {_when(event.get('at'))}: **{event.get('action')}** by "
                            f"{state.literal(str(event.get('actor')))}"
                            + (f" ({state.literal(str(event['note']))})" if event.get("note") else ""))  # fmt: skip
        with st.container():  # its own block: a new message does not move the widgets below it
            _transcript(view)
        passages = view.get("passages") or []
        with st.expander(f"Passages for the last question ({len(passages)})"):
            st.caption(f"Question: {state.literal(str(draft.get('question') or '(none)'))}")
            for n, passage in enumerate(passages, start=1):
                title, doc_id, lang = passage.get("title", ""), passage.get("doc_id", ""), passage.get("lang", "")
                line = f"[{n}] **{title}** · `{doc_id}` · {lang}"
                st.markdown(state.without_images(line))
                st.caption(state.without_images(str(passage.get("text", ""))[:400]))
        if not mine:
            _not_sent(escalation_id, draft)
        if record.get("status") == "open":
            if st.button("Claim", key=f"claim-{escalation_id}", type="primary"):
                _act(backend, who, escalation_id, "claim")
        elif mine:
            st.caption(f"Drafted reply ({draft.get('generator')}, {draft.get('lang')}): edit it, then send.")
            text = _reply_box(escalation_id, draft)
            send, resolve, release, give_back = st.columns(4)
            if send.button("Send", key=f"send-{escalation_id}", type="primary"):
                _act(backend, who, escalation_id, "messages", text=text)
            if resolve.button("Resolve", key=f"resolve-{escalation_id}"):
                _act(backend, who, escalation_id, "resolve", note=st.session_state.get(f"note-{escalation_id}"))
            if release.button("Back to the queue", key=f"release-{escalation_id}"):
                _act(backend, who, escalation_id, "release", to="queue")
            if give_back.button("Back to the bot", key=f"return-{escalation_id}"):
                _act(backend, who, escalation_id, "release", to="bot")
            st.text_input("Resolution note (internal)", key=f"note-{escalation_id}")
        elif record.get("status") == "assigned":
            st.info(f"{record.get('assigned_name')} is handling this conversation.")
            if who.role == "admin" and st.button("Resolve (admin)", key=f"force-{escalation_id}"):
                _act(backend, who, escalation_id, "resolve")
        else:
            st.info(f"This conversation is {record.get('status')}; the bot answers the customer again.")


def _not_sent(escalation_id: str, draft: dict[str, Any]) -> None:
    """The case left this agent by a colleague's or an admin's action (resolved, released, taken) while a reply was in
    its box: the box is gone, so say that the reply was not sent and show it. A Send pressed just after the change
    (before the console's refresh) did nothing, and the typed reply vanished without a word."""
    text = st.session_state.get("unsent_replies", {}).get(escalation_id, "")
    if text.strip() and text != str(draft.get("text", "")):
        st.warning("This case is no longer yours: the reply in its box was not sent. It is kept here, and in the "
                   "box if the case comes back to you:")  # fmt: skip
        st.code(text, language=None, wrap_lines=True)


def _reply_box(escalation_id: str, draft: dict[str, Any]) -> str:
    """The reply being written: it starts from the draft (empty once a reply was sent from it), and a newer one (the
    customer wrote again) is offered with **Use the new draft**, never swapped in. Not even into a box that looks
    unedited: the console redraws by itself (``_watch``) and the browser sends what the agent types only when the
    box loses focus, so "unedited" may be text being typed. (The box was once keyed on the draft: a draft made while
    the agent typed replaced the text, and Send sent the draft in the agent's name.)"""
    key, ss = f"reply-{escalation_id}", st.session_state
    new_id = str(draft.get("id"))
    unsent: dict[str, str] = ss.setdefault("unsent_replies", {})
    if key not in ss:  # a new box, or one Streamlit dropped while another case was open: what was typed, or the draft
        if escalation_id in unsent:
            ss[key] = unsent[escalation_id]
        else:  # empty once a reply was sent from the draft (it started again from the used draft, to be sent twice)
            ss[key], ss[f"{key}-draft-id"] = "" if draft.get("sent") else str(draft.get("text", "")), new_id
    offer = st.container()  # above the box, and always there: the box keeps its place when the offer comes
    text = str(st.text_area("Reply to the customer", height=150, key=key))
    unsent[escalation_id] = text  # outside the widget's state, which Streamlit drops in a run that does not draw it
    if ss.get(f"{key}-draft-id") != new_id and not draft.get("sent"):
        offer.button("Use the new draft", key=f"{key}-use", on_click=_use_draft,
                     args=(key, new_id, str(draft.get("text", ""))))  # fmt: skip
    return text


def _use_draft(key: str, draft_id: str, text: str) -> None:
    """The agent took the newer draft (a callback: the box is drawn with it)."""
    st.session_state[key], st.session_state[f"{key}-draft-id"] = text, draft_id


LANGUAGES = {"es": "Spanish", "en": "English"}


def sent_notice(message: Mapping[str, Any]) -> str:
    """What the agent should know about a reply just sent (the checks the service reports, not enforced): it reads
    as another language than the customer's, or personal data in it was replaced by placeholders."""
    checks = message.get("checks") or {}
    notes = []
    language = checks.get("language") or {}
    customer = message.get("lang") or (message.get("meta") or {}).get("lang")
    if language.get("ok") is False and language.get("detected") and customer:
        notes.append(f"the reply reads as {LANGUAGES.get(language['detected'], language['detected'])} and the "
                     f"customer writes in {LANGUAGES.get(customer, customer)}: send a translation if that was "
                     "not meant")  # fmt: skip
    redacted = (checks.get("pii") or {}).get("redacted") or []
    if redacted:
        notes.append(f"personal data ({', '.join(redacted)}) was replaced by placeholders before it reached the "
                     "customer")  # fmt: skip
    return "Sent, but " + "; ".join(notes) + "." if notes else ""


def _act(backend: Backend, who: Staff, escalation_id: str, action: str, **body: Any) -> None:
    ss = st.session_state
    try:
        result = backend.act(who, escalation_id, action, **body)
    except SignedOut:
        raise
    except BackendError as exc:
        ss["console_notice"] = f"{action} refused: {exc}"
    else:
        if action == "messages":  # sent: the box starts empty, and the customer's next question brings a new draft
            for suffix in ("", "-draft-id"):
                ss.pop(f"reply-{escalation_id}{suffix}", None)
            ss.get("unsent_replies", {}).pop(escalation_id, None)
            notice = sent_notice(result)
            if notice:
                ss["console_notice"] = notice
        elif action == "claim":  # keep the case in view: it is in "Mine" now
            ss["queue_status_next"], ss["queue_case_next"] = "Mine", escalation_id
        else:  # resolved or released: the case has left this agent. Back to the queue, saying what became of it;
            # the next case opens when the agent picks it (the resolved case stayed in view under "All")
            done = DONE["resolve" if action == "resolve" else str(body.get("to") or "queue")]
            ss.get("unsent_replies", {}).pop(escalation_id, None)
            ss["queue_status_next"], ss["queue_case_next"], ss["queue_case_open"] = "Open", None, None
            ss["queue_done"] = f"Case #{escalation_id[:8]} {done}. Pick the next case from the queue."
    st.rerun()


def _gaps_tab(backend: Backend, who: Staff) -> None:
    rows = backend.knowledge_gaps(staff=who)
    if not rows:
        st.info("No knowledge gaps recorded: every question so far found an answer.")
        return
    st.caption("Questions the bot could not answer, most frequent first: candidates for new articles.")
    table = [
        {
            "count": int(row.get("count", 0)),
            "question": state.literal(str(row.get("question", ""))),  # a customer's words: st.table draws Markdown
            "lang": row.get("lang", ""),
            "last_seen": _when(row.get("last_seen", "")),
        }
        for row in rows
    ]
    st.table(table, hide_index=True, alt="Knowledge gaps, most frequent first.")  # no canvas grid (see the queue)
    if who.role != "admin":
        st.caption("An admin can write the missing articles from here.")
        return
    questions = {f"{r.get('question', '')} ({r.get('lang', '')})": r for r in rows}
    chosen = st.selectbox("Write the missing article for", list(questions), key="gap_pick")
    if chosen:
        _article_form(backend, who, questions[chosen])


def _article_form(backend: Backend, who: Staff, gap: dict[str, Any]) -> None:
    from graph.store import gap_article_id  # one id per gap, in every process (it was the salted ``hash()``)

    lang = gap.get("lang") if gap.get("lang") in ("es", "en") else "en"
    with st.form("new_article"):
        st.markdown("**Write the missing article**")
        title = st.text_input("Title", value=str(gap.get("question", ""))[:200])
        doc_id = st.text_input("Article id", value=gap_article_id(str(gap.get("question", "")), str(lang)))
        text = st.text_area("Text", height=200)
        if st.form_submit_button("Add to the knowledge base"):
            if not text.strip():
                st.error("Write the article's text first.")
                return
            if not re.fullmatch(ID_PATTERN, doc_id):  # the API's rule, said in words (its 422 showed the regex)
                st.error("An article id is 1-200 letters, digits and . : - _ (no spaces), starting with a letter, "
                         "a digit or _.")  # fmt: skip
                return
            try:
                report = backend.add_article(who, {"id": doc_id, "title": title, "text": text, "lang": lang})
            except BackendError as exc:
                st.error(str(exc))
                return
            st.success(f"Added {doc_id}: the index now holds {report.get('documents')} articles.")


def main() -> None:
    """Render the agent console (signed-in agents and admins only)."""
    who = state.require_staff()
    backend = state.backend()
    title, account = st.columns([4, 1])
    title.title("Agent console", anchor=False)  # no "Link to heading" tab stop (nor on the subheaders)
    account.caption(f"Signed in as **{who.name}** ({who.role})")
    if account.button("Sign out", key="sign_out"):
        state.sign_out()
        st.rerun()
    if st.session_state.get("console_notice"):
        st.warning(st.session_state.pop("console_notice"))
    tabs = st.tabs(["Escalations", "Knowledge base", "Knowledge gaps"])
    sections = [_escalations_tab, _search_tab, _gaps_tab]
    for tab, section in zip(tabs, sections, strict=True):
        with tab:
            try:
                section(backend, who)
            except SignedOut:  # the key was revoked, expired or signed out elsewhere: sign in again, saying why
                state.sign_out()
                st.session_state["signin_notice"] = (
                    "Your sign-in has ended (signed out elsewhere, expired after SUPPORTBOT_SIGNIN_HOURS, or the key "
                    "was revoked): sign in again."
                )
                st.rerun()
            except BackendUnavailable as exc:
                st.error(SERVICE_DOWN)
                st.caption(str(exc))
            except BackendError as exc:
                st.error(f"The service refused the request: {exc}")


main()
