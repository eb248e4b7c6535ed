"""Chat, streaming, transcripts, feedback and handoff through the real graph service (extractive generator)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from api.config import ApiConfig
from tests.api.conftest import MAX_MESSAGE

CONTRACT = {"answer", "lang", "mode", "route", "sources", "guardrails", "latency_ms", "node_latency_ms",
            "session_id", "tokens_generated"}  # fmt: skip


def _chat(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    response = client.post("/v1/chat", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_chat_answers_with_the_cli_fields_and_a_source(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    result = _chat(client, keys["customer"], message="How can I return an item I bought?")
    assert set(result) >= CONTRACT
    assert result["route"] == "answered" and result["mode"] == "rag" and result["lang"] == "en"
    assert result["sources"] and all(s["doc_id"] for s in result["sources"])
    assert len(result["session_id"]) == 32  # generated when omitted


def test_chat_in_spanish_answers_in_spanish(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    result = _chat(client, keys["customer"], message="¿Cómo puedo devolver un producto?", session_id="es-session")
    assert result["lang"] == "es" and result["session_id"] == "es-session"


def test_session_transcript_is_the_owners_only(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    session = "owned-by-customer-1"
    _chat(
        client, keys["customer"], message="My email is ana.lopez@mail.example, where is my order?", session_id=session
    )
    mine = client.get(f"/v1/sessions/{session}", headers=keys["customer"])
    assert mine.status_code == 200
    messages = mine.json()["messages"]
    assert [m["role"] for m in messages][:2] == ["user", "assistant"]
    assert "ana.lopez@mail.example" not in json.dumps(messages)  # redacted
    # Another customer can neither read the session nor write to it; an agent can read it.
    assert client.get(f"/v1/sessions/{session}", headers=keys["customer2"]).status_code == 404
    other = client.post("/v1/chat", json={"message": "hi", "session_id": session}, headers=keys["customer2"])
    assert other.status_code == 403
    assert client.get(f"/v1/sessions/{session}", headers=keys["agent"]).status_code == 200
    assert client.get("/v1/sessions/never-used", headers=keys["customer"]).status_code == 404


def test_stream_sends_tokens_then_the_final_result(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    body = {"message": "What payment methods do you accept?", "session_id": "stream-session"}
    with client.stream("POST", "/v1/chat/stream", json=body, headers=keys["customer"]) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = "".join(response.iter_text())
    events = [block for block in text.split("\n\n") if block.strip()]
    kinds = [block.split("\n")[0].removeprefix("event: ") for block in events]
    assert kinds[-1] == "final" and set(kinds[:-1]) <= {"token"}
    final = json.loads(events[-1].split("\n", 1)[1].removeprefix("data: "))
    assert set(final) >= CONTRACT and final["session_id"] == "stream-session"


def test_feedback_on_an_answer(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    session = "feedback-session"
    _chat(client, keys["customer"], message="How long does delivery take?", session_id=session)
    ok = client.post(
        "/v1/feedback",
        json={"session_id": session, "turn": 0, "rating": "down", "comment": "too vague, mail ana.gil@mail.example"},
        headers=keys["customer"],
    )
    assert ok.status_code == 201 and ok.json()["rating"] == "down"
    # the answer number as sent (it came back as the string "0"), and every field the OpenAPI schema promises
    assert ok.json()["turn"] == 0 and set(ok.json()) == {"id", "session_id", "turn", "rating", "comment", "created_at"}
    # the comment is stored like the conversation: personal data redacted
    assert ok.json()["comment"].startswith("too vague, mail <EMAIL_") and "ana.gil" not in ok.json()["comment"]
    missing_turn = client.post(
        "/v1/feedback", json={"session_id": session, "turn": 5, "rating": "up"}, headers=keys["customer"]
    )
    assert missing_turn.status_code == 404 and "no answer number 5 (1 answers)" in missing_turn.json()["detail"]
    others = client.post(
        "/v1/feedback", json={"session_id": session, "turn": 0, "rating": "up"}, headers=keys["customer2"]
    )
    assert others.status_code == 403
    unknown = client.post(
        "/v1/feedback", json={"session_id": "nope", "turn": 0, "rating": "up"}, headers=keys["customer"]
    )
    assert unknown.status_code == 404


def test_feedback_has_a_response_schema(client: TestClient) -> None:
    openapi = client.get("/openapi.json").json()
    created = openapi["paths"]["/v1/feedback"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    schema = openapi["components"]["schemas"][created["$ref"].rsplit("/", 1)[-1]]
    assert schema["properties"]["turn"]["type"] == "integer"
    assert set(schema["required"]) >= {"id", "session_id", "turn", "rating", "created_at"}


def test_the_chat_schema_documents_each_sources_citation(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    # docs/api.md: "each source has citation, the [n] the answer cites it by"; the schema's sources named no
    # citation, so a client generated from /openapi.json had no field to link "[4]" to its source.
    openapi = client.get("/openapi.json").json()
    schemas = openapi["components"]["schemas"]
    source = schemas[schemas["ChatResponse"]["properties"]["sources"]["items"]["$ref"].rsplit("/", 1)[-1]]
    assert "citation" in source["required"] and source["properties"]["citation"]["type"] == "integer"
    result = _chat(client, keys["customer"], message="What payment methods do you accept?")
    assert result["sources"] and all(isinstance(source["citation"], int) for source in result["sources"])


def test_handoff_lands_in_the_escalation_queue(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    session = "handoff-session"
    _chat(client, keys["customer"], message="My parcel arrived damaged", session_id=session)
    reason = "please call me on +34 612 345 678"
    response = client.post("/v1/handoff", json={"session_id": session, "reason": reason}, headers=keys["customer"])
    assert response.status_code == 201
    assert response.json()["status"] == "open"
    # redacted as stored (the number's own digits: a timestamp such as 1796612816.01 holds "612" too, and failed this)
    dumped = json.dumps(response.json())
    assert "612 345 678" not in dumped and "345 678" not in dumped and "<PHONE_" in response.json()["reason"]
    queue = client.get("/v1/escalations", params={"status": "open"}, headers=keys["agent"]).json()["escalations"]
    assert any(e["session_id"] == session and e["transcript"] for e in queue)
    assert client.post("/v1/handoff", json={"session_id": session}, headers=keys["customer2"]).status_code == 403


def test_an_early_handoff_takes_the_customers_language(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    """The button pressed first: the session has no language yet, the page's is the case's (it was English)."""
    early = client.post("/v1/handoff", json={"session_id": "early-handoff", "lang": "es"}, headers=keys["customer"])
    assert early.status_code == 201 and early.json()["lang"] == "es"
    later = "later-handoff"  # a session that has a language keeps it
    _chat(client, keys["customer"], message="How long does delivery take?", session_id=later)
    kept = client.post("/v1/handoff", json={"session_id": later, "lang": "es"}, headers=keys["customer"])
    assert kept.status_code == 201 and kept.json()["lang"] == "en"
    bad = client.post("/v1/handoff", json={"session_id": "x-handoff", "lang": "fr"}, headers=keys["customer"])
    assert bad.status_code == 422


def test_a_handoff_without_messages_needs_its_language(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    """An id nobody used is refused, and not taken, unless the caller says the case's language (the chat page does)."""
    unused = client.post("/v1/handoff", json={"session_id": "never-used"}, headers=keys["customer"])
    assert unused.status_code == 422
    [error] = unused.json()["detail"]
    assert error["loc"] == ["body", "lang"] and "no messages" in error["msg"] and error["type"] == "missing"
    early = client.post("/v1/handoff", json={"session_id": "never-used", "lang": "en"}, headers=keys["customer2"])
    assert early.status_code == 201  # the refusal did not claim the id for the first key
    again = client.post("/v1/handoff", json={"session_id": "never-used"}, headers=keys["customer2"])
    assert again.status_code == 201 and again.json()["id"] == early.json()["id"]  # it has a case now


def test_two_turns_of_one_session_sent_at_once_are_both_kept(client: TestClient,
                                                                keys: dict[str, dict[str, str]]) -> None:  # fmt: skip
    """A double click or a second tab: each turn waits for the other instead of overwriting its saved state."""
    from concurrent.futures import ThreadPoolExecutor

    session = "concurrent-session"
    _chat(client, keys["customer"], message="hello", session_id=session)
    questions = ["How do I return an item?", "How long does a refund take?", "Do you ship to Portugal?"]
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda q: _chat(client, keys["customer"], message=q, session_id=session), questions))
    assert all(a["route"] == "answered" for a in answers)
    messages = client.get(f"/v1/sessions/{session}", headers=keys["customer"]).json()["messages"]
    assert len(messages) == 8 and sorted(m["content"] for m in messages if m["role"] == "user") == sorted(
        ["hello", *questions]
    )


def test_a_resumed_event_stream_ignores_an_id_it_cannot_use(client: TestClient,
                                                            keys: dict[str, dict[str, str]]) -> None:  # fmt: skip
    session = "events-resume"
    _chat(client, keys["customer"], message="hello", session_id=session)
    for bad in ("--5", "-100", "-5", "²".encode(), "1e3", ""):
        with client.stream("GET", f"/v1/sessions/{session}/events", params={"wait": 0.2},
                           headers={**keys["customer"], "Last-Event-ID": bad}) as response:  # fmt: skip
            body = response.read().decode("utf-8")
        assert response.status_code == 200 and body.startswith("event: status"), (bad, body)
        assert "event: message" not in body, bad  # only new messages, none repeated
    with client.stream("GET", f"/v1/sessions/{session}/events", params={"wait": 0.2},
                       headers={**keys["customer"], "Last-Event-ID": "0"}) as response:  # fmt: skip
        body = response.read().decode("utf-8")
    assert body.count("event: message") == 1 and "id: 1" in body  # the answer after message 0


def test_malformed_requests_are_422_with_reasons(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    headers = keys["customer"]
    cases: list[tuple[Any, str]] = [
        ({}, "message"),
        ({"message": ""}, "message"),
        ({"message": "hi", "mode": "telepathy"}, "mode"),
        ({"message": "hi", "lang": "fr"}, "lang"),
        ({"message": "hi", "session_id": "../../etc"}, "session_id"),
        ({"message": "hi", "unexpected": 1}, "unexpected"),
        ({"message": 42}, "message"),
        ({"message": "x" * (MAX_MESSAGE + 1)}, "message"),
    ]
    for body, field in cases:
        response = client.post("/v1/chat", json=body, headers=headers)
        assert response.status_code == 422, body
        errors = response.json()["detail"]
        assert any(field in map(str, e["loc"]) for e in errors), (body, errors)
        assert all(set(e) == {"loc", "msg", "type"} for e in errors)  # no echo of the input
    bad_json = client.post("/v1/chat", content=b"{not json", headers={**headers, "Content-Type": "application/json"})
    assert bad_json.status_code == 422
    assert client.get("/v1/kb/search", params={"q": "x", "k": 0}, headers=keys["agent"]).status_code == 422
    assert client.get("/v1/kb/search", headers=keys["agent"]).status_code == 422


def test_a_too_deeply_nested_body_says_so(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    body = b'{"message": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    nested = client.post("/v1/chat", content=body, headers={**keys["customer"], "Content-Type": "application/json"})
    assert nested.status_code == 400 and "nested too deeply" in nested.json()["detail"]


def test_a_body_not_sent_as_json_says_which_content_type(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    for content_type in (None, "text/plain"):
        headers = {**keys["customer"], **({"Content-Type": content_type} if content_type else {})}
        response = client.post("/v1/chat", content=b'{"message": "hi"}', headers=headers)
        assert response.status_code == 422, content_type
        [error] = response.json()["detail"]
        assert error["loc"] == ["body"] and "Content-Type: application/json" in error["msg"], error


def test_control_and_bidi_characters_are_not_stored(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    """A bidi override can make a stored message read as something else; controls can rewrite a terminal."""
    hidden = "\u202e\u202a\u2066\u2069\x00\x07\x1b\x7f\x9b"
    session = "controls-session"
    _chat(client, keys["customer"], message=f"How do I return\u202e an item?{hidden}", session_id=session)
    messages = client.get(f"/v1/sessions/{session}", headers=keys["customer"]).json()["messages"]
    assert messages[0]["content"] == "How do I return an item?"
    feedback = client.post("/v1/feedback", json={"session_id": session, "turn": 0, "rating": "up",
                                                 "comment": f"ok{hidden}"}, headers=keys["customer"])  # fmt: skip
    assert feedback.json()["comment"] == "ok"
    case = client.post("/v1/handoff", json={"session_id": session, "reason": f"call me{hidden}"},
                       headers=keys["customer"]).json()  # fmt: skip
    assert case["reason"] == "call me" and case["transcript"][0]["content"] == "How do I return an item?"


def test_a_message_of_invisible_characters_only_is_blank(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    """Controls and zero-width characters are removed before a message is kept: one made only of them was answered
    as an empty turn (a greeting under route out_of_scope) and its session id taken, not refused as blank."""
    for message in ("\x00\x01", "\u200b\u200d", " \x1b\u202e "):
        for route in ("/v1/chat", "/v1/chat/stream"):
            body = {"message": message, "session_id": "invisible"}
            response = client.post(route, json=body, headers=keys["customer"])
            assert response.status_code == 422, (route, message, response.text)
            [error] = response.json()["detail"]
            assert error["loc"] == ["body", "message"] and error["msg"] == "message is blank"
    assert client.get("/v1/sessions/invisible", headers=keys["customer"]).status_code == 404


def test_the_language_the_client_asks_for_is_the_answers(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    # `lang` is the answer language (detected only when omitted): a greeting or a thank-you was answered in the
    # language the small-talk rail read in it, and a message in another language reported the fallback language.
    for message, lang, words in [("hola", "en", "Hello"), ("gracias", "en", "welcome"), ("hello", "es", "Hola"),
                                 ("thanks!", "es", "nada")]:  # fmt: skip
        for route in ("/v1/chat", "/v1/chat/stream"):
            response = client.post(route, json={"message": message, "lang": lang}, headers=keys["customer"])
            assert response.status_code == 200, response.text
            text = response.text if route == "/v1/chat" else response.text.split("event: final\ndata: ")[1]
            result = json.loads(text)
            assert result["route"] == "smalltalk" and result["lang"] == lang, (route, message, result)
            assert words in result["answer"], (route, message, result["answer"])
    french = "Bonjour, où est ma commande ? Je l'attends depuis une semaine."
    result = _chat(client, keys["customer"], message=french, lang="es", session_id="asked-in-spanish")
    assert result["reason"] == "unsupported_language" and result["lang"] == "es"


def test_a_mode_the_server_cannot_run_is_a_clear_409(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    response = client.post("/v1/chat", json={"message": "hi", "mode": "finetune"}, headers=keys["customer"])
    assert response.status_code == 409
    assert "finetune" in response.json()["detail"]


def test_a_repetitive_message_as_long_as_allowed_is_answered(
    api_config: ApiConfig, chat_service: Any, keys: dict[str, dict[str, str]]
) -> None:
    """ "1-1-1-..." as long as the default cap (40,000 characters) timed out a PII pattern: the chat answered 500."""
    with TestClient(create_app(replace(api_config, max_message_chars=40_000), service=chat_service)) as client:
        response = client.post("/v1/chat", json={"message": "1-" * 20_000, "session_id": "long-1"},
                               headers=keys["customer"])  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["route"] in ("answered", "out_of_scope", "refused", "handoff")
    assert "couldn't read" not in response.json()["answer"]  # checked for personal data in time, not set aside


def _messages(client: TestClient, headers: dict[str, str], session: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/sessions/{session}", headers=headers)
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


def test_a_retried_message_with_its_idempotency_key_is_answered_once(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    """A client that lost the answer (a timeout, a dropped connection) sends the message again: with the same
    Idempotency-Key it gets the first answer back instead of a second turn in the conversation."""
    session, customer = "retried-session", keys["customer"]
    body = {"message": "How long does a refund take? My card is 4111 1111 1111 1111", "session_id": session}
    headers = {**customer, "Idempotency-Key": "msg-0001"}
    first = client.post("/v1/chat", json=body, headers=headers)
    again = client.post("/v1/chat", json=body, headers=headers)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json()["answer"] == first.json()["answer"] and again.json()["sources"] == first.json()["sources"]
    assert again.json()["replayed"] is True and first.json()["replayed"] is False
    assert again.headers["Idempotent-Replayed"] == "true"
    assert [m["role"] for m in _messages(client, customer, session)] == ["user", "assistant"]
    # streamed: the same answer, as the final event, and still one turn
    with client.stream("POST", "/v1/chat/stream", json=body, headers=headers) as response:
        text = "".join(response.iter_text())
    final = json.loads(text.split("event: final\ndata: ")[1].split("\n")[0])
    assert final["answer"] == first.json()["answer"] and final["replayed"] is True
    assert len(_messages(client, customer, session)) == 2
    # a new key is a new message; the same key with another message is refused, saying why
    assert _chat(client, customer, message="And for a gift card?", session_id=session)["replayed"] is False
    assert len(_messages(client, customer, session)) == 4
    other = client.post("/v1/chat", json={**body, "message": "Where is my order?"},
                        headers={**customer, "Idempotency-Key": "msg-0002"})  # fmt: skip
    assert other.status_code == 200
    reused = client.post("/v1/chat", json={**body, "message": "And my invoice?"},
                         headers={**customer, "Idempotency-Key": "msg-0002"})  # fmt: skip
    assert reused.status_code == 422 and reused.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert "another message" in reused.json()["detail"][0]["msg"]
    assert len(_messages(client, customer, session)) == 6
    bad = client.post("/v1/chat", json=body, headers={**customer, "Idempotency-Key": "x" * 300})
    assert bad.status_code == 422 and "Idempotency-Key" in bad.text


def test_a_retried_message_to_the_agent_is_kept_once(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    customer, agent, session = keys["customer"], keys["agent"], "retried-while-held"
    _chat(client, customer, message="¿Cuánto tarda el envío estándar?", session_id=session)
    result = _chat(client, customer, message="Quiero hablar con una persona, por favor.", session_id=session)
    escalation_id = result["guardrails"]["handoff"]["escalation_id"]
    assert client.post(f"/v1/escalations/{escalation_id}/claim", headers=agent).status_code == 200
    body = {"message": "Sigo esperando el paquete", "session_id": session}
    headers = {**customer, "Idempotency-Key": "k1"}
    first = client.post("/v1/chat", json=body, headers=headers).json()
    again = client.post("/v1/chat", json=body, headers=headers).json()
    assert first["route"] == again["route"] == "human" and again["replayed"] is True
    assert again["guardrails"]["human"]["message_id"] == first["guardrails"]["human"]["message_id"]
    kept = [m for m in _messages(client, customer, session) if m.get("author") == "customer"]
    assert [m["content"] for m in kept] == ["Sigo esperando el paquete"]
    client.post(f"/v1/escalations/{escalation_id}/resolve", headers=agent)
