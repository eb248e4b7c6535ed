"""The customer chat on the API shares one customer key among all its visitors, and the API rate-limits per key:
over the limit the page says so in its own language and keeps the message, and a customer waiting for a person
costs the key no request per poll (the page follows the conversation's event stream)."""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from tests.ui.conftest import APP, HOME, SPANISH_QUESTION, ApiServer, customer_key
from ui import state
from ui.i18n import STRINGS, t

TIMEOUT = 120
LIMIT = 20  # requests per minute per key: one token every 3 s


class Limited:
    """The API on its own port with a low rate limit, counting each key's requests (rate-limit tokens asked)."""

    def __init__(self, server: ApiServer, runtime: Any) -> None:
        self.server, self.asked = server, Counter[str]()
        limiter = runtime.limiter
        take = limiter.acquire

        def counted(key_id: str) -> float:
            self.asked[key_id] += 1
            return float(take(key_id))

        limiter.acquire = counted

    def drain(self, key: str) -> int:
        """Spend ``key``'s whole budget; returns the Retry-After of the first refusal."""
        with httpx.Client(base_url=self.server.url, headers={"X-API-Key": key}, timeout=30) as client:
            for _ in range(LIMIT + 5):
                response = client.get(f"/v1/sessions/{uuid.uuid4().hex}")
                if response.status_code == 429:
                    return int(response.headers["retry-after"])
        raise AssertionError("the key was never refused")


@pytest.fixture
def limited(bundled_index: Path, inprocess_backend: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Limited]:
    from api.app import create_app
    from api.config import ApiConfig
    from api.keys import KeyStore

    config = ApiConfig(home=HOME, index_dir=bundled_index, rate_limit_per_minute=LIMIT)
    keys = KeyStore(config.keys_db)
    _, agent_key = keys.create("agent", name="ui-shared-key")
    keys.close()
    app = create_app(config, service=inprocess_backend.service)
    server = ApiServer(app, agent_key)
    server.start()
    monkeypatch.setenv("SUPPORTBOT_HOME", str(HOME))
    monkeypatch.setenv("SUPPORTBOT_API_URL", server.url)
    monkeypatch.setenv("SUPPORTBOT_API_KEY", customer_key(f"ui-shared-{uuid.uuid4().hex[:6]}"))
    try:
        yield Limited(server, app.state.runtime)
    finally:
        state.cached_backend(state.config()).close()  # type: ignore[attr-defined]  # the event streams, then the API
        server.stop()


def spanish_page() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.context = {"locale": "es-ES"}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def customer_key_id() -> str:
    """The id of the UI's key (``sb_<id>_<secret>``, the id in hex): the one the API counts its requests under."""
    return os.environ["SUPPORTBOT_API_KEY"].split("_")[1]


@pytest.mark.slow
def test_over_the_rate_limit_the_page_says_so_in_spanish_and_the_message_can_be_sent_again(limited: Limited) -> None:
    at = spanish_page()
    wait = limited.drain(os.environ["SUPPORTBOT_API_KEY"])  # the other visitors spent the shared key's minute
    at.chat_input[0].set_value(SPANISH_QUESTION).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    # It said "No hemos podido procesar tu mensaje: rate limit of 20 requests per minute exceeded for this key".
    not_sent = t("not_sent", "es") + " "  # said in the same alert as why (a screen reader announces both)
    assert len(errors) == 1 and errors[0].startswith(not_sent), errors
    assert errors[0][len(not_sent) :] in {t("busy", "es", seconds=n) for n in range(1, wait + 1)}, errors
    english = {text.split("{")[0] for text in (value["en"] for value in STRINGS.values())} - {""}
    shown = [*errors, *(c.value for c in at.caption), *(b.label for b in at.button)]
    assert not [text for text in shown if any(text.startswith(e) for e in english)], shown
    # The message is kept (it was dropped): shown as not sent, with a button to send it again.
    [user] = [m for m in at.chat_message if m.name == "user"]
    assert user.markdown[0].value == state.literal(SPANISH_QUESTION)
    assert [e.value for e in user.error] == errors  # under the message
    assert not [m for m in at.chat_message if m.name == "assistant"]

    time.sleep(wait + 0.5)
    at.button(key="resend").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [m.markdown[0].value for m in at.chat_message if m.name == "user"] == [state.literal(SPANISH_QUESTION)]
    assert len([m for m in at.chat_message if m.name == "assistant"]) == 1
    assert not [b for b in at.button if b.key == "resend"] and "unsent" not in at.session_state


@pytest.mark.slow
def test_waiting_for_a_person_costs_the_shared_key_no_request_per_poll(limited: Limited) -> None:
    at = spanish_page()
    at.button(key="ask_person").click().run()
    assert [i.value for i in at.info] == [t("waiting", "es")]
    session_id = at.session_state["session_id"]
    key_id = customer_key_id()
    before = limited.asked[key_id]
    for _ in range(10):  # ten of the fragment's 2 s runs (each AppTest run draws the whole page, the fragment too)
        at.run()
        time.sleep(0.2)
    # It asked GET /v1/sessions/{id} every run (10 requests, 30 a minute per waiting customer); now: the event
    # stream, and one read for the first event.
    assert limited.asked[key_id] - before <= 3, limited.asked[key_id] - before

    agent = httpx.Client(base_url=limited.server.url, headers={"X-API-Key": limited.server.agent_key}, timeout=60)
    case = at.session_state["handoff"]["id"]
    agent.post(f"/v1/escalations/{case}/claim").raise_for_status()
    agent.post(f"/v1/escalations/{case}/messages", json={"text": "Hola. ¿En qué te puedo ayudar?"}).raise_for_status()
    deadline = time.monotonic() + 10
    while not [m for m in at.chat_message if m.name == "agent"]:  # the customer sees the reply within seconds
        assert time.monotonic() < deadline, "the agent's reply did not come"
        time.sleep(0.5)
        at.run()
    assert at.chat_message[-1].markdown[0].value == "Hola. ¿En qué te puedo ayudar?"
    assert [i.value for i in at.info] == [t("with_agent", "es", agent="ui-shared-key")]

    # Over the limit: the page waits the Retry-After instead of asking every run, then catches up.
    wait = limited.drain(os.environ["SUPPORTBOT_API_KEY"])
    agent.post(f"/v1/escalations/{case}/messages", json={"text": "Ya lo he revisado."}).raise_for_status()
    time.sleep(1)
    refused = limited.asked[key_id]
    for _ in range(3):
        at.run()
    assert not at.exception and limited.asked[key_id] - refused <= 1  # one 429, then nothing until Retry-After
    time.sleep(wait + 0.5)
    at.run()
    assert at.chat_message[-1].markdown[0].value == "Ya lo he revisado."
    agent.post(f"/v1/escalations/{case}/resolve", json={}).raise_for_status()
    assert session_id == at.session_state["session_id"]
