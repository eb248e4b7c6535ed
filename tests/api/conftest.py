"""One API app over a copy of the bundled index with the real chat service (extractive generator), per session."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.config import ApiConfig
from api.keys import KeyStore

MAX_BODY = 256 * 1024
MAX_MESSAGE = 2000


@pytest.fixture(scope="session")
def api_config(bundled_index: Path, tmp_path_factory: pytest.TempPathFactory) -> ApiConfig:
    """A data home with its own copy of the bundled index (the admin tests write to it)."""
    home = tmp_path_factory.mktemp("api-home")
    shutil.copytree(bundled_index, home / "index")
    return ApiConfig(
        home=home,
        index_dir=home / "index",
        rate_limit_per_minute=100_000,
        rate_limit_per_minute_staff=100_000,
        max_body_bytes=MAX_BODY,
        max_message_chars=MAX_MESSAGE,
        cors_origins=("http://ui.example",),
        cache_dir=Path(os.environ["SUPPORTBOT_HOME"]),  # shared with the other test packages (spaCy, exports)
        password_scrypt_n=2**14,  # 0.04 s per password check, not production's 0.4 s (tests/api/test_passwords.py)
    )


@pytest.fixture(scope="session")
def chat_service(api_config: ApiConfig, bundled_index: Path) -> Any:
    """The real graph service on the copied index, loaded once and shared by every app of the session."""
    from graph.service import ChatService

    service = ChatService(api_config.graph_config())
    # The scope rail fitted for this copy is keyed on the index version, which the copy shares with the bundled
    # index: hand the cache back so later test packages on the bundled index need not fit it again.
    fitted, shared = api_config.index_dir / ".scope", bundled_index / ".scope"
    if fitted.is_dir() and not shared.exists():
        shutil.copytree(fitted, shared)
    return service


@pytest.fixture(scope="session")
def app(api_config: ApiConfig, chat_service: Any) -> FastAPI:
    """The API app under test."""
    return create_app(api_config, service=chat_service)


@pytest.fixture(scope="session")
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client with the app started (lifespan run: runtime loaded)."""
    with TestClient(app) as test_client:
        yield test_client


def _headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="session")
def keys(api_config: ApiConfig) -> dict[str, dict[str, str]]:
    """Request headers for two customers, an agent and an admin, plus a revoked key."""
    store = KeyStore(api_config.keys_db)
    out = {name: _headers(store.create(role, name)[1]) for name, role in [
        ("customer", "customer"), ("customer2", "customer"), ("agent", "agent"), ("admin", "admin")
    ]}  # fmt: skip
    revoked, key = store.create("admin", "revoked")
    store.revoke(revoked.id)
    out["revoked"] = _headers(key)
    store.close()
    return out


class Gate:
    """Holds every caller of :meth:`hold` until :attr:`release` is set, counting how many are inside at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self._guard = threading.Lock()
        self.now = self.most = 0

    def hold(self) -> None:
        """Wait for the release (at most 60 s), counted as inside meanwhile."""
        with self._guard:
            self.now += 1
            self.most = max(self.most, self.now)
        self.release.wait(60)
        with self._guard:
            self.now -= 1


def others_served_during(client: TestClient, keys: dict[str, dict[str, str]], send: Any, gate: Gate,
                         n: int = 45) -> None:  # fmt: skip
    """Run ``send`` in ``n`` threads at once (requests that ``gate`` holds), check that another key's GET
    /v1/auth/me is answered meanwhile (a free worker thread), then release them and wait for them to finish."""
    senders = [threading.Thread(target=send, daemon=True) for _ in range(n)]
    me: list[int] = []
    other = threading.Thread(target=lambda: me.append(client.get("/v1/auth/me", headers=keys["customer2"]).status_code),
                             daemon=True)  # fmt: skip
    try:
        for thread in senders:
            thread.start()
        time.sleep(2)  # the n have arrived
        other.start()
        other.join(timeout=20)
        assert me == [200], "another caller found no free worker thread"
    finally:
        gate.release.set()
        for thread in senders:
            thread.join(timeout=120)
