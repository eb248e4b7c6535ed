"""The API on both state backends, in process: two apps over the same state stand for two replicas (each app has its
own runtime: key store, limiter, store). SQLite (the default) and PostgreSQL (skips without
SUPPORTBOT_TEST_DATABASE_URL) run the same flows; only the rate limit differs by design (per process on SQLite)."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.config import ApiConfig
from tests.postgres import pg_url  # noqa: F401

LIMIT = 6


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def pair(request: pytest.FixtureRequest, api_config: ApiConfig) -> Iterator[tuple[TestClient, TestClient, ApiConfig]]:
    """Two apps ("replicas") on one state backend, with a low rate limit."""
    if request.param == "sqlite":
        config = dataclasses.replace(api_config, rate_limit_per_minute=LIMIT)
        service = request.getfixturevalue("chat_service")  # the session's service, on the home's SQLite files
    else:
        from graph.service import ChatService

        url = request.getfixturevalue("pg_url")
        config = dataclasses.replace(api_config, rate_limit_per_minute=LIMIT, database_url=url)
        service = ChatService(config.graph_config())
    with TestClient(create_app(config, service=service)) as one, TestClient(create_app(config, service=service)) as two:
        yield one, two, config


def _key(config: ApiConfig, role: str = "customer") -> tuple[str, dict[str, str]]:
    record, key = config.key_store().create(role, f"{role}-{uuid.uuid4().hex[:6]}")
    return record.id, {"Authorization": f"Bearer {key}"}


def _chat(client: TestClient, headers: dict[str, str], session: str, message: str) -> dict[str, Any]:
    response = client.post("/v1/chat", json={"message": message, "session_id": session}, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_memory_handoff_and_feedback_across_apps(pair: tuple[TestClient, TestClient, ApiConfig]) -> None:
    one, two, config = pair
    _, customer = _key(config)
    _, agent = _key(config, "agent")
    session = f"pair-{uuid.uuid4().hex[:8]}"
    _chat(one, customer, session, "¿Cómo hago una devolución?")
    follow = _chat(two, customer, session, "¿y cuánto tarda el reembolso?")
    assert follow["guardrails"]["followup"]["resolved"] and follow["route"] == "answered"
    assert two.post("/v1/feedback", json={"session_id": session, "turn": 1, "rating": "up"},
                    headers=customer).status_code == 201  # fmt: skip
    escalation = two.post("/v1/handoff", json={"session_id": session}, headers=customer)
    assert escalation.status_code == 201
    escalation_id = escalation.json()["id"]
    assert one.post(f"/v1/escalations/{escalation_id}/claim", headers=agent).status_code == 200
    _, other_agent = _key(config, "agent")
    assert two.post(f"/v1/escalations/{escalation_id}/claim", headers=other_agent).status_code == 409
    assert two.post(f"/v1/escalations/{escalation_id}/messages", json={"text": "Hola, te ayudo yo."},
                    headers=agent).status_code == 201  # fmt: skip
    seen = one.get(f"/v1/sessions/{session}", headers=customer).json()
    assert seen["handoff"]["status"] == "assigned"
    assert [m["content"] for m in seen["messages"] if m["role"] == "agent"] == ["Hola, te ayudo yo."]


def test_revocation_is_seen_by_both_apps(pair: tuple[TestClient, TestClient, ApiConfig]) -> None:
    one, two, config = pair
    key_id, headers = _key(config)
    assert one.get("/v1/auth/me", headers=headers).status_code == 200
    config.key_store().revoke(key_id)  # `supportbot keys revoke`
    assert one.get("/v1/auth/me", headers=headers).status_code == 401
    assert two.get("/v1/auth/me", headers=headers).status_code == 401


def test_rate_limit_is_shared_only_with_a_database(pair: tuple[TestClient, TestClient, ApiConfig]) -> None:
    one, two, config = pair
    _, headers = _key(config)
    codes = [(one, two)[n % 2].get("/v1/auth/me", headers=headers).status_code for n in range(2 * LIMIT + 2)]
    allowed = codes.count(200)
    if config.database_url:  # one bucket for both apps
        assert LIMIT <= allowed <= LIMIT + 1 and codes[-2:] == [429, 429], codes
    else:  # a bucket per process: each app allows the limit
        assert allowed == 2 * LIMIT, codes


def test_the_queue_ages_a_case_by_how_long_its_customer_has_waited_for_a_reply(
    pair: tuple[TestClient, TestClient, ApiConfig],
) -> None:
    """``older_than`` and ``order=oldest`` went by the case's creation: a case an agent had just answered sorted
    first, and a customer writing again after a reply counted as waiting since the hand-off."""
    one, two, config = pair
    _, agent = _key(config, "agent")
    _, customer = _key(config)
    sessions = [f"waits-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    first, second = (one.post("/v1/handoff", json={"session_id": s, "lang": "es"}, headers=customer).json()["id"]
                     for s in sessions)  # fmt: skip
    for case in (first, second):
        assert two.post(f"/v1/escalations/{case}/claim", headers=agent).status_code == 200

    def queue(**params: Any) -> dict[str, float | None]:
        answer = one.get("/v1/escalations", params={"status": "assigned", "mine": "true", **params}, headers=agent)
        assert answer.status_code == 200, answer.text
        return {e["id"]: e["waiting_since"] for e in answer.json()["escalations"]}

    since = queue(order="oldest")
    assert list(since) == [first, second]  # nobody answered yet: both wait since their hand-off
    listed = one.get("/v1/escalations", params={"mine": "true"}, headers=agent).json()["escalations"]
    cases = {e["id"]: e for e in listed}
    assert since == {case: cases[case]["created_at"] for case in (first, second)}
    # The agent answers the first customer: nobody waits on that case any more.
    assert two.post(f"/v1/escalations/{first}/messages", json={"text": "Hola, ya lo estoy mirando."},
                    headers=agent).status_code == 201  # fmt: skip
    assert queue(order="oldest") == {second: since[second], first: None}
    assert list(queue(older_than=0)) == [second]
    assert one.get(f"/v1/escalations/{second}", headers=agent).status_code == 200  # a draft is no reply
    time.sleep(2.0)
    # The first customer writes again: they wait from this message, not from their hand-off.
    held = two.post("/v1/chat", json={"message": "¿Alguna novedad?", "session_id": sessions[0]}, headers=customer)
    assert held.status_code == 200 and held.json()["route"] == "human", held.text
    again = queue(order="oldest")
    assert list(again) == [second, first] and again[second] == since[second], again
    assert again[first] is not None and again[first] - since[second] >= 2.0, again
    # Between the two: only the second has waited that long (a request is far quicker than the 1 s margin).
    assert list(queue(older_than=time.time() - (again[first] + since[second]) / 2)) == [second]
    two.post("/v1/chat", json={"message": "Hola?", "session_id": sessions[0]}, headers=customer)
    assert queue(order="oldest")[first] == again[first]  # the first unanswered message counts
    # Back to the queue, the second customer still waits since the hand-off; a closed case waits on nobody.
    assert one.post(f"/v1/escalations/{second}/release", headers=agent).json()["waiting_since"] == since[second]
    assert one.post(f"/v1/escalations/{first}/resolve", headers=agent).json()["waiting_since"] is None
    assert first not in queue(status="closed", older_than=0)
    assert one.post(f"/v1/escalations/{second}/resolve", headers=agent).status_code == 200


def test_a_support_file_written_before_waiting_since_gets_it_from_its_messages(tmp_path: Path) -> None:
    """The SQLite twin of Alembic revision 0003: open cases of an older file wait since the hand-off, or since the
    customer's first message after the agent's last reply (a draft is no reply); none after the agent's reply."""
    import sqlite3

    from graph.store import SupportStore

    path = tmp_path / "support.sqlite"
    with sqlite3.connect(path) as db:  # the escalations table before waiting_since
        db.executescript(
            "CREATE TABLE escalations (id TEXT PRIMARY KEY, session_id TEXT, lang TEXT, reason TEXT, transcript TEXT,"
            " status TEXT, created_at REAL, assigned_to TEXT, assigned_name TEXT, updated_at REAL, note TEXT);"
            "CREATE TABLE session_messages (id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, escalation_id TEXT,"
            " role TEXT NOT NULL, content TEXT NOT NULL, author TEXT, after_turns INTEGER NOT NULL,"
            " draft INTEGER NOT NULL, meta TEXT, created_at REAL NOT NULL);"
        )
        for case, status, at in [("fresh", "open", 100.0), ("again", "assigned", 200.0),
                                 ("answered", "assigned", 300.0), ("closed", "resolved", 50.0)]:  # fmt: skip
            db.execute("INSERT INTO escalations (id, session_id, lang, reason, transcript, status, created_at) VALUES"
                       " (?, ?, 'es', 'customer_request', '[]', ?, ?)", (case, case, status, at))  # fmt: skip
        for case, role, draft, at in [("again", "user", 0, 210.0), ("again", "agent", 1, 215.0),
                                      ("again", "agent", 0, 220.0), ("again", "user", 0, 230.0),
                                      ("again", "user", 0, 240.0), ("answered", "user", 0, 310.0),
                                      ("answered", "agent", 0, 320.0)]:  # fmt: skip
            db.execute("INSERT INTO session_messages (session_id, escalation_id, role, content, after_turns, draft,"
                       " created_at) VALUES (?, ?, ?, 'x', 1, ?, ?)", (case, case, role, draft, at))  # fmt: skip
    store = SupportStore(path)
    waits = {e["id"]: e["waiting_since"] for e in store.escalations(oldest_first=True)}
    assert waits == {"fresh": 100.0, "again": 230.0, "answered": None, "closed": None}
    assert list(waits) == ["fresh", "again", "closed", "answered"]  # nobody waits on the last two: oldest first
    store.close()
