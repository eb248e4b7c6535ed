"""What a keyboard or screen-reader customer meets in the chat, beyond what the eye sees: names of controls in the
page's language and status notes a screen reader announces. AppTest runs on a page whose API is down (fast: no
agent loads); the conversation and its notes stay shown then, as they are drawn when it is up."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.ui.conftest import APP, HOME, SPANISH_QUESTION, ApiServer, customer_key, free_port
from ui.i18n import t
from ui.protocol import Staff

TIMEOUT = 60
SESSION = "0123456789abcdef0123456789abcdef"


def spanish_page(monkeypatch: pytest.MonkeyPatch, home: Path, **session: object) -> AppTest:
    """The chat in a Spanish browser, its API down, with ``session`` in its session state; run once."""
    monkeypatch.setenv("SUPPORTBOT_HOME", str(home))
    monkeypatch.setenv("SUPPORTBOT_API_URL", f"http://127.0.0.1:{free_port()}")
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.context = {"locale": "es-ES"}
    for key, value in session.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_spanish_page_names_no_control_in_english(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The title's anchor is a link a keyboard user tabs to and a screen reader reads as "Link to heading" (Streamlit's
    English, on a Spanish page); the language selector's input carried Streamlit's placeholder "Choose an option"."""
    at = spanish_page(monkeypatch, tmp_path)
    [title] = at.title
    assert title.value == "Asistente de soporte"
    assert title.proto.hide_anchor, "the title has a 'Link to heading' anchor"
    [selector] = at.sidebar.selectbox
    assert selector.proto.placeholder == t("choose", "es"), selector.proto.placeholder


def test_the_chats_status_notes_are_announced_and_readable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """ "Enviado a Ana", "the assistant is answering you again", "message not sent" and the thanks for a rating were
    captions: no live region (a screen reader says nothing when they appear) and Streamlit's caption grey, 3.9:1 on
    white (WCAG AA asks 4.5:1 for this size). Drawn as info / success (role="status") and inside the error (role=
    "alert"), they are announced and drawn in full contrast."""
    messages = [
        {"role": "user", "content": "Quiero hablar con una persona"},
        {"role": "notice", "key": "sent_to_agent", "values": {"agent": "Ana"}},
        {"role": "notice", "key": "back_to_bot", "values": {}},
        {"role": "user", "content": "¿Cuánto tarda el envío?"},
        {"role": "assistant", "content": "De 3 a 5 días.", "lang": "es", "route": "rag", "sources": [],
         "session_id": SESSION, "turn": 0},
    ]  # fmt: skip
    unsent = {"text": "¿Y a Canarias?", "error": t("service_down", "es"), "key": "k"}
    at = spanish_page(monkeypatch, tmp_path, session_id=SESSION, messages=messages, unsent=unsent,
                      **{f"feedback-{SESSION}-0-sent": True})  # fmt: skip
    captions = [c.value for c in at.caption]
    statuses = [e.value for e in (*at.info, *at.success)]
    for note in (t("sent_to_agent", "es", agent="Ana"), t("back_to_bot", "es"), t("feedback_thanks", "es")):
        assert note in statuses and note not in captions, (note, statuses, captions)
    assert t("not_sent", "es") not in captions
    assert any(t("not_sent", "es") in e.value and t("service_down", "es") in e.value for e in at.error), [
        e.value for e in at.error
    ]


def test_a_sources_language_is_named_in_words(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each source ended "· es" (or "· en"): a Spanish screen reader reads the code as the verb "es" ("Seguir mi
    pedido es"), an English one as the letters or "en"; a sighted customer has to know the codes."""
    url = "https://nimbus.example/es/ayuda/track-order"
    source = {"doc_id": "track-order-es", "title": "Seguir mi pedido", "lang": "es", "citation": 1, "url": url,
              "text": "Te enviamos un email con el enlace."}  # fmt: skip
    messages = [
        {"role": "user", "content": "¿Dónde está mi pedido?"},
        {"role": "assistant", "content": "Te enviamos un email con el enlace. [1]", "lang": "es", "route": "rag",
         "sources": [source], "session_id": SESSION, "turn": 0},
    ]  # fmt: skip
    at = spanish_page(monkeypatch, tmp_path, session_id=SESSION, messages=messages)
    [sources] = [e for e in at.expander if e.label == "Fuentes (1)"]
    [line] = [m.value for m in sources.markdown if m.value.startswith("[1]")]
    assert line.endswith("· español"), line
    at.sidebar.selectbox(key="lang_choice").set_value("English").run()
    [sources] = [e for e in at.expander if e.label == "Sources (1)"]
    [line] = [m.value for m in sources.markdown if m.value.startswith("[1]")]
    assert line.endswith("· Spanish"), line


def test_the_staff_pages_headings_are_no_tab_stops(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every Streamlit heading carried an anchor link, a tab stop read "Link to heading": a keyboard agent tabbed
    through one on the sign-in page, on the console's title and on each case and article heading, all with the same
    name that says nothing of where it goes (WCAG 2.4.4)."""
    monkeypatch.setenv("SUPPORTBOT_HOME", str(tmp_path))
    monkeypatch.setenv("SUPPORTBOT_API_URL", f"http://127.0.0.1:{free_port()}")
    signin = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    signin.run()
    signin.switch_page("views/agent.py").run()
    assert [h.value for h in signin.title] == ["Staff sign-in"]
    assert all(h.proto.hide_anchor for h in signin.title)
    console = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    console.session_state["staff"] = Staff(role="agent", name="Ana", agent_id="user:ana")
    console.run()
    console.switch_page("views/agent.py").run()
    assert not console.exception, [e.value for e in console.exception]
    assert [h.value for h in console.title] == ["Agent console"]
    assert all(h.proto.hide_anchor for h in console.title)


@pytest.mark.slow
def test_a_refused_ui_key_is_said_in_the_customers_language(
    monkeypatch: pytest.MonkeyPatch, api_server: ApiServer
) -> None:
    """The UI's customer key revoked (or expired) on the API: a Spanish customer's message came back "No hemos podido
    procesar tu mensaje: invalid or revoked API key", the API's English about a key the customer never saw and can do
    nothing about. It is the service being unavailable to them, said in their language."""
    from api.keys import KeyStore

    key = customer_key("ui-revoked")
    keys = KeyStore(HOME / "api" / "keys.sqlite")
    keys.revoke(key.split("_")[1])
    keys.close()
    monkeypatch.setenv("SUPPORTBOT_HOME", str(HOME))
    monkeypatch.setenv("SUPPORTBOT_API_URL", api_server.url)
    monkeypatch.setenv("SUPPORTBOT_API_KEY", key)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.context = {"locale": "es-ES"}
    at.run()
    at.chat_input[0].set_value(SPANISH_QUESTION).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == [f"{t('not_sent', 'es')} {t('service_down', 'es')}"]
