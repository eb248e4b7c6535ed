"""``supportbot ui`` and ``supportbot demo`` as a user runs them (subprocesses, real servers)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import API_VARIABLES, HOME, free_port


def run_cli(*argv: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in API_VARIABLES}
    return subprocess.run(
        [sys.executable, "-m", "supportbot", *argv], env={**base, **(env or {})}, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


@pytest.mark.parametrize(
    "argv", [["ui", "--port", "{port}"], ["demo", "--check", "--api-port", "{free}", "--ui-port", "{port}"]]
)
def test_a_busy_port_is_a_clear_error(argv: list[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        result = run_cli(*[a.replace("{port}", port).replace("{free}", str(free_port())) for a in argv])
    assert result.returncode == 1
    assert f"port {port}" in result.stderr and "already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_ui_rejects_an_invalid_api_url() -> None:
    result = run_cli("ui", "--port", str(free_port()), env={"SUPPORTBOT_API_URL": "localhost:8000"})
    assert result.returncode == 1
    assert "SUPPORTBOT_API_URL" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_demo_check_starts_the_api_and_the_ui_then_stops_them(
    bundled_index: Path, inprocess_backend: Any, gemma_home: Path
) -> None:
    # inprocess_backend: the scope rail is fitted in the test home already, so the demo's API starts quickly.
    # gemma_home: the generator's base as the demo provisions it (pull + trim, tested in tests/finetune/test_gemma.py)
    # is pulled once per session; the demo finds it in the data home, as on its second run.
    trimmed = HOME / "models" / "gemma-3-270m-trim"
    if not trimmed.exists():
        trimmed.parent.mkdir(parents=True, exist_ok=True)
        trimmed.symlink_to(gemma_home / "models" / "gemma-3-270m-trim", target_is_directory=True)
    api_port, ui_port = free_port(), free_port()
    env = {"SUPPORTBOT_HOME": str(HOME), "SUPPORTBOT_INDEX_DIR": str(bundled_index)}
    result = run_cli("demo", "--check", "--api-port", str(api_port), "--ui-port", str(ui_port), env=env, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"http://127.0.0.1:{ui_port}" in result.stdout and f"http://127.0.0.1:{api_port}" in result.stdout
    # A customer key for the chat and a separate agent sign-in for the console, both live.
    from api.keys import KeyStore

    customer_key = re.search(r"customer API key \(id \w+\): (sb_\S+)", result.stdout)
    sign_in = re.search(r"agent sign-in: user (\S+), password (\S+)", result.stdout)
    assert customer_key and sign_in, result.stdout
    keys = KeyStore(HOME / "api" / "keys.sqlite")
    record = keys.authenticate(customer_key.group(1))
    assert record is not None and record.role == "customer"
    assert keys.verify_user(sign_in.group(1), sign_in.group(2)) == "agent"
    keys.close()
    assert "chat check: es answer with" in result.stdout and "check passed" in result.stdout
    assert "generator: gemma-270m-support" in result.stdout and "provisioning" not in result.stdout, result.stdout
    for port in (api_port, ui_port):  # both servers were stopped
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"
