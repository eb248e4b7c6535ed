"""The API on both state backends, in process: two apps over the same state stand for two replicas (each app has its
own runtime: key store, limiter, store). SQLite (the default) and PostgreSQL (skips without
SUPPORTBOT_TEST_DATABASE_URL) run the same flows; only the rate limit differs by design (per process on SQLite)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
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
