"""What the pages draw from text they do not control: an agent's reply, a bot answer, a knowledge-base article. They
keep its Markdown (lists, bold, links) but draw no image from it: a browser fetches an image's address as soon as the
message is drawn, which tells a third party who reads the conversation and when, and lets a language model that a
planted article or a customer steered put conversation data in the address (docs/ui.md, "Security")."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests.ui.conftest import APP, SPANISH_QUESTION
from tests.ui.test_pages import AGENT, TIMEOUT, open_page
from ui.state import without_images

# A Markdown image not escaped: "![" with no backslash before it (or an even run of them).
IMAGE = re.compile(r"(?<!\\)(?:\\\\)*!\[")
PLANTED = "Mira esto ![px](//evil.example/p.png) y [aquí](//evil.example/login)."


def test_without_images_keeps_the_text_and_draws_no_image() -> None:
    assert without_images("Hola. **Pasos**: [ver](https://nimbus.example/help)") == (
        "Hola. **Pasos**: [ver](https://nimbus.example/help)"
    )
    for text in ("![a](//x/p.png)", "a ![b][r]\n\n[r]: //x/p.png", "\\\\![a](//x/p.png)", "ok!\n![a](//x)"):
        assert not IMAGE.search(without_images(text)), text
    assert without_images("\\![a](b)") == "\\![a](b)"  # already escaped: left as it is
    # A streamed piece that ends with "!" may begin an image with the next piece: escaped, it still reads "!".
    pieces = ["¡Listo!", "[a](//x/p.png) y más"]
    assert not IMAGE.search("".join(without_images(p) for p in pieces))
    assert without_images("¡Listo!") == "¡Listo\\!"


def _drawn(at: AppTest) -> list[str]:
    return [e.value for e in (*at.markdown, *at.caption)]


@pytest.mark.slow
def test_an_agents_reply_draws_no_image_in_the_chat_or_the_console(inprocess_env: Path, inprocess_backend: Any) -> None:
    # An agent's reply keeps a protocol-relative address ("//host/p.png": the PII rail replaces only addresses with
    # a scheme), and the customer's page and the console drew it as an image.
    session = uuid.uuid4().hex
    inprocess_backend.service.chat(SPANISH_QUESTION, session_id=session)
    case = inprocess_backend.handoff(session, lang="es")["id"]
    inprocess_backend.act(AGENT, case, "claim")
    sent = inprocess_backend.act(AGENT, case, "messages", text=PLANTED)
    assert "//evil.example/p.png" in sent["content"]

    customer = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    customer.query_params["session"] = session
    customer.run()
    assert not customer.exception, [e.value for e in customer.exception]
    [reply] = [m.markdown[0].value for m in customer.chat_message if m.name == "agent"]
    assert "Mira esto" in reply and "[aquí](//evil.example/login)" in reply  # the text and its link stay
    assert not [v for v in _drawn(customer) if IMAGE.search(v)], _drawn(customer)

    console = open_page("agent")
    console.selectbox(key="queue_status").set_value("Mine").run()  # the agent holds the case
    console.selectbox(key="queue_case").set_value(case).run()
    assert not console.exception, [e.value for e in console.exception]
    shown = [m.markdown[0].value for m in console.chat_message if m.name == "agent"]
    assert shown and all("Mira esto" in v for v in shown), shown
    assert not [v for v in _drawn(console) if IMAGE.search(v)], _drawn(console)
    inprocess_backend.act(AGENT, case, "resolve")


def test_the_ui_server_shows_visitors_no_traceback() -> None:
    # Streamlit's default ("full") drew an uncaught exception's message and traceback in the visitor's browser: a
    # crafted 40,000-character message to the in-process chat showed server paths and code (checked in Chromium).
    from supportbot.cli._demo import streamlit_command

    command = streamlit_command("127.0.0.1", 8501)
    assert command[command.index("--client.showErrorDetails") + 1] == "none"


@pytest.mark.slow
def test_the_queue_table_shows_a_customers_words_as_typed(inprocess_env: Path, inprocess_backend: Any) -> None:
    # The queue and the knowledge gaps are st.table (a screen reader reads it as a table; st.dataframe's canvas grid
    # it did not), whose cells Streamlit draws as Markdown: a hand-off reason (customer text, POST /v1/handoff) drew
    # an image the agent's browser fetched, and a link.
    from ui.state import literal

    case = inprocess_backend.handoff(uuid.uuid4().hex, reason=PLANTED, lang="es")["id"]
    console = open_page("agent")
    assert not console.exception, [e.value for e in console.exception]
    [queue] = [d for d in console.table if "customer asks" in d.value.columns]
    row = queue.value[queue.value["case"] == case[:8]]
    assert row["customer asks"].tolist() == [literal(PLANTED)] and row["reason"].tolist() == [literal(PLANTED)], row
    inprocess_backend.act(AGENT, case, "resolve")
