"""401 without a valid key on every protected route, 403 on every role boundary."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

CHAT = {"message": "How do I return an item?"}
NEW_DOC = {"documents": [{"id": "auth-probe-en", "title": "Probe", "text": "A probe article.", "lang": "en"}]}
# (method, path, json body) of every route that needs a key, by the lowest role allowed.
CUSTOMER_ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/v1/chat", CHAT),
    ("POST", "/v1/chat/stream", CHAT),
    ("GET", "/v1/sessions/some-session", None),
    ("POST", "/v1/feedback", {"session_id": "some-session", "turn": 0, "rating": "up"}),
    ("POST", "/v1/handoff", {"session_id": "some-session"}),
    ("GET", "/v1/sessions/some-session/events?wait=1", None),
    ("GET", "/v1/auth/me", None),
]
AGENT_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/v1/kb/search?q=refund", None),
    ("GET", "/v1/kb/documents/return-policy-en", None),
    ("GET", "/v1/kb/gaps", None),
    ("GET", "/v1/escalations", None),
    ("GET", "/v1/escalations/some-escalation", None),
    ("POST", "/v1/escalations/some-escalation/claim", None),
    ("POST", "/v1/escalations/some-escalation/messages", {"text": "Hello"}),
    ("POST", "/v1/escalations/some-escalation/resolve", {"note": "done"}),
    ("POST", "/v1/escalations/some-escalation/release", None),
]
ADMIN_ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/v1/kb/documents", NEW_DOC),
    ("DELETE", "/v1/kb/documents/return-policy-en", None),
]
ALL = CUSTOMER_ROUTES + AGENT_ROUTES + ADMIN_ROUTES


def _call(client: TestClient, method: str, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    return client.request(method, path, json=body, headers=headers or {})


@pytest.mark.parametrize(("method", "path", "body"), ALL, ids=[f"{m} {p}" for m, p, _ in ALL])
def test_no_key_is_401(client: TestClient, method: str, path: str, body: Any) -> None:
    response = _call(client, method, path, body)
    assert response.status_code == 401
    assert "missing API key" in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path", "body"), ALL, ids=[f"{m} {p}" for m, p, _ in ALL])
def test_invalid_and_revoked_keys_are_401(
    client: TestClient, keys: dict[str, dict[str, str]], method: str, path: str, body: Any
) -> None:
    for headers in ({"Authorization": "Bearer sb_nope_notakey"}, {"X-API-Key": "sb_nope"}, keys["revoked"]):
        response = _call(client, method, path, body, headers)
        assert response.status_code == 401, headers
        assert response.json() == {"detail": "invalid or revoked API key"}


FORBIDDEN = [("customer", r) for r in AGENT_ROUTES + ADMIN_ROUTES] + [("agent", r) for r in ADMIN_ROUTES]


@pytest.mark.parametrize(("role", "route"), FORBIDDEN, ids=[f"{r}-{m} {p}" for r, (m, p, _) in FORBIDDEN])
def test_role_boundaries_are_403(
    client: TestClient, keys: dict[str, dict[str, str]], role: str, route: tuple[str, str, Any]
) -> None:
    method, path, body = route
    response = _call(client, method, path, body, keys[role])
    assert response.status_code == 403
    assert f"this key's role is {role}" in response.json()["detail"]


def test_x_api_key_header_is_accepted(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    key = keys["agent"]["Authorization"].removeprefix("Bearer ")
    response = client.get("/v1/kb/search", params={"q": "refund"}, headers={"X-API-Key": key})
    assert response.status_code == 200


def test_ambiguous_or_malformed_credentials_are_401(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    agent = keys["agent"]["Authorization"].removeprefix("Bearer ")
    cases = [
        ({**keys["agent"], "X-API-Key": "sb_other"}, "conflicting API keys"),
        ({"Authorization": f"Basic {agent}"}, "must be 'Bearer <key>'"),
        ({"Authorization": f"Basic {agent}", "X-API-Key": agent}, "must be 'Bearer <key>'"),
        ({**keys["agent"], "X-API-Key": ""}, "X-API-Key header is empty"),
    ]
    for headers, reason in cases:
        response = client.get("/v1/kb/search", params={"q": "refund"}, headers=headers)
        assert response.status_code == 401 and reason in response.json()["detail"], headers
    same = client.get("/v1/kb/search", params={"q": "refund"}, headers={**keys["agent"], "X-API-Key": agent})
    assert same.status_code == 200


def test_higher_roles_inherit_lower_routes(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    assert client.get("/v1/escalations", headers=keys["admin"]).status_code == 200
    assert client.post("/v1/chat", json=CHAT, headers=keys["agent"]).status_code == 200
