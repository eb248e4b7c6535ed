"""AppTest runs of every page: the real agent in-process on the bundled index, and the API backend when it is down."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from retrieval.language import detect_language
from tests.ui.conftest import APP, HOME, SPANISH_QUESTION, ApiServer, customer_key, free_port
from ui import state
from ui.i18n import t
from ui.protocol import Staff

TIMEOUT = 120  # the first run loads the graph, the index and the embedder


AGENT = Staff(role="agent", name="Ana", agent_id="user:ana")
ADMIN = Staff(role="admin", name="Root", agent_id="user:root")


def open_page(page: str | None = None, staff: Staff | None = AGENT) -> AppTest:
    """Run the app (optionally switched to ``views/<page>.py``), as ``staff`` signed in when a staff page."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    if staff is not None and page is not None:
        at.session_state["staff"] = staff
    at.run()
    if page is not None:
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def banner(boxes: Any) -> list[str]:
    """The info boxes above the conversation (who has it now), without the notes between its messages ("Sent to
    Ana", "the assistant is answering you again"), which are info boxes too (announced by screen readers)."""
    notes = {t("back_to_bot", "es"), t("back_to_bot", "en")}
    return [b.value for b in boxes if b.value not in notes and not b.value.startswith(("Enviado a ", "Sent to "))]


def assistant_texts(at: AppTest) -> list[str]:
    return [m.markdown[0].value for m in at.chat_message if m.name == "assistant"]


# --- customer chat -----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_chat_answers_in_the_customers_language_with_sources(inprocess_env: Path) -> None:
    at = open_page()
    at.chat_input[0].set_value("   ").run()  # blank: nothing sent, no empty bubble, no "HTTP 422"
    assert not at.chat_message and not at.error
    # Only zero-width spaces is blank too: it was sent, and came back "not sent" with the API's English "message is
    # blank" and a "Send again" that could only fail again.
    at.chat_input[0].set_value("\u200b\u200b").run()
    assert not at.chat_message and not at.error and not at.session_state["messages"]
    at.chat_input[0].set_value(SPANISH_QUESTION).run()
    assert not at.exception, [e.value for e in at.exception]
    [answer] = assistant_texts(at)
    assert detect_language(answer) == "es", answer
    # The page followed the customer into Spanish: its own labels are Spanish now.
    assert at.title[0].value == "Asistente de soporte"
    [sources] = [e for e in at.expander if e.label.startswith("Fuentes")]
    links = " ".join(m.value for m in sources.markdown)
    assert "https://nimbus.example/" in links and "(es" not in links
    # each source is listed with the [n] the answer cites it by
    numbers = [m.value.split("]")[0] + "]" for m in sources.markdown if m.value.startswith("[")]
    assert numbers and all(n in answer for n in numbers), (numbers, answer)
    assert any(c.value == "Idioma detectado: español" for c in at.caption)
    at.sidebar.selectbox(key="lang_choice").set_value("English").run()  # the language named in the page's language
    assert any(c.value == "Detected language: Spanish" for c in at.caption), [c.value for c in at.caption]


@pytest.mark.slow
def test_a_message_without_a_letter_is_answered_in_the_pages_language(inprocess_env: Path) -> None:
    """ "😀😀😀" as a Spanish browser's first message got "Hello! How can I help you today?" and the page turned
    English: detection has nothing to read, and fell back to English."""
    at = open_page()
    at.session_state["lang"] = "es"  # a Spanish browser, before the first answer
    at.run()
    at.chat_input[0].set_value("😀😀😀").run()
    assert not at.exception, [e.value for e in at.exception]
    [answer] = assistant_texts(at)
    assert detect_language(answer) == "es", answer
    assert at.title[0].value == "Asistente de soporte"


def test_the_page_names_the_deployments_company(inprocess_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bicycle workshop that set SUPPORTBOT_COMPANY still showed "supportbot" on the browser tab and a heading
    that named no one (a QA pass as its operator, 2026-12-08)."""
    monkeypatch.setenv("SUPPORTBOT_COMPANY", "Ciclos Ruiz")
    at = open_page()
    assert at.title[0].value in {t("title_company", lang, company="Ciclos Ruiz") for lang in ("es", "en")}
    at.sidebar.selectbox(key="lang_choice").set_value("Español").run()
    assert at.title[0].value == "Asistente de soporte de Ciclos Ruiz"


@pytest.mark.slow
def test_manual_language_override_wins(inprocess_env: Path) -> None:
    at = open_page()
    at.sidebar.selectbox(key="lang_choice").set_value("English").run()
    at.chat_input[0].set_value(SPANISH_QUESTION).run()
    assert not at.exception, [e.value for e in at.exception]
    [answer] = assistant_texts(at)
    assert detect_language(answer) == "en", answer
    assert at.title[0].value == "Support assistant"


@pytest.mark.slow
def test_thumbs_are_stored_as_feedback(inprocess_env: Path) -> None:
    from graph.store import SupportStore

    at = open_page()
    at.chat_input[0].set_value(SPANISH_QUESTION).run()
    session_id = at.session_state["session_id"]
    at.feedback[0].set_value(0).run()  # thumbs down
    assert not at.exception, [e.value for e in at.exception]
    assert any(s.value == "¡Gracias por tu valoración!" for s in at.success)
    rows = [r for r in SupportStore(inprocess_env / "support.sqlite").feedback() if r["session_id"] == session_id]
    assert [(int(r["turn"]), r["rating"]) for r in rows] == [(0, "down")]


@pytest.mark.slow
def test_talk_to_a_person_lands_in_the_escalation_queue(inprocess_env: Path) -> None:
    at = open_page()
    at.chat_input[0].set_value(SPANISH_QUESTION).run()
    session_id = at.session_state["session_id"]
    # On the page, above the message box, not in the sidebar a phone collapses
    assert "ask_person" not in [b.key for b in at.sidebar.button]
    at.button(key="ask_person").click().run()  # "Hablar con una persona"
    assert not at.exception, [e.value for e in at.exception]
    assert at.success and "Una persona te responderá" in at.success[0].value
    assert any("cola de nuestro equipo" in i.value for i in at.info)  # the waiting state
    assert at.button(key="ask_person").disabled  # asked already: the banner says what happens next

    from graph.store import SupportStore

    escalation = SupportStore(inprocess_env / "support.sqlite").active_escalation(session_id)
    console = open_page("agent")
    assert escalation is not None
    # The queue says what the customer asked (it said only "customer_request": every case had to be opened).
    # A static table (st.dataframe's canvas grid took a keyboard agent 8 unnamed tab stops, no screen-reader table)
    assert not [d for d in console.dataframe if "customer asks" in d.value.columns]
    [queue] = [d for d in console.table if "customer asks" in d.value.columns]
    row = queue.value[queue.value["case"] == escalation["id"][:8]]
    assert row["customer asks"].tolist() == [SPANISH_QUESTION], row
    console.selectbox(key="queue_case").set_value(escalation["id"]).run()
    assert any(f"session `{session_id}`" in c.value for c in console.caption)
    transcript = " ".join(m.markdown[0].value for m in console.chat_message)
    assert SPANISH_QUESTION in transcript


@pytest.mark.slow
@pytest.mark.parametrize("cut", ["stop", "rerun"])
def test_an_answer_cut_off_by_the_customers_next_click_is_kept(
    inprocess_env: Path, inprocess_backend: Any, monkeypatch: pytest.MonkeyPatch, cut: str
) -> None:
    """A click, a switch of language or a second message while an answer streams starts the page's next run at once,
    and Streamlit stops the one streaming (``stop``: its fast reruns, the server's default; ``rerun``: without them):
    the answer vanished from the chat, the question left with no answer under it, though the service had it (the
    API kept it and a reload showed it; the in-process agent lost it). Seen in Chromium: a second question sent
    while the first was answered, or "Talk to a person" clicked then."""
    from streamlit.runtime.scriptrunner_utils.script_requests import RerunData
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    stream = inprocess_backend.stream

    def interrupted(message: str, **kwargs: Any) -> Any:
        for number, event in enumerate(stream(message, **kwargs)):
            if number == 0:  # the customer clicks while the answer is being written
                requests = get_script_run_ctx().script_requests
                if cut == "stop":
                    requests.request_stop()
                else:
                    requests.request_rerun(RerunData())
            yield event

    at = open_page()
    monkeypatch.setattr(inprocess_backend, "stream", interrupted)
    at.chat_input[0].set_value(SPANISH_QUESTION).run()
    assert not at.exception, [e.value for e in at.exception]
    if cut == "stop":
        assert "answering" not in at.session_state  # the stopped run kept the answer: the next one draws it
        at.run()
    [answer] = assistant_texts(at)
    assert detect_language(answer) == "es", answer
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    assert any(e.label.startswith("Fuentes") for e in at.expander)
    assert at.title[0].value == "Asistente de soporte"
    assert [m["role"] for m in inprocess_backend.conversation(at.session_state["session_id"])["messages"]] == [
        "user", "assistant"]  # fmt: skip


def test_a_message_sent_again_after_a_cut_connection_is_answered_once(
    inprocess_env: Path, inprocess_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection broke as the answer ended: the service had answered and kept the turn, the page showed the
    message as not sent, and "send again" made a second turn of it (the conversation held the question and its answer
    twice). The page sends each message with an Idempotency-Key and a resend with the same one."""
    from ui.protocol import BackendUnavailable

    stream, cut = inprocess_backend.stream, [True]

    def dropped(message: str, **kwargs: Any) -> Any:
        events = list(stream(message, **kwargs))  # the service answers and saves the turn
        if cut.pop() if cut else False:
            raise BackendUnavailable("the connection to the support API was lost")
        yield from events

    at = open_page()
    monkeypatch.setattr(inprocess_backend, "stream", dropped)
    at.chat_input[0].set_value(SPANISH_QUESTION).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "unsent" in at.session_state and not assistant_texts(at)
    at.button(key="resend").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(assistant_texts(at)) == 1
    kept = inprocess_backend.conversation(at.session_state["session_id"])["messages"]
    assert [m["role"] for m in kept] == ["user", "assistant"], kept


# --- agent console -----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_agent_search_filters_by_language_and_tag_and_opens_the_article(inprocess_env: Path) -> None:
    at = open_page("agent")
    at.text_input(key="kb_query").set_value("   ").run()  # only spaces: said plainly (it looked like an empty box)
    assert not at.exception, [e.value for e in at.exception]
    assert [w.value for w in at.warning] == ["The search is empty: type a question or keywords, not only spaces."]
    at.text_input(key="kb_query").set_value("¿?¡!").run()  # punctuation only: it listed arbitrary articles
    assert [w.value for w in at.warning] == ["The search has no words: type a question or keywords, not only "
                                             "punctuation."]  # fmt: skip
    assert not [m.value for m in at.markdown if m.value[:2].rstrip(".").isdigit()]  # no result listed
    at.text_input(key="kb_query").set_value("reembolso").run()
    assert not at.warning
    at.selectbox(key="kb_lang").set_value("Español").run()
    assert not at.exception, [e.value for e in at.exception]
    lines = [m.value for m in at.markdown if m.value[:2].rstrip(".").isdigit()]
    assert lines and all(" · es · " in line for line in lines), lines
    tag = "refunds" if "refunds" in at.multiselect(key="kb_tags").options else at.multiselect(key="kb_tags").options[0]
    at.multiselect(key="kb_tags").set_value([tag]).run()
    tagged = [m.value for m in at.markdown if m.value[:2].rstrip(".").isdigit()]
    assert tagged and all(tag in line for line in tagged), tagged
    article = at.selectbox(key="kb_article").value
    assert at.subheader and any(f"id `{article}`" in c.value for c in at.caption)
    assert all(s.proto.hide_anchor for s in at.subheader)  # no "Link to heading" tab stop


@pytest.mark.slow
def test_knowledge_gaps_are_ranked_by_frequency(inprocess_env: Path) -> None:
    from graph.store import SupportStore

    store = SupportStore(inprocess_env / "support.sqlite")
    for question, times in (("¿Vendéis tarjetas regalo de papel?", 1), ("Do you ship to Mars?", 3)):
        for _ in range(times):
            store.record_gap(question, "es" if question.startswith("¿") else "en")
    at = open_page("agent")
    assert not [d for d in at.dataframe if "question" in d.value.columns]  # a static table (see the queue's)
    [table] = [d for d in at.table if "question" in d.value.columns]
    frame = table.value
    assert list(frame["count"]) == sorted(frame["count"], reverse=True)
    questions = list(frame["question"])
    assert questions.index("Do you ship to Mars?") < questions.index("¿Vendéis tarjetas regalo de papel?")


@pytest.mark.slow
def test_the_article_suggested_for_a_gap_has_one_id_in_every_process(inprocess_env: Path) -> None:
    import hashlib

    from graph.store import SupportStore

    question = "¿Hacéis envíos a la Antártida?"
    SupportStore(inprocess_env / "support.sqlite").record_gap(question, "es")
    at = open_page("agent", staff=ADMIN)
    at.selectbox(key="gap_pick").set_value(f"{question} (es)").run()
    [field] = [t for t in at.text_input if t.label == "Article id"]
    # A digest of the gap (question and language), not Python's per-process salted hash(): after a restart the
    # same gap was suggested under another id, and could be written up twice.
    digest = hashlib.sha256(f"es\n{question}".encode()).hexdigest()[:10]
    assert field.value == f"gap-{digest}-es"
    # A bad id is said in words before anything is sent (the API's 422 showed its regex), and the search box stops
    # at the API's longest query (a longer one was a raw HTTP 422)
    field.set_value("envíos antártida")
    [text] = [a for a in at.text_area if a.label == "Text"]
    text.set_value("No enviamos a la Antártida.")
    at.button[[b.label for b in at.button].index("Add to the knowledge base")].click().run()
    assert any("An article id is 1-200 letters" in e.value for e in at.error), [e.value for e in at.error]
    assert next(t for t in at.text_input if t.key == "kb_query").max_chars == 1000


@pytest.mark.slow
def test_resolving_a_case_goes_back_to_the_queue_and_says_so(inprocess_env: Path, inprocess_backend: Any) -> None:
    cases = []
    for _ in range(2):  # a hand-off before the first message (the button), and the next one in the queue
        cases.append(inprocess_backend.handoff(uuid.uuid4().hex, lang="es")["id"])
    case, waiting = cases
    console = open_page("agent")
    console.selectbox(key="queue_case").set_value(case).run()
    console.button(key=f"claim-{case}").click().run()
    console.text_input(key=f"note-{case}").set_value("resuelto por teléfono")
    console.button(key=f"resolve-{case}").click().run()
    assert not console.exception, [e.value for e in console.exception]
    assert inprocess_backend.service.store.escalation(case)["status"] == "resolved"
    # Back to the queue, saying so: the resolved case stayed in view under "All" (its Resolve and Send gone).
    assert [s.value for s in console.success] == [f"Case #{case[:8]} resolved. Pick the next case from the queue."]
    assert console.selectbox(key="queue_status").value == "Open"
    picker = console.selectbox(key="queue_case")
    assert picker.value is None and any(o.startswith(f"#{waiting[:8]}") for o in picker.options), picker.options
    assert not [s.value for s in console.subheader if s.value.startswith("Case #")]
    console.selectbox(key="queue_case").set_value(waiting).run()  # the next case, when the agent picks it
    assert [s.value for s in console.subheader] == [f"Case #{waiting[:8]} · open"] and not console.success
    assert all(s.proto.hide_anchor for s in console.subheader)  # no "Link to heading" tab stop
    inprocess_backend.act(AGENT, waiting, "resolve")


@pytest.mark.slow
def test_the_in_process_console_applies_the_apis_limits_to_replies_and_notes(
    inprocess_env: Path, inprocess_backend: Any
) -> None:
    from ui.protocol import BackendError

    case = inprocess_backend.handoff(uuid.uuid4().hex, lang="es")["id"]
    inprocess_backend.act(AGENT, case, "claim")
    limit = inprocess_backend.config.max_message_chars  # SUPPORTBOT_MAX_MESSAGE_CHARS, as the API's
    # Without the API the console sent a reply of any length, a blank one included, and kept a note of any length.
    for text, reason in (("x" * (limit + 1), f"text is {limit + 1} characters; at most {limit} are accepted"),
                         ("   ", "text is blank")):  # fmt: skip
        with pytest.raises(BackendError, match=reason):
            inprocess_backend.act(AGENT, case, "messages", text=text)
    with pytest.raises(BackendError, match="note is 2001 characters; at most 2000 are accepted"):
        inprocess_backend.act(AGENT, case, "resolve", note="n" * 2001)
    store = inprocess_backend.service.store
    assert store.escalation(case)["status"] == "assigned"
    assert not [m for m in store.messages(store.escalation(case)["session_id"]) if m["role"] == "agent"]
    inprocess_backend.act(AGENT, case, "resolve", note="n" * 2000)


@pytest.mark.slow
def test_the_queue_shows_how_long_each_customer_has_waited_for_a_reply(inprocess_env: Path, inprocess_backend: Any
                                                                       ) -> None:  # fmt: skip
    store = inprocess_backend.service.store
    waited, answered = (inprocess_backend.handoff(uuid.uuid4().hex, lang="es")["id"] for _ in range(2))
    with store._transaction() as db:  # both opened two hours ago
        for case in (waited, answered):
            db.execute("UPDATE escalations SET created_at = created_at - 7200, waiting_since = waiting_since - 7200"
                       " WHERE id = ?", (case,))  # fmt: skip
            db.execute("UPDATE escalation_events SET at = at - 7200 WHERE escalation_id = ?", (case,))
    for case in (waited, answered):
        inprocess_backend.act(AGENT, case, "claim")
    inprocess_backend.act(AGENT, answered, "messages", text="Hola, ya estoy revisando tu pedido.")
    inprocess_backend.act(AGENT, waited, "release", to="queue")  # back in the queue, nobody has answered them yet

    def waiting(at: AppTest) -> dict[str, str]:
        assert not at.exception, [e.value for e in at.exception]
        tables = [d for d in at.table if "waiting" in d.value.columns]
        return {r["case"]: r["waiting"] for table in tables for _, r in table.value.iterrows()}

    try:
        console = open_page("agent")
        # It read "0 min": the time since the release, not since the customer asked for a person.
        assert waiting(console)[waited[:8]] == "2 h"
        console.selectbox(key="queue_status").set_value("Mine").run()
        assert waiting(console)[answered[:8]] == "answered"  # it read "2 h" though the customer has their reply
        console.selectbox(key="queue_age").set_value("Waiting > 1 h").run()  # the filter went by the creation too
        assert answered[:8] not in waiting(console)
        console.selectbox(key="queue_status").set_value("Open").run()
        assert waited[:8] in waiting(console)
    finally:
        inprocess_backend.act(AGENT, waited, "resolve")
        inprocess_backend.act(AGENT, answered, "resolve")


@pytest.mark.slow
def test_answering_a_case_picked_by_its_wait_keeps_it_open_as_the_agents_own(
    inprocess_env: Path, inprocess_backend: Any
) -> None:
    store = inprocess_backend.service.store
    case = inprocess_backend.handoff(uuid.uuid4().hex, lang="es")["id"]
    with store._transaction() as db:  # the customer has waited two hours
        db.execute("UPDATE escalations SET waiting_since = waiting_since - 7200 WHERE id = ?", (case,))
    try:
        console = open_page("agent")
        console.selectbox(key="queue_age").set_value("Waiting > 1 h").run()
        console.selectbox(key="queue_case").set_value(case).run()
        console.button(key=f"claim-{case}").click().run()
        console.text_area(key=f"reply-{case}").input("Hola, ya estoy revisando tu pedido.").run()
        console.button(key=f"send-{case}").click().run()
        assert not console.exception, [e.value for e in console.exception]
        # Answered, the case no longer waits an hour; it said "is now assigned, held by Ana", the agent's own name.
        assert [s.value for s in console.subheader] == [f"Case #{case[:8]} · assigned"]
        notes = [n.value for n in (*console.warning, *console.info)]
        assert any(f"Case #{case[:8]} is yours" in n for n in notes), notes
        assert not any("held by Ana" in n for n in notes), notes
    finally:
        inprocess_backend.act(AGENT, case, "resolve")


@pytest.mark.slow
def test_a_new_draft_is_offered_never_swapped_into_the_reply_box(inprocess_env: Path, inprocess_backend: Any) -> None:
    session_id = uuid.uuid4().hex
    case = inprocess_backend.handoff(session_id, lang="es")["id"]
    console = open_page("agent")
    console.selectbox(key="queue_case").set_value(case).run()
    console.button(key=f"claim-{case}").click().run()
    first = console.text_area(key=f"reply-{case}").value
    assert first.startswith("Hola, soy Ana")
    # The customer writes: a new draft. The box looks unedited to the server, but the console now redraws by itself
    # and the browser sends what is typed only when the box loses focus: the draft is offered, not swapped in.
    for _ in inprocess_backend.stream(SPANISH_QUESTION, session_id=session_id):
        pass
    console.run()
    assert not console.exception, [e.value for e in console.exception]
    assert SPANISH_QUESTION in " ".join(m.markdown[0].value for m in console.chat_message if m.markdown)
    assert console.text_area(key=f"reply-{case}").value == first
    console.button(key=f"reply-{case}-use").click().run()  # "Use the new draft"
    newer = console.text_area(key=f"reply-{case}").value
    assert newer != first and newer.startswith("Hola, soy Ana")
    assert not [b for b in console.button if b.key == f"reply-{case}-use"]
    inprocess_backend.act(AGENT, case, "resolve")


@pytest.mark.slow
def test_the_console_shows_a_customers_hand_off_reason_as_typed_and_a_closed_case_held_by_nobody(
    inprocess_env: Path, inprocess_backend: Any
) -> None:
    # POST /v1/handoff takes a free-text reason from the customer. The case view rendered it (its caption, its
    # history and the question of the passages) as Markdown: the agent's browser fetched the customer's image and
    # showed their link.
    planted = "# URGENTE ![px](//evil.example/p.png) [verifica tu cuenta](//evil.example/login)"
    case = inprocess_backend.handoff(uuid.uuid4().hex, reason=planted, lang="es")["id"]
    console = open_page("agent")
    console.selectbox(key="queue_case").set_value(case).run()
    assert not console.exception, [e.value for e in console.exception]
    shown = [e.value for e in (*console.caption, *console.markdown)]
    assert [v for v in shown if "URGENTE" in v], shown
    assert not [v for v in shown if "](//evil" in v or v.startswith("#")], shown
    # A colleague (here an admin) resolves the case the agent holds and has open: it is resolved, held by nobody
    # (it said "is now resolved, held by Ana").
    console.button(key=f"claim-{case}").click().run()
    inprocess_backend.act(ADMIN, case, "resolve")
    console.run()
    notes = [n.value for n in (*console.warning, *console.info, *console.caption)]
    assert any(f"Case #{case[:8]} is now resolved" in n for n in notes), notes
    assert not any("held by" in n for n in notes), notes


@pytest.mark.slow
def test_a_reply_being_typed_when_a_colleague_closes_the_case_is_said_not_sent_and_kept(
    inprocess_env: Path, inprocess_backend: Any
) -> None:
    case = inprocess_backend.handoff(uuid.uuid4().hex, lang="es")["id"]
    console = open_page("agent")
    console.selectbox(key="queue_case").set_value(case).run()
    console.button(key=f"claim-{case}").click().run()
    console.text_area(key=f"reply-{case}").input("Hola, tu reembolso sale hoy.").run()
    # An admin resolves the case: the next run (the refresh, or the agent's click on Send) drew no reply box, and the
    # typed reply vanished without a word that it was not sent.
    inprocess_backend.act(ADMIN, case, "resolve")
    console.run()
    assert not console.exception, [e.value for e in console.exception]
    assert not [a for a in console.text_area if a.key == f"reply-{case}"]
    assert [w.value for w in console.warning if "reply in its box was not sent" in w.value]
    assert [c.value for c in console.code] == ["Hola, tu reembolso sale hoy."]


@pytest.mark.slow
def test_unsent_reply_text_survives_switching_cases(inprocess_env: Path, inprocess_backend: Any) -> None:
    first, second = (inprocess_backend.handoff(uuid.uuid4().hex, lang=lang)["id"] for lang in ("es", "en"))
    for case in (first, second):
        inprocess_backend.act(AGENT, case, "claim")
    console = open_page("agent")
    console.selectbox(key="queue_status").set_value("Mine").run()
    console.selectbox(key="queue_case").set_value(first).run()
    console.text_area(key=f"reply-{first}").input("Hola, estoy revisando tu pedido").run()
    # The agent looks at the other case, then comes back: the box had started again from the draft.
    console.selectbox(key="queue_case").set_value(second).run()
    assert console.text_area(key=f"reply-{second}").value.startswith("Hi, I'm Ana")
    console.selectbox(key="queue_case").set_value(first).run()
    assert not console.exception, [e.value for e in console.exception]
    assert console.text_area(key=f"reply-{first}").value == "Hola, estoy revisando tu pedido"
    console.button(key=f"send-{first}").click().run()
    # Sent: the box is empty, now and on the next visit; it started again from the draft already used (sent twice).
    assert console.text_area(key=f"reply-{first}").value == ""
    assert inprocess_backend.escalation(AGENT, first)["draft"]["sent"] is True
    assert not [b for b in console.button if b.key == f"reply-{first}-use"]  # the used draft is not offered either
    console.selectbox(key="queue_case").set_value(second).run()
    console.selectbox(key="queue_case").set_value(first).run()
    assert console.text_area(key=f"reply-{first}").value == ""
    for case in (first, second):
        inprocess_backend.act(AGENT, case, "resolve")


@pytest.mark.slow
def test_mine_and_the_open_queue_lose_no_case_behind_the_queue_limit(inprocess_env: Path, inprocess_backend: Any
                                                                     ) -> None:  # fmt: skip
    store = inprocess_backend.service.store
    own = inprocess_backend.handoff(uuid.uuid4().hex, lang="es")["id"]
    inprocess_backend.act(AGENT, own, "claim")
    waited = inprocess_backend.handoff(uuid.uuid4().hex, lang="en")["id"]  # the longest waiting of the open queue
    colleague = Staff(role="agent", name="Bruno", agent_id="user:bruno")
    theirs = [store.add_escalation(uuid.uuid4().hex, "es", "customer_request", [])["id"] for _ in range(101)]
    try:
        for case in theirs[:100]:  # a busy desk: more assigned cases, all newer, than the console lists
            store.claim(case, colleague.agent_id, colleague.name)
        console = open_page("agent")
        console.selectbox(key="queue_status").set_value("Mine").run()
        assert not console.exception, [e.value for e in console.exception]
        # "Mine" filtered the newest 100 assigned cases, all Bruno's: "No escalations match these filters."
        assert console.selectbox(key="queue_case").options[0].startswith(f"#{own[:8]}")
        console.selectbox(key="queue_status").set_value("Open").run()
        caption = next(c.value for c in console.caption if "escalation" in c.value)
        assert "longest waiting first" in caption, caption
        options = [o.split(" ")[0] for o in console.selectbox(key="queue_case").options]
        assert options.index(f"#{waited[:8]}") < options.index(f"#{theirs[100][:8]}"), options
    finally:
        for case in theirs[:100]:
            store.resolve(case, colleague.agent_id)
        for case in (*theirs[100:], waited):
            store.resolve(case, "tests")
        inprocess_backend.act(AGENT, own, "resolve")


def reload_console(case: str, staff: Staff | None = AGENT) -> AppTest:
    """A reload of the console's address, ``/agent?case=<case>``: a new browser session on the console, signed in as
    ``staff`` (``None``: at the sign-in form, as after a real reload)."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    if staff is not None:
        at.session_state["staff"] = staff
    at.query_params["case"] = case
    at.switch_page("views/agent.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def case_views(at: AppTest) -> list[str]:
    return [s.value for s in at.subheader if s.value.startswith("Case #")]


@pytest.mark.slow
def test_the_open_case_is_in_the_address_and_a_reload_reopens_it_after_sign_in(
    inprocess_env: Path, inprocess_backend: Any
) -> None:
    from api.keys import KeyStore

    keys = KeyStore(inprocess_env / "api" / "keys.sqlite")
    _, key = keys.create("agent", name="ui-reload")
    keys.close()
    first, second = (inprocess_backend.handoff(uuid.uuid4().hex, lang="es")["id"] for _ in range(2))
    console = open_page("agent")
    assert "case" not in console.query_params
    console.selectbox(key="queue_case").set_value(first).run()
    assert console.query_params["case"] == first  # like the chat's ?session=
    console.selectbox(key="queue_case").set_value(second).run()  # another case: the address follows
    assert console.query_params["case"] == second

    # A reload: a new browser session at the sign-in form. Signed in, the agent had to find the case again.
    reloaded = reload_console(second, staff=None)
    assert reloaded.title[0].value == "Staff sign-in" and reloaded.query_params["case"] == second
    reloaded.text_input(key="signin_key").set_value(key)
    reloaded.button[0].click().run()
    assert not reloaded.exception, [e.value for e in reloaded.exception]
    assert reloaded.selectbox(key="queue_case").value == second
    assert case_views(reloaded) == [f"Case #{second[:8]} · open"] and not reloaded.warning
    assert reloaded.query_params["case"] == second
    who = reloaded.session_state["staff"]
    reloaded.button(key=f"claim-{second}").click().run()
    again = reload_console(second, staff=who)  # claimed: it reopens under "Mine", where the agent had it
    assert again.selectbox(key="queue_status").value == "Mine" and again.selectbox(key="queue_case").value == second
    again.button(key=f"resolve-{second}").click().run()  # closed: the address names no case
    assert not again.exception and "case" not in again.query_params

    # What an address can name and the console cannot open: the normal queue, saying why, and a clean address.
    unknown, garbage = uuid.uuid4().hex, "x'><b>"
    for given, says in ((second, "is already resolved"), (unknown, "could not be opened"), (garbage, "not a case id")):
        other = reload_console(given)
        assert [w.value for w in other.warning if says in w.value], (given, [w.value for w in other.warning])
        assert other.selectbox(key="queue_status").value == "Open" and other.selectbox(key="queue_case").value is None
        assert not case_views(other) and "case" not in other.query_params
    other.selectbox(key="queue_case").set_value(first).run()  # the agent picks a case: the notice goes
    assert case_views(other) == [f"Case #{first[:8]} · open"] and not other.warning
    inprocess_backend.act(AGENT, first, "resolve")


def sign_in_with(at: AppTest, key: str) -> None:
    """Sign in at the staff sign-in form with an API key."""
    at.text_input(key="signin_key").set_value(key)
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]


@pytest.mark.slow
def test_signing_out_leaves_nothing_of_the_console_for_the_next_agent_and_the_chat_as_it_was(
    inprocess_env: Path, inprocess_backend: Any
) -> None:
    from api.keys import KeyStore

    keys = KeyStore(inprocess_env / "api" / "keys.sqlite")
    ana, bruno = (keys.create("agent", name=name)[1] for name in ("ui-desk-ana", "ui-desk-bruno"))
    keys.close()
    held, waiting = (inprocess_backend.handoff(uuid.uuid4().hex, lang="es")["id"] for _ in range(2))
    # One browser tab on a shared support-desk computer: the customer chat has a conversation in it.
    at = open_page()
    at.chat_input[0].set_value(SPANISH_QUESTION).run()
    session_id, messages = at.session_state["session_id"], list(at.session_state["messages"])
    at.switch_page("views/agent.py").run()
    assert at.title[0].value == "Staff sign-in"
    signed_out = set(at.session_state.keys())

    # Ana claims a case and types a reply she does not send, searches the knowledge base, then opens another case.
    sign_in_with(at, ana)
    at.selectbox(key="queue_case").set_value(held).run()
    at.button(key=f"claim-{held}").click().run()
    assert at.selectbox(key="queue_status").value == "Mine"
    # was "1 escalations"; and "newest first" until an agent's own cases came the customer waiting longest first
    assert any(c.value.startswith("1 escalation, longest waiting first.") for c in at.caption)
    at.text_area(key=f"reply-{held}").input("Hola, le escribe Ana: reviso su pedido").run()
    at.text_input(key="kb_query").set_value("reembolso").run()
    at.selectbox(key="queue_status").set_value("Open").run()
    at.selectbox(key="queue_case").set_value(waiting).run()
    assert case_views(at) == [f"Case #{waiting[:8]} · open"] and at.query_params["case"] == waiting
    at.button(key="sign_out").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Staff sign-in" and "case" not in at.query_params
    # Nothing the console kept is left (a key it adds and sign_out misses shows here), and the chat's state stays.
    left = set(at.session_state.keys()) - signed_out
    assert not left, left
    assert at.session_state["session_id"] == session_id and at.session_state["messages"] == messages

    # Bruno signs in next in the same tab: the console as after a fresh sign-in. It opened Ana's last case (under her
    # ?case=), and her unsent reply stayed in the session.
    sign_in_with(at, bruno)
    assert at.title[0].value == "Agent console"
    assert at.selectbox(key="queue_status").value == "Open" and at.selectbox(key="queue_case").value is None
    assert not case_views(at) and not at.warning and not at.success and "case" not in at.query_params
    assert at.text_input(key="kb_query").value == "" and not at.text_area
    assert not [k for k in at.session_state if k == "unsent_replies" or k.startswith("reply-")]
    # The customer's conversation is still in the tab's chat page.
    at.switch_page("views/chat.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["session_id"] == session_id and at.query_params["session"] == session_id
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    assert at.chat_message[0].markdown[0].value == state.literal(SPANISH_QUESTION)
    inprocess_backend.act(ADMIN, held, "resolve")
    inprocess_backend.act(AGENT, waiting, "resolve")


# --- evaluation page ---------------------------------------------------------------------------------------------


def test_evaluation_page_without_a_run_says_how_to_make_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SUPPORTBOT_HOME", str(tmp_path))
    monkeypatch.delenv("SUPPORTBOT_EVAL_DIR", raising=False)
    at = open_page("evaluation")
    assert "No evaluation yet" in at.info[0].value
    assert "supportbot eval compare" in at.code[0].value


def test_evaluation_page_shows_the_latest_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = tmp_path / "runs" / "eval-2025"
    (run / "plots").mkdir(parents=True)
    metrics = {"kpis": {"answer_accuracy": {m: {"es": {"value": v, "low": v - 0.1, "high": v + 0.1, "n": 30}}
                                            for m, v in (("rag", 0.8), ("hybrid", 0.7))}}}  # fmt: skip
    (run / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    (run / "report.md").write_text("# Mode comparison\n\nrag wins on accuracy.\n", encoding="utf-8")
    figure, axis = plt.subplots()
    axis.bar(["rag", "hybrid"], [0.8, 0.7])
    figure.savefig(run / "plots" / "accuracy.png")
    plt.close(figure)
    monkeypatch.setenv("SUPPORTBOT_HOME", str(tmp_path))
    at = open_page("evaluation")
    frame = at.dataframe[0].value
    assert list(frame.columns) == ["", "rag / es", "hybrid / es"]
    assert frame.iloc[0].tolist() == ["answer_accuracy", "0.800 [0.700, 0.900]", "0.700 [0.600, 0.800]"]
    assert len(at.image) == 1
    assert any("rag wins on accuracy" in m.value for m in at.markdown)


# --- service down ------------------------------------------------------------------------------------------------


def test_pages_say_clearly_when_the_api_is_down(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SUPPORTBOT_HOME", str(tmp_path))
    monkeypatch.setenv("SUPPORTBOT_API_URL", f"http://127.0.0.1:{free_port()}")
    at = open_page()
    assert "connection to the support service is lost: retrying" in at.error[0].value
    assert at.chat_input[0].disabled
    assert at.button(key="ask_person").disabled  # no handoff to a service that is down

    console = open_page("agent")
    assert console.error and "unavailable" in console.error[0].value


def test_the_spanish_page_has_no_english_label(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from ui.i18n import STRINGS

    monkeypatch.setenv("SUPPORTBOT_HOME", str(tmp_path))
    monkeypatch.setenv("SUPPORTBOT_API_URL", f"http://127.0.0.1:{free_port()}")  # down: its message and details too
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.context = {"locale": "es-ES"}  # a Spanish browser: the page is Spanish before the customer writes
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    [selector] = at.sidebar.selectbox
    shown = [at.title[0].value, *(c.value for c in at.caption), *(e.value for e in at.error), selector.label,
             *(e.label for e in at.expander), *(b.label for b in at.button), at.chat_input[0].placeholder]  # fmt: skip
    english = {text.split("{")[0] for text in (value["en"] for value in STRINGS.values())} - {""}
    assert not [text for text in shown if any(text.startswith(e) for e in english)], shown
    assert [e.label for e in at.expander] == ["Detalles técnicos"]  # was "Details"
    assert selector.options == ["Automático", "Español", "English"]  # was "Auto"; languages by their own names
    assert at.title[0].value == "Asistente de soporte" and selector.label == "Idioma"
    pages = {page["page_name"] for page in at._registered_pages.values()}  # the navigation a visitor sees
    assert pages == {"Chat de atención al cliente", "Acceso del personal"}, pages


def _use_api(monkeypatch: pytest.MonkeyPatch, api_server: ApiServer, key_name: str) -> None:
    """The pages talk to ``api_server`` with a customer key of their own."""
    monkeypatch.setenv("SUPPORTBOT_HOME", str(HOME))
    monkeypatch.setenv("SUPPORTBOT_API_URL", api_server.url)
    monkeypatch.setenv("SUPPORTBOT_API_KEY", customer_key(key_name))


@pytest.mark.slow
def test_the_chat_says_it_lost_the_api_keeps_the_conversation_and_comes_back(
    monkeypatch: pytest.MonkeyPatch, api_server: ApiServer
) -> None:
    _use_api(monkeypatch, api_server, "ui-outage")
    at = open_page()
    at.chat_input[0].set_value(SPANISH_QUESTION).run()
    [answer] = assistant_texts(at)
    api_server.stop()
    try:
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert [e.value for e in at.error] == [t("connection_lost", "es")]  # "se ha perdido la conexión: reintentando"
        assert at.chat_input[0].disabled and assistant_texts(at) == [answer]  # the conversation stays
    finally:
        api_server.start()
    at.run()  # what the page's retry does by itself every few seconds in a browser (test_browser)
    assert not at.error and not at.chat_input[0].disabled and assistant_texts(at) == [answer]


def test_the_console_keeps_the_open_case_and_the_typing_through_an_api_outage(
    monkeypatch: pytest.MonkeyPatch, api_server: ApiServer
) -> None:
    import httpx

    from ui.state import cached_backend

    _use_api(monkeypatch, api_server, "ui-console-outage")
    customer = httpx.Client(base_url=api_server.url, headers={"X-API-Key": customer_key("ui-console-outage")},
                            timeout=120)  # fmt: skip
    case = customer.post("/v1/handoff", json={"session_id": uuid.uuid4().hex, "lang": "es"}).raise_for_status()
    case_id = case.json()["id"]
    agent = cached_backend(state.config()).sign_in(api_key=api_server.agent_key)
    console = open_page("agent", staff=agent)
    console.selectbox(key="queue_case").set_value(case_id).run()
    console.button(key=f"claim-{case_id}").click().run()
    console.text_area(key=f"reply-{case_id}").input("Un momento, lo compruebo").run()
    api_server.stop()
    try:
        console.run()  # what the console's watch does by itself every 3 s in a browser
        assert not console.exception, [e.value for e in console.exception]
        assert any("unavailable" in e.value for e in console.error), [e.value for e in console.error]
    finally:
        api_server.start()
    console.run()
    # Back: the case was closed (its picker was not drawn while the service was down) and the agent had to find it.
    assert console.selectbox(key="queue_case").value == case_id
    assert console.text_area(key=f"reply-{case_id}").value == "Un momento, lo compruebo"
    agent_api = httpx.Client(base_url=api_server.url, headers={"X-API-Key": api_server.agent_key}, timeout=60)
    agent_api.post(f"/v1/escalations/{case_id}/resolve", json={}).raise_for_status()


def test_a_console_whose_sign_in_was_revoked_asks_for_a_sign_in_again(
    monkeypatch: pytest.MonkeyPatch, api_server: ApiServer
) -> None:
    import httpx

    from api.keys import KeyStore
    from ui.state import cached_backend

    _use_api(monkeypatch, api_server, "ui-console-revoked")
    keys = KeyStore(HOME / "api" / "keys.sqlite")
    keys.set_user("revoked-ana", "una clave de prueba", "agent")
    keys.close()
    agent = cached_backend(state.config()).sign_in(username="revoked-ana", password="una clave de prueba")
    console = open_page("agent", staff=agent)
    assert [t.value for t in console.title] == ["Agent console"]
    # The agent signs out in another tab (or an admin revokes the key): this tab's key is no longer valid. The console
    # said "The service refused the request: HTTP 401: invalid or revoked API key" in every tab, still signed in.
    httpx.post(f"{api_server.url}/v1/auth/signout", headers={"X-API-Key": str(agent.key)}).raise_for_status()
    console.run()  # what the console's watch does by itself every 3 s in a browser
    assert not console.exception, [e.value for e in console.exception]
    assert [t.value for t in console.title] == ["Staff sign-in"]
    assert [w.value for w in console.warning if "sign in again" in w.value], [w.value for w in console.warning]
    assert "staff" not in console.session_state and not [e.value for e in console.error if "401" in e.value]


# --- human hand-off ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_agent_takes_over_and_the_customer_sees_it_then_the_bot_returns(inprocess_env: Path) -> None:
    from graph.store import SupportStore

    customer = open_page()
    customer.chat_input[0].set_value("Mi pedido llegó roto. Quiero hablar con una persona.").run()
    session_id = customer.session_state["session_id"]
    assert any("cola de nuestro equipo" in i.value for i in customer.info)
    escalation_id = SupportStore(inprocess_env / "support.sqlite").active_escalation(session_id)["id"]

    console = open_page("agent")
    console.selectbox(key="queue_case").set_value(escalation_id).run()
    colleague = open_page("agent", staff=Staff(role="agent", name="Bruno", agent_id="user:bruno"))
    colleague.selectbox(key="queue_case").set_value(escalation_id).run()  # both have the open case in view
    console.button(key=f"claim-{escalation_id}").click().run()
    colleague.run()  # Ana claimed it: Bruno's view keeps the case and says so, no other case slips under his click
    assert colleague.selectbox(key="queue_case").value == escalation_id
    assert any("held by Ana" in w.value for w in colleague.warning), [w.value for w in colleague.warning]
    assert not [b for b in colleague.button if b.key == f"claim-{escalation_id}"]
    assert not console.exception, [e.value for e in console.exception]
    assert console.selectbox(key="queue_status").value == "Mine"
    draft = console.text_area[0].value
    assert draft.startswith("Hola, soy Ana") and detect_language(draft) == "es", draft
    console.text_area[0].set_value(draft + " ¿Me das el número de pedido?").run()
    # The customer writes while the agent types: a new draft is made, and must not replace the typed reply (it did,
    # and Send sent the draft). Customer text is shown as typed: no heading, no link.
    customer.run()  # the page's poll sees the agent has the conversation: the message goes to them
    customer.chat_input[0].set_value("# AVISO [entra aquí](//evil.example/login) ¿sigues ahí?").run()
    console.run()
    assert console.text_area[0].value.endswith("¿Me das el número de pedido?")
    shown = " ".join(m.markdown[0].value for m in console.chat_message if m.markdown)
    assert "\\# AVISO \\[entra aquí\\]\\(//evil\\.example/login\\)" in shown, shown
    console.button(key=f"send-{escalation_id}").click().run()
    assert not console.exception, [e.value for e in console.exception]
    assert console.text_area[0].value != draft + " ¿Me das el número de pedido?"  # sent: the box starts again
    assert not [w.value for w in console.warning if "Sent, but" in w.value]  # Spanish to a Spanish customer

    customer.run()  # the page's poll picks the agent's message up
    agent_messages = [m.markdown[0].value for m in customer.chat_message if m.name == "agent"]
    assert len(agent_messages) == 1 and agent_messages[0].endswith("¿Me das el número de pedido?")
    assert any("Una persona (Ana) está atendiendo" in i.value for i in customer.info)
    answers = len(assistant_texts(customer))
    customer.chat_input[0].set_value("Es el pedido 12345, gracias").run()
    assert len(assistant_texts(customer)) == answers  # no bot answer while the agent has the conversation
    assert any("Enviado a Ana" in i.value for i in customer.info)

    console.run()
    assert "Es el pedido 12345" in " ".join(m.markdown[0].value for m in console.chat_message)
    # an English reply to a Spanish customer goes out (an agent may switch on purpose), and the agent is told
    console.text_area[0].set_value("Thanks, I have checked your order and a replacement is on its way today.").run()
    console.button(key=f"send-{escalation_id}").click().run()
    notices = [w.value for w in console.warning if "Sent, but" in w.value]
    assert notices and "reads as English" in notices[0] and "writes in Spanish" in notices[0], notices
    console.button(key=f"resolve-{escalation_id}").click().run()
    assert SupportStore(inprocess_env / "support.sqlite").escalation(escalation_id)["status"] == "resolved"
    customer.run()
    assert any(i.value == t("back_to_bot", "es") for i in customer.info)  # "...asistente virtual, que vuelve..."
    customer.chat_input[0].set_value(SPANISH_QUESTION).run()
    assert len(assistant_texts(customer)) == answers + 1


@pytest.mark.slow
def test_each_hand_off_shows_only_the_current_state_and_is_followed_like_the_first(
    inprocess_env: Path, inprocess_backend: Any
) -> None:
    customer = open_page()
    customer.chat_input[0].set_value(SPANISH_QUESTION).run()
    cases = []
    for attempt in (1, 2, 3):  # the button, the button again, then asking in the chat
        if attempt < 3:
            customer.button(key="ask_person").click().run()
        else:
            customer.chat_input[0].set_value("Quiero hablar con una persona, por favor.").run()
        assert not customer.exception, [e.value for e in customer.exception]
        assert banner(customer.info) == [t("waiting", "es")]  # followed: the second too (it was not)
        case = inprocess_backend.service.store.active_escalation(customer.session_state["session_id"])["id"]
        assert case not in cases
        cases.append(case)
        quoted = [s.value for s in customer.success]
        assert quoted == ([t("handoff_done", "es", id=case[:8])] if attempt < 3 else []), quoted  # this case only

        inprocess_backend.act(AGENT, case, "claim")
        inprocess_backend.act(AGENT, case, "messages", text=f"Hola, soy Ana. Mensaje {attempt}.")
        customer.run()  # the page's poll
        assert [m.markdown[0].value for m in customer.chat_message if m.name == "agent"][-1].endswith(f"{attempt}.")
        assert banner(customer.info) == [t("with_agent", "es", agent="Ana")] and not customer.success

        inprocess_backend.act(AGENT, case, "resolve")
        customer.run()
        back = [i.value for i in customer.info if i.value == t("back_to_bot", "es")]
        assert len(back) == attempt
        assert not banner(customer.info) and not customer.success  # no "queued" banner above "the assistant is back"


@pytest.mark.slow
def test_a_reload_resumes_the_conversation_and_its_hand_off_from_the_address(
    inprocess_env: Path, inprocess_backend: Any
) -> None:
    customer = open_page()
    customer.chat_input[0].set_value(SPANISH_QUESTION).run()
    session_id = customer.session_state["session_id"]
    assert customer.query_params["session"] == session_id  # the address names the conversation
    [answer] = assistant_texts(customer)
    customer.button(key="ask_person").click().run()
    case = inprocess_backend.service.store.active_escalation(session_id)["id"]
    inprocess_backend.act(AGENT, case, "claim")
    inprocess_backend.act(AGENT, case, "messages", text="Hola, soy Ana. ¿En qué te ayudo?")

    # A reload: a new browser session on the same address (an English browser: the labels follow the conversation).
    reloaded = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    reloaded.context = {"locale": "en-US"}
    reloaded.query_params["session"] = session_id
    reloaded.run()
    assert not reloaded.exception, [e.value for e in reloaded.exception]
    assert reloaded.session_state["session_id"] == session_id  # it started a new conversation before
    assert [m.name for m in reloaded.chat_message] == ["user", "assistant", "agent"]
    assert reloaded.chat_message[0].markdown[0].value == state.literal(SPANISH_QUESTION)
    assert assistant_texts(reloaded) == [answer]
    assert [i.value for i in reloaded.info] == [t("with_agent", "es", agent="Ana")]  # the hand-off goes on
    assert reloaded.button(key="ask_person").disabled
    inprocess_backend.act(AGENT, case, "messages", text="Sigo aquí.")
    reloaded.run()  # the page's poll: followed as before the reload, each agent message once
    assert [m.markdown[0].value for m in reloaded.chat_message if m.name == "agent"] == [
        "Hola, soy Ana. ¿En qué te ayudo?", "Sigo aquí."]  # fmt: skip
    reloaded.chat_input[0].set_value("Gracias").run()
    assert any(i.value == t("sent_to_agent", "es", agent="Ana") for i in reloaded.info)
    inprocess_backend.act(AGENT, case, "resolve")

    # An address the service does not know (or a malformed one) starts a new conversation under a new id.
    for given in (uuid.uuid4().hex, "not-an-id"):
        other = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        other.query_params["session"] = given
        other.run()
        assert not other.exception, [e.value for e in other.exception]
        assert other.session_state["session_id"] != given and not other.chat_message
        assert other.query_params["session"] == other.session_state["session_id"]


@pytest.mark.slow
def test_a_reload_keeps_the_language_the_customer_asked_for(inprocess_env: Path) -> None:
    """An English customer asked "Can you answer in Spanish please?" and read Spanish answers under Spanish labels;
    a reload drew the page in English (the labels followed the language of what the customer wrote), while the bot
    went on answering in Spanish (a bilingual QA pass in Chromium, 2026-12-08)."""
    customer = open_page()
    customer.context = {"locale": "en-US"}
    customer.chat_input[0].set_value("How long does standard shipping take?").run()
    customer.chat_input[0].set_value("Can you answer in Spanish please?").run()
    assert not customer.exception, [e.value for e in customer.exception]
    assert detect_language(assistant_texts(customer)[-1]) == "es"
    assert customer.title[0].value == "Asistente de soporte"

    reloaded = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    reloaded.context = {"locale": "en-US"}
    reloaded.query_params["session"] = customer.session_state["session_id"]
    reloaded.run()
    assert not reloaded.exception, [e.value for e in reloaded.exception]
    assert len(assistant_texts(reloaded)) == 2
    assert reloaded.title[0].value == "Asistente de soporte"  # it said "Support assistant"
    assert reloaded.chat_input[0].placeholder == t("placeholder", "es")
    reloaded.chat_input[0].set_value("How do I track my order?").run()  # still answered in Spanish, labels too
    assert detect_language(assistant_texts(reloaded)[-1]) == "es"
    assert reloaded.title[0].value == "Asistente de soporte"


# --- sign-in -----------------------------------------------------------------------------------------------------


def test_staff_pages_need_a_sign_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from api.keys import KeyStore

    monkeypatch.setenv("SUPPORTBOT_HOME", str(tmp_path))  # sign-in needs only the key database, no index
    for name in ("SUPPORTBOT_API_URL", "SUPPORTBOT_API_KEY", "SUPPORTBOT_AGENT_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    keys = KeyStore(tmp_path / "api" / "keys.sqlite")
    _, customer_key = keys.create("customer", "ui-customer")
    _, agent_key = keys.create("agent", "ui-agent")
    keys.set_user("lola", "una clave larga", "admin")
    keys.close()
    at = open_page("agent", staff=None)  # signed out, /agent is the sign-in page
    assert at.title[0].value == "Staff sign-in" and not at.tabs
    at.text_input(key="signin_key").set_value(customer_key)
    at.button[0].click().run()
    assert "customer role" in at.error[0].value and "staff" not in at.session_state
    at.text_input(key="signin_key").set_value("")
    at.text_input(key="signin_user").set_value("lola")
    at.text_input(key="signin_password").set_value("wrong")
    at.button[0].click().run()
    assert "wrong user name or password" in at.error[0].value
    at.text_input(key="signin_password").set_value("una clave larga")
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["staff"].role == "admin" and at.session_state["staff"].name == "lola"
    assert at.title[0].value == "Agent console"
    other = open_page("agent", staff=None)
    other.text_input(key="signin_key").set_value(agent_key)
    other.button[0].click().run()
    assert other.session_state["staff"].agent_id != "" and other.title[0].value == "Agent console"
