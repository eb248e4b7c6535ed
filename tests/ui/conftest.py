"""The UI's tests run the real agent on the bundled index: one ChatService per session, shared by every page test
and by the API that the browser test's UI talks to."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from ui.config import UIConfig

APP = REPO / "ui" / "app.py"
# The question of the browser check; the bundled KB answers it.
SPANISH_QUESTION = "¿Cuánto tarda el envío estándar?"
# The session's test data home: the graph tests fit the scope rail and build the spaCy pipelines there once.
HOME = Path(os.environ["SUPPORTBOT_HOME"])
API_VARIABLES = ("SUPPORTBOT_API_URL", "SUPPORTBOT_API_KEY", "SUPPORTBOT_AGENT_API_KEY", "SUPPORTBOT_EVAL_DIR")


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def inprocess_variables(index: Path) -> dict[str, str]:
    """The variables of an in-process UI on ``index`` in the test data home."""
    return {"SUPPORTBOT_HOME": str(HOME), "SUPPORTBOT_INDEX_DIR": str(index)}


@pytest.fixture(scope="session")
def inprocess_backend(bundled_index: Path) -> Any:
    """The in-process backend the pages get for the test environment, loaded once (Streamlit's resource cache)."""
    from ui.state import cached_backend

    env = {k: v for k, v in os.environ.items() if k not in API_VARIABLES}
    backend = cached_backend(UIConfig.from_env({**env, **inprocess_variables(bundled_index)}))
    backend.health()  # load the graph now, not inside the first page's run
    return backend


@pytest.fixture
def inprocess_env(monkeypatch: pytest.MonkeyPatch, bundled_index: Path, inprocess_backend: Any) -> Path:
    """Environment of an in-process UI on the bundled index; returns the data home."""
    for name, value in inprocess_variables(bundled_index).items():
        monkeypatch.setenv(name, value)
    for name in API_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return HOME


class ApiServer:
    """The real API (uvicorn, in a thread) on a port of its own, which a test can stop and start again (an outage)."""

    def __init__(self, app: Any, agent_key: str) -> None:
        """Serve ``app`` on a free port once started; ``agent_key``: an agent key of its key store."""
        self.app, self.agent_key, self.port = app, agent_key, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start serving; returns once the API accepts connections."""
        import uvicorn

        self._server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._server.started:
            assert self._thread.is_alive() and time.monotonic() < deadline, "the API did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop serving (connections are refused until :meth:`start`)."""
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._thread = None


@pytest.fixture(scope="session")
def api_server(bundled_index: Path, inprocess_backend: Any) -> Iterator[ApiServer]:
    """The real API over the same agent as the page tests (its key store in the test data home), started."""
    from api.app import create_app
    from api.config import ApiConfig
    from api.keys import KeyStore

    config = ApiConfig(home=HOME, index_dir=bundled_index)
    keys = KeyStore(config.keys_db)
    _, key = keys.create("agent", name="ui-tests")
    keys.close()
    server = ApiServer(create_app(config, service=inprocess_backend.service), key)
    server.start()
    yield server
    server.stop()


def customer_key(name: str) -> str:
    """A new customer key in the test data home's key store (the one the test API checks)."""
    from api.keys import KeyStore

    keys = KeyStore(HOME / "api" / "keys.sqlite")
    _, key = keys.create("customer", name=name)
    keys.close()
    return str(key)
