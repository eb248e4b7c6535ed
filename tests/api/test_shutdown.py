"""Stopping a replica: `supportbot serve`'s server (real uvicorn, on a loopback port) stops when asked, even while a
customer's page follows its conversation's event stream."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import httpx
import uvicorn

from api.app import create_app
from api.config import ApiConfig
from api.server import Server
from tests.postgres import free_port


def test_an_open_event_stream_does_not_hold_the_shutdown(
    api_config: ApiConfig, chat_service: Any, keys: dict[str, dict[str, str]]
) -> None:
    # SIGTERM (a rolling restart, docker stop) left `supportbot serve` "Waiting for connections to close" while one
    # GET /v1/sessions/{id}/events was open: up to its wait (300 s by default, 3600 at most), so the orchestrator
    # killed it. The streams now end at their next poll, and the page's EventSource reconnects (to another replica)
    # with Last-Event-ID.
    app = create_app(api_config, service=chat_service)
    port = free_port()
    server = Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    deadline = time.monotonic() + 60
    while not server.started and serving.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    base = f"http://127.0.0.1:{port}"
    chat = httpx.post(f"{base}/v1/chat", json={"message": "How long does shipping take?"}, headers=keys["customer"],
                      timeout=60)  # fmt: skip
    assert chat.status_code == 200, chat.text
    url = f"{base}/v1/sessions/{chat.json()['session_id']}/events"
    lines: list[str] = []
    opened = threading.Event()

    def follow() -> None:
        with httpx.stream("GET", url, params={"after": -1, "wait": 3600}, headers=keys["customer"],
                          timeout=None) as stream:  # fmt: skip
            for line in stream.iter_lines():
                lines.append(line)
                opened.set()

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    assert opened.wait(30), "the event stream did not open"
    try:
        server.handle_exit(signal.SIGTERM, None)  # what the SIGTERM handler calls
        assert app.state.runtime.readiness() == "the service is stopping"  # /readyz's answer, while requests finish
        serving.join(timeout=30)
        reader.join(timeout=5)
        assert not serving.is_alive(), "the server still waits for the open event stream"
        assert not reader.is_alive()
        assert "event: status" in lines and sum(line.startswith("event: message") for line in lines) == 2
    finally:
        server.force_exit = server.should_exit = True
        serving.join(timeout=10)
