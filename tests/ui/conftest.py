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


@pytest.fixture(scope="session")
def api_server(bundled_index: Path, inprocess_backend: Any) -> Iterator[tuple[str, str]]:
    """The real API (uvicorn, in a thread) over the same agent as the page tests; yields (URL, agent key)."""
    import uvicorn

    from api.app import create_app
    from api.config import ApiConfig
    from api.keys import KeyStore

    config = ApiConfig(home=HOME, index_dir=bundled_index)
    keys = KeyStore(config.keys_db)
    _, key = keys.create("agent", name="ui-tests")
    keys.close()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(config, service=inprocess_backend.service), host="127.0.0.1", port=port,
                       log_level="warning", access_log=False)
    )  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", key
    server.should_exit = True
    thread.join(timeout=10)
