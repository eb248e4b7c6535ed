"""Health, readiness, metrics, body-size limit, rate limit, CORS, JSON 500s, and an app that is not ready."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.config import ApiConfig
from api.keys import KeyStore
from api.logs import LOGGER_NAME
from tests.api.conftest import MAX_BODY


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "detail": None, "index_version": None}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ok" and ready.json()["index_version"]


def test_head_answers_like_get_without_a_body(client: TestClient) -> None:
    for path in ("/healthz", "/readyz"):
        get, head = client.get(path), client.head(path)
        assert head.status_code == get.status_code == 200, path
        assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"]
        assert head.headers["content-length"] == get.headers["content-length"]


def test_metrics_count_requests_and_chat_turns(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    client.post("/v1/chat", json={"message": "Where is my order?"}, headers=keys["customer"])
    text = client.get("/metrics").text
    assert 'supportbot_http_requests_total{method="POST",route="/v1/chat",status="200"}' in text
    assert "supportbot_chat_turns_total{" in text and "supportbot_ready 1.0" in text
    assert "supportbot_http_request_seconds_bucket" in text


def test_oversized_bodies_are_413(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    big = b'{"message": "' + b"a" * (MAX_BODY + 10) + b'"}'
    headers = {**keys["customer"], "Content-Type": "application/json"}
    declared = client.post("/v1/chat", content=big, headers=headers)
    assert declared.status_code == 413 and "larger than" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it is read
        yield big[: MAX_BODY // 2]
        yield big[MAX_BODY // 2 :]

    chunked = client.post("/v1/kb/documents", content=chunks(), headers={**keys["admin"], **headers})
    assert chunked.status_code == 413


def test_rate_limit_is_per_key_429(api_config: ApiConfig, chat_service: Any, keys: dict[str, dict[str, str]]) -> None:
    config = dataclasses.replace(api_config, rate_limit_per_minute=100_000, rate_limit_per_minute_staff=3)
    with TestClient(create_app(config, service=chat_service)) as client:
        codes = [client.get("/v1/kb/gaps", headers=keys["agent"]).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        refused = client.get("/v1/kb/gaps", headers=keys["agent"])
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "3 requests per minute" in refused.json()["detail"]
        assert client.get("/v1/kb/gaps", headers=keys["admin"]).status_code == 200  # another key, its own budget
        assert 'supportbot_rate_limited_total{role="agent"} 2.0' in client.get("/metrics").text


def test_staff_keys_have_their_own_higher_limit(api_config: ApiConfig, chat_service: Any,
                                                keys: dict[str, dict[str, str]]) -> None:  # fmt: skip
    # An agent's console spends about 100 requests a minute: under the customer keys' limit (default 60) agents were
    # refused ("rate limit of 60 requests per minute exceeded"). Staff keys now count against their own setting.
    config = dataclasses.replace(api_config, rate_limit_per_minute=3, rate_limit_per_minute_staff=5)
    with TestClient(create_app(config, service=chat_service)) as client:
        customer = [client.get("/v1/auth/me", headers=keys["customer"]).status_code for _ in range(4)]
        assert customer == [200, 200, 200, 429]
        assert "3 requests per minute" in client.get("/v1/auth/me", headers=keys["customer"]).json()["detail"]
        for role in ("agent", "admin"):
            codes = [client.get("/v1/auth/me", headers=keys[role]).status_code for _ in range(6)]
            assert codes == [200] * 5 + [429], role
        assert "5 requests per minute" in client.get("/v1/auth/me", headers=keys["agent"]).json()["detail"]
    assert ApiConfig(home=api_config.home, index_dir=api_config.index_dir).rate_limit_per_minute_staff == 240


def test_cors_allows_the_configured_origin_only(client: TestClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    allowed = client.options("/v1/chat", headers={"Origin": "http://ui.example", **preflight})
    assert allowed.headers["access-control-allow-origin"] == "http://ui.example"
    denied = client.options("/v1/chat", headers={"Origin": "http://evil.example", **preflight})
    assert "access-control-allow-origin" not in denied.headers


def test_cors_lets_a_page_resume_the_event_stream_with_last_event_id(client: TestClient) -> None:
    # A page on another origin follows GET /v1/sessions/{id}/events with fetch (an EventSource cannot send the key)
    # and resumes with Last-Event-ID, as docs/api.md says: that header is not CORS-safelisted, and the preflight was
    # refused ("400 Disallowed CORS headers"), so a cross-origin chat widget could not resume its stream.
    preflight = {"Origin": "http://ui.example", "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "authorization,last-event-id"}  # fmt: skip
    allowed = client.options("/v1/sessions/some-session/events", headers=preflight)
    assert allowed.status_code == 200, allowed.text
    assert "last-event-id" in allowed.headers["access-control-allow-headers"].lower()


def test_unhandled_errors_are_json_without_traceback(api_config: ApiConfig, chat_service: Any) -> None:
    app = create_app(api_config, service=chat_service)

    def explode() -> None:
        raise RuntimeError("secret internal state: /srv/supportbot/db password=hunter2")

    app.add_api_route("/explode", explode)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/explode")
    assert response.status_code == 500
    body = response.json()
    assert body["detail"] == "internal server error" and body["request_id"] == response.headers["x-request-id"]
    assert "hunter2" not in response.text and "Traceback" not in response.text


def test_an_app_without_an_index_is_alive_but_not_ready(api_config: ApiConfig, tmp_path: Any) -> None:
    config = dataclasses.replace(api_config, home=tmp_path, index_dir=tmp_path / "missing-index")
    _, key = KeyStore(config.keys_db).create("customer")
    app: FastAPI = create_app(config)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable" and ready.json()["detail"]
        assert client.head("/readyz").status_code == 503
        chat = client.post("/v1/chat", json={"message": "hi"}, headers={"Authorization": f"Bearer {key}"})
        assert chat.status_code == 503 and "not ready" in chat.json()["detail"]
        assert client.post("/v1/chat", json={"message": "hi"}).status_code == 401  # auth still comes first


@contextlib.contextmanager
def _read_only(*connections: sqlite3.Connection) -> Iterator[None]:
    """The SQLite files behind ``connections`` refuse every write (as on a read-only mount) for the block."""
    for conn in connections:
        conn.execute("PRAGMA query_only = ON")
    try:
        yield
    finally:
        for conn in connections:
            conn.execute("PRAGMA query_only = OFF")


def test_a_data_home_that_cannot_be_written_is_a_503_and_keeps_what_was_stored(
    client: TestClient, chat_service: Any, keys: dict[str, dict[str, str]]
) -> None:
    # A full disk (or a data home remounted read-only) made every chat turn and feedback a 500 "internal server
    # error" with a sqlite3 traceback in the log ("database or disk is full", "attempt to write a readonly
    # database"): no Retry-After, and nothing told the operator it was the disk. Now a 503 that says so.
    session = f"disk-{uuid.uuid4().hex}"
    chat = {"message": "How long does standard shipping take?", "session_id": session}
    assert client.post("/v1/chat", json=chat, headers=keys["customer"]).status_code == 200
    with _read_only(chat_service._conn, chat_service.store.db._db):
        refused = [
            client.post("/v1/chat", json={**chat, "message": "And to the Canary Islands?"}, headers=keys["customer"]),
            client.post(
                "/v1/feedback", json={"session_id": session, "turn": 0, "rating": "up"}, headers=keys["customer"]
            ),
        ]
    for response in refused:
        request_id = response.headers["x-request-id"]
        assert response.status_code == 503 and response.headers["retry-after"], response.text
        assert response.json()["detail"] == (
            "the state database (the data home's SQLite files) cannot be written (a full disk or a read-only mount); "
            f"the server log has the error (request {request_id})"
        )
    read = client.get(f"/v1/sessions/{session}", headers=keys["customer"]).json()["messages"]
    assert [m["role"] for m in read] == ["user", "assistant"]  # the turn stored before is kept
    again = client.post("/v1/chat", json={**chat, "message": "And to the Canary Islands?"}, headers=keys["customer"])
    assert again.status_code == 200  # the same process, once the disk takes writes again
    assert len(client.get(f"/v1/sessions/{session}", headers=keys["customer"]).json()["messages"]) == 4


def test_a_full_disk_is_told_from_other_sqlite_errors(tmp_path: Path) -> None:
    from graph.db import sqlite_storage_fault

    conn = sqlite3.connect(tmp_path / "small.sqlite")
    conn.execute("CREATE TABLE t (x BLOB)")
    conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
    with pytest.raises(sqlite3.OperationalError) as full:
        conn.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    with pytest.raises(sqlite3.OperationalError) as typo:
        conn.execute("SELECT * FROM no_such_table")
    assert "full" in str(full.value) and sqlite_storage_fault(full.value)
    assert not sqlite_storage_fault(typo.value)  # a bug stays a 500


def test_a_stream_that_fails_midway_names_its_request_in_the_event_and_the_log(
    client: TestClient, chat_service: Any, keys: dict[str, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    # A streamed answer that failed after its first sentence (here the conversation could not be saved) ended with
    # `event: error` {"detail": "the answer could not be completed"} and the log said "stream failed:
    # OperationalError: ...": neither named the request, so with two replicas and many streams the customer's
    # error could not be tied to its log line.
    session = f"stream-{uuid.uuid4().hex}"
    chat = {"message": "How long does standard shipping take?", "session_id": session}
    assert client.post("/v1/chat", json=chat, headers=keys["customer"]).status_code == 200
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME), _read_only(chat_service._conn):
        streamed = client.post("/v1/chat/stream", json={**chat, "message": "And to the Canary Islands?"},
                               headers=keys["customer"])  # fmt: skip
    request_id = streamed.headers["x-request-id"]
    events = [block for block in streamed.text.split("\n\n") if block.strip()]
    assert events[0].startswith("event: token") and events[-1].startswith("event: error"), streamed.text
    error = json.loads(events[-1].split("data: ", 1)[1])
    assert error["request_id"] == request_id
    assert error["detail"] == f"the answer could not be completed; the server log has the error (request {request_id})"
    logged = [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME and "stream failed" in r.getMessage()]
    assert len(logged) == 1 and request_id in logged[0] and "OperationalError" in logged[0], logged
