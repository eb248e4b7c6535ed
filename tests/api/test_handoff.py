"""The human hand-off through the API with the real graph: every transition and role, agent assist, agent replies
through the PII and output rails, concurrent claims and writes, the live event stream, and state after a restart."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.config import ApiConfig
from api.keys import KeyStore
from retrieval.language import detect_language
from tests.api.conftest import MAX_MESSAGE

CARD = "4111 1111 1111 1111"


def _chat(client: TestClient, headers: dict[str, str], session: str, message: str) -> dict[str, Any]:
    response = client.post("/v1/chat", json={"message": message, "session_id": session}, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _escalate(client: TestClient, headers: dict[str, str], session: str) -> str:
    """The customer asks for a person in Spanish; returns the escalation id."""
    result = _chat(client, headers, session, "Mi pedido llegó roto. Quiero hablar con una persona, por favor.")
    assert result["route"] == "handoff", result
    escalation_id: str = result["guardrails"]["handoff"]["escalation_id"]
    return escalation_id


@pytest.fixture(scope="module")
def agent2(api_config: ApiConfig) -> dict[str, str]:
    """A second agent."""
    store = KeyStore(api_config.keys_db)
    _, key = store.create("agent", "second agent")
    store.close()
    return {"Authorization": f"Bearer {key}"}


def test_the_whole_lifecycle(client: TestClient, keys: dict[str, dict[str, str]], agent2: dict[str, str]) -> None:
    customer, agent = keys["customer"], keys["agent"]
    session = "handoff-lifecycle"
    _chat(client, customer, session, "¿Cuánto tarda el envío estándar?")
    escalation_id = _escalate(client, customer, session)
    queue = client.get("/v1/escalations", params={"status": "open", "lang": "es"}, headers=agent).json()
    assert escalation_id in [e["id"] for e in queue["escalations"]]
    assert client.get(f"/v1/sessions/{session}", headers=customer).json()["handoff"]["status"] == "waiting"
    # Customers cannot use the agent routes.
    for path in ("claim", "resolve", "release"):
        denied = client.post(f"/v1/escalations/{escalation_id}/{path}", headers=customer)
        assert denied.status_code == 403 and "needs a key with the agent role" in denied.json()["detail"]
    assert client.get(f"/v1/escalations/{escalation_id}", headers=customer).status_code == 403

    claimed = client.post(f"/v1/escalations/{escalation_id}/claim", headers=agent)
    assert claimed.status_code == 200 and claimed.json()["status"] == "assigned"
    taken = client.post(f"/v1/escalations/{escalation_id}/claim", headers=agent2)
    assert taken.status_code == 409 and "assigned to another agent" in taken.json()["detail"]
    assert client.post(f"/v1/escalations/{escalation_id}/resolve", headers=agent2).status_code == 409
    assert client.post(f"/v1/escalations/{escalation_id}/messages", json={"text": "hi"}, headers=agent2).status_code \
        == 409  # fmt: skip

    # Agent assist: the passages for the customer's question and a Spanish draft, recorded as a draft.
    detail = client.get(f"/v1/escalations/{escalation_id}", headers=agent).json()
    assert detail["escalation"]["status"] == "assigned" and detail["status"]["status"] == "assigned"
    assert [h["action"] for h in detail["escalation"]["history"]] == ["opened", "claimed"]
    assert detail["passages"] and detail["draft"]["generator"] == "extractive"
    assert detect_language(detail["draft"]["text"]) == "es", detail["draft"]
    assert [m["content"] for m in detail["transcript"] if m.get("draft")] == [detail["draft"]["text"]]
    again = client.get(f"/v1/escalations/{escalation_id}", headers=agent).json()
    assert again["draft"]["id"] == detail["draft"]["id"]  # the same question keeps its draft

    # The customer's next message goes to the agent: route human, no bot answer.
    held = _chat(client, customer, session, "¿Hay alguien ahí? Mi tarjeta es " + CARD)
    assert held["route"] == "human" and held["answer"] == "" and held["lang"] == "es"
    # The agent pastes a card number by mistake: the customer sees it redacted.
    pasted = {"text": detail["draft"]["text"] + f" Cobramos la tarjeta {CARD}."}
    sent = client.post(f"/v1/escalations/{escalation_id}/messages", json=pasted, headers=agent)
    assert sent.status_code == 201, sent.text
    assert sent.json()["meta"]["edited"] is True and sent.json()["checks"]["pii"]["redacted"]
    seen = client.get(f"/v1/sessions/{session}", headers=customer).json()
    roles = [m["role"] for m in seen["messages"]]
    assert roles[-2:] == ["user", "agent"] and roles.count("assistant") == 2  # no bot answer to the held message
    # Only the texts: a float timestamp such as 1796555435.1074111 may hold "4111" by chance.
    texts = json.dumps([m["content"] for m in seen["messages"]])
    assert CARD not in json.dumps(seen) and "4111" not in texts
    assert seen["messages"][-1]["author"] == "agent" and seen["handoff"]["status"] == "assigned"
    assert not any(m.get("draft") for m in seen["messages"])  # drafts are for the agent only

    resolved = client.post(f"/v1/escalations/{escalation_id}/resolve", json={"note": "replacement sent"},
                           headers=agent)  # fmt: skip
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    late = client.post(f"/v1/escalations/{escalation_id}/claim", headers=agent2)
    assert late.status_code == 409 and "already resolved" in late.json()["detail"]
    history = client.get(f"/v1/escalations/{escalation_id}", headers=agent).json()["escalation"]["history"]
    assert [(h["action"], h["note"]) for h in history][-1] == ("resolved", "replacement sent")
    assert history[1]["actor"] != "" and all(h["at"] for h in history)
    # The bot answers again.
    after = _chat(client, customer, session, "¿Cuánto tarda el envío estándar?")
    assert after["route"] == "answered" and after["answer"]


def test_release_to_the_queue_and_back_to_the_bot(client: TestClient, keys: dict[str, dict[str, str]],
                                                  agent2: dict[str, str]) -> None:  # fmt: skip
    customer, agent = keys["customer"], keys["agent"]
    escalation_id = _escalate(client, customer, "handoff-release")
    assert client.post(f"/v1/escalations/{escalation_id}/release", headers=agent).status_code == 409  # not claimed
    client.post(f"/v1/escalations/{escalation_id}/claim", headers=agent)
    first = client.get(f"/v1/escalations/{escalation_id}", headers=agent).json()["draft"]
    assert client.post(f"/v1/escalations/{escalation_id}/release", headers=agent2).status_code == 409
    released = client.post(f"/v1/escalations/{escalation_id}/release", headers=agent)
    assert released.status_code == 200 and released.json()["status"] == "open"
    assert client.post(f"/v1/escalations/{escalation_id}/claim", headers=agent2).status_code == 200
    # The next holder's draft greets in their own name, not in the colleague's who released the case.
    second = client.get(f"/v1/escalations/{escalation_id}", headers=agent2).json()["draft"]
    assert second["id"] != first["id"] and second["text"].startswith("Hola, soy second agent"), (first, second)
    returned = client.post(f"/v1/escalations/{escalation_id}/release", json={"to": "bot"}, headers=keys["admin"])
    assert returned.status_code == 200 and returned.json()["status"] == "returned"  # an admin may release any
    assert _chat(client, customer, "handoff-release", "How long does delivery take?")["route"] == "answered"


def test_a_streamed_message_to_an_agent_ends_with_the_documented_final_event(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    # POST /v1/chat/stream's final event has the fields of POST /v1/chat plus `replaced`; while an agent held the
    # session it had no `replaced` (a client reading final["replaced"] failed on exactly the turns a person answers).
    customer = keys["customer"]
    escalation_id = _escalate(client, customer, "handoff-stream-final")
    assert client.post(f"/v1/escalations/{escalation_id}/claim", headers=keys["agent"]).status_code == 200
    body = {"message": "¿Sigue ahí?", "session_id": "handoff-stream-final"}
    with client.stream("POST", "/v1/chat/stream", json=body, headers=customer) as response:
        assert response.status_code == 200
        events = [block for block in response.read().decode().split("\n\n") if block.strip()]
    assert len(events) == 1 and events[0].startswith("event: final\n"), events
    final = json.loads(events[0].split("\n", 1)[1].removeprefix("data: "))
    answered = _chat(client, customer, "handoff-stream-final", "¿Sigue ahí?")
    assert final["route"] == answered["route"] == "human" and final["replaced"] is False
    assert set(final) - {"type", "replaced"} == set(answered) - {"shown"}, (sorted(final), sorted(answered))


def test_agent_assist_retrieves_once_per_customer_question(client: TestClient, keys: dict[str, dict[str, str]],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    customer, agent = keys["customer"], keys["agent"]
    session = "handoff-assist-once"
    question = "¿Cuánto tarda en llegar un envío estándar a Canarias?"  # asked in no other test: nothing cached yet
    _chat(client, customer, session, question)
    escalation_id = _escalate(client, customer, session)
    kb = client.app.state.runtime.chat_service.deps.kb  # type: ignore[attr-defined]
    searched: list[str] = []
    search = kb.search_vector

    def counted(query: str, *args: Any, **kwargs: Any) -> Any:
        searched.append(query)
        return search(query, *args, **kwargs)

    monkeypatch.setattr(kb, "search_vector", counted)

    def view() -> dict[str, Any]:
        response = client.get(f"/v1/escalations/{escalation_id}", headers=agent)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    # The console asks for its open case every 3 s: the knowledge base was searched again each time.
    waiting = [view() for _ in range(3)]
    assert searched == [question]
    assert all(v["passages"] == waiting[0]["passages"] and v["draft"] == waiting[0]["draft"] for v in waiting)
    assert client.post(f"/v1/escalations/{escalation_id}/claim", headers=agent).status_code == 200
    held = [view() for _ in range(3)]
    assert len(searched) == 1 and held[0]["passages"] == waiting[0]["passages"]
    assert held[0]["draft"]["text"] != waiting[0]["draft"]["text"]  # in the holder's name now
    assert all(v["draft"] == held[0]["draft"] for v in held)
    # A new question: searched once more, for it.
    again = "¿Y puedo devolver un artículo rebajado que llegó a Canarias?"
    _chat(client, customer, session, again)
    searched.clear()
    asked = [view() for _ in range(3)]
    assert searched == [again] and asked[0]["draft"]["question"] == again
    assert asked[0]["draft"]["id"] != held[0]["draft"]["id"] and all(v["draft"] == asked[0]["draft"] for v in asked)
    client.post(f"/v1/escalations/{escalation_id}/resolve", headers=agent)


def test_agent_assist_drafts_for_the_question_not_for_a_value_handed_over(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    customer, agent = keys["customer"], keys["agent"]
    session = "handoff-assist-value"
    question = "¿Cómo descargo la factura de mi pedido?"
    _chat(client, customer, session, question)
    _chat(client, customer, session, "mi email es ana.lopez@example.com")  # drafted an answer about passwords
    escalation_id = _escalate(client, customer, session)
    draft = client.get(f"/v1/escalations/{escalation_id}", headers=agent).json()["draft"]
    assert draft["question"] == question, draft
    client.post(f"/v1/escalations/{escalation_id}/resolve", headers=agent)


@pytest.mark.parametrize(("question", "pings"), [
    ("Me han cobrado dos veces el mismo pedido. Quiero hablar con una persona.", ["Hola?", "Buenas tardes",
                                                                                  "¿sigue ahí?", "¿alguna novedad?"]),
    ("I was charged twice for the same order. I want to talk to a person.", ["hello? anyone?", "Good morning",
                                                                             "thanks", "still there?", "any update?"]),
], ids=["es", "en"])  # fmt: skip
def test_agent_assist_keeps_drafting_for_the_question_when_the_waiting_customer_greets(
    client: TestClient, keys: dict[str, dict[str, str]], question: str, pings: list[str]
) -> None:
    customer, agent = keys["customer"], keys["agent"]
    session = f"handoff-assist-ping-{detect_language(question)}"
    result = _chat(client, customer, session, question)
    escalation_id = result["guardrails"]["handoff"]["escalation_id"]
    client.post(f"/v1/escalations/{escalation_id}/claim", headers=agent).raise_for_status()
    first = client.get(f"/v1/escalations/{escalation_id}", headers=agent).json()
    assert first["draft"]["question"] == question, first["draft"]
    # A waiting customer says hello or asks whether anyone is there: the draft answered that ("Buenas tardes" got a
    # discount code's validity, "hello? anyone?" that the chat assistant is available 24/7) with its passages; so
    # were the nudges "still there?", "any update?" and "¿alguna novedad?" until 2026-12-07.
    for ping in pings:
        assert _chat(client, customer, session, ping)["route"] == "human"
        view = client.get(f"/v1/escalations/{escalation_id}", headers=agent).json()
        assert view["draft"]["question"] == question, (ping, view["draft"])
        assert view["draft"]["id"] == first["draft"]["id"] and view["passages"] == first["passages"], ping
    client.post(f"/v1/escalations/{escalation_id}/resolve", headers=agent)


def test_a_spanish_customers_short_replies_keep_the_case_in_spanish(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    customer, agent = keys["customer"], keys["agent"]
    session = "handoff-short-replies"
    escalation_id = _escalate(client, customer, session)
    client.post(f"/v1/escalations/{escalation_id}/claim", headers=agent).raise_for_status()
    sent = client.post(f"/v1/escalations/{escalation_id}/messages", headers=agent,
                       json={"text": "Hola, ¿me das tu correo electrónico para buscar el pedido?"})  # fmt: skip
    assert sent.status_code == 201, sent.text
    # A value handed over and an acknowledgement say nothing of the language: the customer still writes Spanish.
    for short in ("juan.perez@example.com", "ok"):
        turn = _chat(client, customer, session, short)
        assert turn["route"] == "human" and turn["lang"] == "es", turn
        view = client.get(f"/v1/escalations/{escalation_id}", headers=agent).json()
        # The draft was English ("Hi, I'm ... Why one account per email?") and answered the e-mail, then the "ok".
        draft = view["draft"]
        assert draft["lang"] == "es" and draft["text"].startswith("Hola"), draft
        assert draft["question"].startswith("Mi pedido llegó roto"), draft
        reply = client.post(f"/v1/escalations/{escalation_id}/messages", headers=agent,
                            json={"text": "Gracias, ya veo tu pedido: sale mañana del almacén."})  # fmt: skip
        assert reply.status_code == 201, reply.text
        # A Spanish reply was reported as "reads as Spanish and the customer writes in English".
        assert reply.json()["checks"]["language"]["ok"] is True and reply.json()["meta"]["lang"] == "es", reply.json()
    client.post(f"/v1/escalations/{escalation_id}/resolve", headers=agent)


def test_the_queue_filters_before_its_limit_and_pages_oldest_first(
    client: TestClient, keys: dict[str, dict[str, str]], agent2: dict[str, str]
) -> None:
    customer, agent = keys["customer"], keys["agent"]
    cases = []
    for n in range(4):
        opened = client.post("/v1/handoff", json={"session_id": f"queue-pages-{n}", "lang": "es"}, headers=customer)
        assert opened.status_code == 201, opened.text
        cases.append(opened.json()["id"])
    client.post(f"/v1/escalations/{cases[0]}/claim", headers=agent).raise_for_status()
    for case in cases[1:]:
        client.post(f"/v1/escalations/{case}/claim", headers=agent2).raise_for_status()

    def queue(headers: dict[str, str], **params: Any) -> list[str]:
        answer = client.get("/v1/escalations", params={"status": "assigned", **params}, headers=headers)
        assert answer.status_code == 200, answer.text
        return [e["id"] for e in answer.json()["escalations"]]

    # "Mine" was the newest assigned cases filtered afterwards: behind a colleague's newer ones, an agent's own case
    # was not among them.
    assert queue(agent, mine="true", limit=1) == [cases[0]]
    assert queue(agent2, mine="true") == cases[:0:-1]
    # The longest waiting first, a page at a time.
    assert queue(agent2, mine="true", order="oldest", limit=2) == cases[1:3]
    assert queue(agent2, mine="true", order="oldest", limit=2, offset=2) == cases[3:]
    assert client.get("/v1/escalations", params={"order": "random"}, headers=agent).status_code == 422
    assert client.get("/v1/escalations", params={"offset": -1}, headers=agent).status_code == 422
    for case, holder in zip(cases, [agent, agent2, agent2, agent2], strict=True):
        client.post(f"/v1/escalations/{case}/resolve", headers=holder).raise_for_status()


def test_a_hand_off_the_customer_asks_for_with_a_reason_is_opened_by_the_customer(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    customer, agent = keys["customer"], keys["agent"]
    body = {"session_id": "handoff-reason-actor", "lang": "en", "reason": "My parcel never came"}
    opened = client.post("/v1/handoff", headers=customer, json=body)
    assert opened.status_code == 201, opened.text
    history = client.get(f"/v1/escalations/{opened.json()['id']}", headers=agent).json()["escalation"]["history"]
    # The history said the bot opened it: the customer pressed the button and typed why.
    assert [(e["action"], e["actor"], e["note"]) for e in history] == [("opened", "customer", "My parcel never came")]
    client.post(f"/v1/escalations/{opened.json()['id']}/resolve", headers=agent)


def test_optional_fields_sent_as_null_are_omitted_ones(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    # Every other optional field (session_id, mode, lang, comment, note) takes null for "not given", as a JSON
    # client writes an unset value; a hand-off's reason and a release's `to` answered 422 "Input should be a valid
    # string" / "Input should be 'queue' or 'bot'".
    customer, agent = keys["customer"], keys["agent"]
    body = {"session_id": "handoff-null-reason", "lang": "en", "reason": None}
    opened = client.post("/v1/handoff", headers=customer, json=body)
    assert opened.status_code == 201, opened.text
    assert opened.json()["reason"] == "customer_request"
    escalation_id = opened.json()["id"]
    assert client.post(f"/v1/escalations/{escalation_id}/claim", headers=agent).status_code == 200
    released = client.post(f"/v1/escalations/{escalation_id}/release", headers=agent, json={"to": None})
    assert released.status_code == 200 and released.json()["status"] == "open", released.text
    client.post(f"/v1/escalations/{escalation_id}/resolve", headers=agent).raise_for_status()


def test_a_second_hand_off_with_a_reason_keeps_the_case_and_records_the_reason(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    """A session already waiting for a person keeps its case; what the customer typed the second time was stored
    nowhere (a QA pass as a support agent, 2026-12-07). It is in the case's history now, redacted like the rest."""
    customer, agent = keys["customer"], keys["agent"]
    body = {"session_id": "handoff-twice", "lang": "en", "reason": "My parcel never came"}
    first = client.post("/v1/handoff", headers=customer, json=body).json()
    again = {**body, "reason": "Still waiting, my email is ana.lopez@example.com"}
    second = client.post("/v1/handoff", headers=customer, json=again)
    assert second.status_code == 201 and second.json()["id"] == first["id"], second.text
    client.post("/v1/handoff", headers=customer, json={"session_id": "handoff-twice"}).raise_for_status()  # no reason
    history = client.get(f"/v1/escalations/{first['id']}", headers=agent).json()["escalation"]["history"]
    assert [(e["action"], e["actor"]) for e in history] == [("opened", "customer"), ("asked_again", "customer")]
    assert "ana.lopez" not in history[1]["note"] and "<EMAIL_1>" in history[1]["note"], history[1]
    assert history[1]["status"] == "open"
    client.post(f"/v1/escalations/{first['id']}/resolve", headers=agent)


def test_agent_assist_answers_the_reason_typed_with_a_hand_off_before_any_message(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    customer, agent = keys["customer"], keys["agent"]
    reason = "¿Cuánto tarda en llegar el reembolso de una devolución?"
    body = {"session_id": "handoff-reason-assist", "lang": "es", "reason": reason}
    case = client.post("/v1/handoff", headers=customer, json=body).json()["id"]
    client.post(f"/v1/escalations/{case}/claim", headers=agent).raise_for_status()
    view = client.get(f"/v1/escalations/{case}", headers=agent).json()
    # The reason was the customer's only words, and agent assist had no question: no passages, "I'm looking into it".
    assert view["draft"]["question"] == reason and view["draft"]["for_message"] == -1, view["draft"]
    assert view["passages"] and any("refund" in p["doc_id"] for p in view["passages"]), view["passages"]
    assert view["draft"]["lang"] == "es" and "revisando tu caso" not in view["draft"]["text"], view["draft"]
    assert client.get(f"/v1/escalations/{case}", headers=agent).json()["draft"] == view["draft"]  # kept, not redone
    client.post(f"/v1/escalations/{case}/resolve", headers=agent)


def test_bad_input_gets_a_reason(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    agent = keys["agent"]
    for method, path, body in [("GET", "", None), ("POST", "/claim", None), ("POST", "/resolve", None),
                               ("POST", "/release", None), ("POST", "/messages", {"text": "hello"})]:  # fmt: skip
        missing = client.request(method, f"/v1/escalations/{'0' * 32}{path}", json=body, headers=agent)
        assert missing.status_code == 404 and "no escalation" in missing.json()["detail"], path
    escalation_id = _escalate(client, keys["customer"], "handoff-bad-input")
    client.post(f"/v1/escalations/{escalation_id}/claim", headers=agent)
    for text, reason in [("", "at least 1 character"), ("   ", "blank"), ("x" * (MAX_MESSAGE + 1), "at most")]:
        response = client.post(f"/v1/escalations/{escalation_id}/messages", json={"text": text}, headers=agent)
        assert response.status_code == 422, text[:10]
        assert reason in json.dumps(response.json()["detail"]), response.json()
    biased = client.post(f"/v1/escalations/{escalation_id}/messages",
                         json={"text": "Women are bad with money, so pay first."}, headers=agent)  # fmt: skip
    assert biased.status_code == 422 and "protected group" in json.dumps(biased.json())
    for body in ({"text": "hi", "extra": 1}, {"note": 5}, {"note": "n" * 2001}):
        path = "messages" if "text" in body else "resolve"
        assert client.post(f"/v1/escalations/{escalation_id}/{path}", json=body, headers=agent).status_code == 422
    assert client.post(f"/v1/escalations/{escalation_id}/release", json={"to": "mars"}, headers=agent).status_code \
        == 422  # fmt: skip
    client.post(f"/v1/escalations/{escalation_id}/resolve", headers=agent)


def test_a_resolution_note_is_stored_as_the_conversation_is(client: TestClient, keys: dict[str, dict[str, str]]
                                                            ) -> None:  # fmt: skip
    customer, agent = keys["customer"], keys["agent"]
    session = "handoff-note"
    escalation_id = _escalate(client, customer, session)
    client.post(f"/v1/escalations/{escalation_id}/claim", headers=agent).raise_for_status()
    assert _chat(client, customer, session, f"Mi tarjeta es {CARD}")["route"] == "human"
    note = f"Reembolso a la tarjeta {CARD}; escribir a juan.perez@example.com \u202eoculto\u202c\x07 mañana."
    resolved = client.post(f"/v1/escalations/{escalation_id}/resolve", json={"note": note}, headers=agent)
    assert resolved.status_code == 200, resolved.text
    view = client.get(f"/v1/escalations/{escalation_id}", headers=agent).json()
    record = view["escalation"]
    # Every agent reads the note beside the redacted transcript: it kept the card number and the e-mail in clear, and
    # the bidi override and the bell that the transcript's text never keeps.
    for stored in (resolved.json()["note"], record["note"], record["history"][-1]["note"]):
        assert "4111" not in stored and "juan.perez" not in stored, stored
        assert "\u202e" not in stored and "\x07" not in stored, stored
        assert stored.startswith("Reembolso a la tarjeta <CARD_1>") and "<EMAIL_" in stored, stored
    transcript = json.dumps([m["content"] for m in view["transcript"]])
    assert "<CARD_1>" in transcript  # the customer's card: the same placeholder in the note and in the transcript
    # A note blank once cleaned is no note.
    other = _escalate(client, keys["customer2"], "handoff-note-blank")
    blank = client.post(f"/v1/escalations/{other}/resolve", json={"note": " \u200b\x07 "}, headers=agent)
    assert blank.status_code == 200 and blank.json()["note"] is None, blank.json()


def _at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released together; their results in order."""
    barrier, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(n: int) -> None:
        barrier.wait()
        results[n] = calls[n]()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_agents_claiming_at_once_get_one_200_and_one_409(
    client: TestClient, keys: dict[str, dict[str, str]], agent2: dict[str, str]
) -> None:
    for n in range(8):
        escalation_id = _escalate(client, keys["customer"], f"handoff-race-{n}")
        path = f"/v1/escalations/{escalation_id}/claim"
        codes = _at_once([lambda h=h, p=path: client.post(p, headers=h).status_code for h in (keys["agent"], agent2)])
        assert sorted(codes) == [200, 409], codes
        client.post(f"/v1/escalations/{escalation_id}/resolve", headers=keys["admin"])


def test_customer_and_agent_writing_at_once_lose_nothing(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    customer, agent, session = keys["customer"], keys["agent"], "handoff-simultaneous"
    escalation_id = _escalate(client, customer, session)
    client.post(f"/v1/escalations/{escalation_id}/claim", headers=agent)
    before = len(client.get(f"/v1/sessions/{session}", headers=customer).json()["messages"])

    def customer_writes() -> list[str]:
        return [_chat(client, customer, session, f"mensaje número {i}")["route"] for i in range(6)]

    def agent_writes() -> list[int]:
        return [client.post(f"/v1/escalations/{escalation_id}/messages", json={"text": f"respuesta {i}"},
                            headers=agent).status_code for i in range(6)]  # fmt: skip

    routes, codes = _at_once([customer_writes, agent_writes])
    assert routes == ["human"] * 6 and codes == [201] * 6
    messages = client.get(f"/v1/sessions/{session}", headers=customer).json()["messages"][before:]
    assert sorted(m["content"] for m in messages) == sorted(
        [f"mensaje número {i}" for i in range(6)] + [f"respuesta {i}" for i in range(6)]
    )
    client.post(f"/v1/escalations/{escalation_id}/resolve", headers=agent)


def test_events_stream_agent_messages_as_they_arrive(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    customer, agent, session = keys["customer"], keys["agent"], "handoff-events"
    escalation_id = _escalate(client, customer, session)
    assert client.get(f"/v1/sessions/{session}/events", headers=keys["customer2"]).status_code == 404
    received: list[str] = []
    opened = threading.Event()

    def listen() -> None:
        with client.stream("GET", f"/v1/sessions/{session}/events", params={"wait": 4}, headers=customer) as response:
            assert response.status_code == 200
            opened.set()
            received.append(response.read().decode("utf-8"))

    listener = threading.Thread(target=listen)
    listener.start()
    assert opened.wait(30)
    client.post(f"/v1/escalations/{escalation_id}/claim", headers=agent)
    client.post(f"/v1/escalations/{escalation_id}/messages", json={"text": "Ya reviso tu pedido."}, headers=agent)
    client.post(f"/v1/escalations/{escalation_id}/resolve", headers=agent)  # right after: one poll often sees both
    listener.join(timeout=30)
    blocks = [b for b in received[0].split("\n\n") if b.startswith(("id:", "event:"))]
    events = [(b.split("event: ")[1].split("\n")[0], json.loads(b.split("data: ", 1)[1])) for b in blocks]
    assert events[0] == ("status", {"status": "waiting", "escalation_id": escalation_id, "agent": None, "last": None})
    # claimed, answered and resolved faster than the stream polls (0.5 s): "assigned" may or may not be seen
    assert {data.get("status") for kind, data in events if kind == "status"} <= {"waiting", "assigned", "bot"}
    messages = [data for kind, data in events if kind == "message"]
    assert [(m["role"], m["content"]) for m in messages] == [("agent", "Ya reviso tu pedido.")]  # only new ones
    # the agent's reply, then the conversation back with the bot (the status came first when one poll saw both)
    reply = next(i for i, (kind, _) in enumerate(events) if kind == "message")
    assert events[-1][0] == "status" and events[-1][1]["status"] == "bot" and reply < len(events) - 1, events


def test_console_users_sign_in_with_a_password(client: TestClient, keys: dict[str, dict[str, str]],
                                               api_config: ApiConfig) -> None:  # fmt: skip
    store = KeyStore(api_config.keys_db)
    store.set_user("ana", "correct horse battery", "agent")
    assert "correct" not in json.dumps(store.users())
    store.close()
    wrong = client.post("/v1/auth/signin", json={"username": "ana", "password": "nope"})
    assert wrong.status_code == 401 and wrong.json()["detail"] == "wrong user name or password"
    assert client.post("/v1/auth/signin", json={"username": "bob", "password": "x"}).status_code == 401
    signed = client.post("/v1/auth/signin", json={"username": "ana", "password": "correct horse battery"})
    assert signed.status_code == 201 and signed.json()["role"] == "agent"
    headers = {"Authorization": f"Bearer {signed.json()['key']}"}
    assert client.get("/v1/auth/me", headers=headers).json()["name"] == "user:ana"
    assert client.get("/v1/escalations", headers=headers).status_code == 200
    # The customer sees the agent's own name; other personal data is redacted.
    escalation_id = _escalate(client, keys["customer"], "handoff-signed-in")
    assert client.post(f"/v1/escalations/{escalation_id}/claim", headers=headers).json()["assigned_name"] == "ana"
    text = {"text": "Hola, soy Ana. ¿Tu correo es maria.lopez@mail.example?"}
    sent = client.post(f"/v1/escalations/{escalation_id}/messages", json=text, headers=headers)
    assert sent.status_code == 201 and sent.json()["content"].startswith("Hola, soy Ana.")
    assert "maria.lopez" not in sent.json()["content"] and sent.json()["checks"]["pii"]["redacted"] == ["EMAIL"]
    # A name the customer never gave: left out after the greeting (it reached them as "Hola <PERSON_1>, ..."), and
    # refused with the reason elsewhere; nothing is sent then.
    greeted = client.post(f"/v1/escalations/{escalation_id}/messages", json={"text": "Hola Laura, tu pedido sale hoy."},
                          headers=headers)  # fmt: skip
    assert greeted.status_code == 201 and greeted.json()["content"] == "Hola, tu pedido sale hoy.", greeted.text
    named = client.post(f"/v1/escalations/{escalation_id}/messages",
                        json={"text": "El pedido está a nombre de Laura Gómez."}, headers=headers)  # fmt: skip
    assert named.status_code == 422 and "names a person the customer has not named" in named.text, named.text
    client.post(f"/v1/escalations/{escalation_id}/resolve", headers=headers)
    assert client.post("/v1/auth/signout", headers=headers).status_code == 200
    assert client.get("/v1/auth/me", headers=headers).status_code == 401  # the session's key is revoked


@pytest.mark.slow
def test_state_survives_a_restart_of_the_api(client: TestClient, keys: dict[str, dict[str, str]],
                                             api_config: ApiConfig) -> None:  # fmt: skip
    from api.app import create_app

    customer, agent, session = keys["customer"], keys["agent"], "handoff-restart"
    escalation_id = _escalate(client, customer, session)
    client.post(f"/v1/escalations/{escalation_id}/claim", headers=agent)
    client.post(f"/v1/escalations/{escalation_id}/messages", json={"text": "Te escribo enseguida."}, headers=agent)
    before = client.get(f"/v1/sessions/{session}", headers=customer).json()
    with TestClient(create_app(api_config)) as restarted:  # a new process: its own service and connections
        after = restarted.get(f"/v1/sessions/{session}", headers=customer).json()
        assert after == before and after["messages"][-1]["role"] == "agent"
        held = restarted.post("/v1/chat", json={"message": "vale, gracias", "session_id": session}, headers=customer)
        assert held.json()["route"] == "human"
        detail = restarted.get(f"/v1/escalations/{escalation_id}", headers=agent).json()
        assert [h["action"] for h in detail["escalation"]["history"]] == ["opened", "claimed"]
        assert restarted.post(f"/v1/escalations/{escalation_id}/resolve", headers=agent).status_code == 200


def test_the_escalation_routes_document_what_they_answer(client: TestClient) -> None:
    """Every escalation route's answer has a schema with its fields (it was a fieldless record): an API client can
    generate its types from /openapi.json, and the fuzz test checks every answer against it."""
    openapi = client.get("/openapi.json").json()
    schemas = openapi["components"]["schemas"]

    def answer(path: str, method: str, code: str) -> dict[str, Any]:
        ref = openapi["paths"][path][method]["responses"][code]["content"]["application/json"]["schema"]["$ref"]
        return schemas[ref.rsplit("/", 1)[-1]]

    escalation = {"id", "session_id", "status"}
    for path in ("/v1/escalations/{escalation_id}/claim", "/v1/escalations/{escalation_id}/resolve",
                 "/v1/escalations/{escalation_id}/release"):  # fmt: skip
        schema = answer(path, "post", "200")
        assert set(schema["required"]) >= escalation and "waiting_since" in schema["properties"], path
        assert schema["properties"]["status"]["enum"] == ["open", "assigned", "resolved", "returned"]
    assert set(answer("/v1/handoff", "post", "201")["required"]) >= escalation
    reply = answer("/v1/escalations/{escalation_id}/messages", "post", "201")
    assert set(reply["required"]) >= {"id", "content", "checks", "at"}
    detail = answer("/v1/escalations/{escalation_id}", "get", "200")["properties"]
    assert {"$ref"} <= set(detail["draft"]) and "doc_id" in schemas["Source"]["properties"]
    gaps = answer("/v1/kb/gaps", "get", "200")["properties"]["gaps"]["items"]["$ref"].rsplit("/", 1)[-1]
    assert set(schemas[gaps]["required"]) == {"question", "lang", "count", "last_seen"}
