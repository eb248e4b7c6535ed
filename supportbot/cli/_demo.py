"""Helpers of ``supportbot ui`` and ``supportbot demo``: the UI's environment, the bundled index, child processes.

Kept out of ``serve.py`` so that module stays small; only the standard library and light project modules are
imported at module level (``supportbot --help`` must stay fast).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from supportbot.cli._common import fail

DEMO_KEY_NAME = "demo"
DEMO_CUSTOMER_KEY_NAME = "demo-customer"
DEMO_AGENT_USER = "agent"


@dataclass(frozen=True)
class DemoCredentials:
    """What ``supportbot demo`` prints: a customer key (the chat) and an agent sign-in (the console)."""

    customer_key_id: str
    customer_key: str
    agent_user: str
    agent_password: str


def demo_credentials(keys_db: Path) -> DemoCredentials:
    """A fresh customer key and a fresh password for the console user ``agent`` (the previous demo's stop
    working), so the customer chat and the agent console are reached with separate credentials."""
    import secrets

    from api.keys import KeyStore

    keys = KeyStore(keys_db)
    try:
        for old in keys.list(include_revoked=False):
            if old.name in (DEMO_KEY_NAME, DEMO_CUSTOMER_KEY_NAME):  # one live demo key at a time
                keys.revoke(old.id)
        record, customer_key = keys.create("customer", name=DEMO_CUSTOMER_KEY_NAME)
        password = secrets.token_urlsafe(12)
        keys.set_user(DEMO_AGENT_USER, password, "agent")
    finally:
        keys.close()
    return DemoCredentials(record.id, customer_key, DEMO_AGENT_USER, password)


def ui_environment(settings: Any, *, api_url: str | None = None, api_key: str | None = None) -> dict[str, str]:
    """The environment of a Streamlit process: the current one plus the resolved settings as ``SUPPORTBOT_*``.

    The UI package does not import ``supportbot``, so settings from a ``.env`` file reach it this way.
    """
    from ui.config import UIConfig

    try:
        config = UIConfig(
            home=Path(settings.home).resolve(),
            api_url=(api_url or settings.api_url or None),
            api_key=api_key or os.environ.get("SUPPORTBOT_API_KEY") or None,
            agent_api_key=os.environ.get("SUPPORTBOT_AGENT_API_KEY") or None,
            index_dir=Path(settings.resolved_index_dir).resolve(),
            search_backend=settings.search_backend,
            es_url=settings.es_url,
            mode=settings.mode,
            generator=settings.generator,
            model_dir=settings.model_dir,
            openai_base_url=settings.openai_base_url,
            openai_model=settings.openai_model,
            max_message_chars=settings.max_message_chars,
            eval_dir=Path(os.environ["SUPPORTBOT_EVAL_DIR"]) if os.environ.get("SUPPORTBOT_EVAL_DIR") else None,
        )
    except ValueError as exc:
        fail(f"invalid UI settings: {exc}")
    env = dict(os.environ)
    env.update(config.to_env())
    return env


def streamlit_command(host: str, port: int) -> list[str]:
    """The command that runs the Streamlit app headless on ``host:port``."""
    import ui

    app = Path(ui.__file__).resolve().parent / "app.py"
    return [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.address", host, "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
        "--global.developmentMode", "false", "--client.toolbarMode", "minimal",
        # A visitor sees a generic message for an uncaught exception, never its text or traceback (server paths,
        # code); the traceback goes to the server's log.
        "--client.showErrorDetails", "none",
    ]  # fmt: skip


def bundled_kb() -> Path:
    """The bundled demo knowledge base ``data/kb`` (of the working directory, else the one that ships)."""
    from retrieval.bundled import bundled_path

    for candidate in (Path.cwd() / "data" / "kb", bundled_path("kb")):
        if candidate.is_dir():
            return candidate
    fail(f"the bundled knowledge base was not found ({bundled_path('kb')}): reinstall supportbot")


def port_is_free(host: str, port: int) -> bool:
    """Whether ``host:port`` is not taken by another server now (an address this host does not have, or a bind
    refused for another reason, is left to the server to report)."""
    import errno

    try:
        family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    except (OSError, UnicodeError):
        return True
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # as the servers bind: a port a stopped server left in TIME_WAIT is free to them (a replica restarted at once)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno != errno.EADDRINUSE
    return True


def url_host(host: str) -> str:
    """The host to put in a URL for a server bound to ``host`` (a wildcard bind is reached on localhost)."""
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def stop_on_signals() -> None:
    """Turn SIGTERM, and SIGINT even where a non-interactive shell ignores it, into KeyboardInterrupt.

    The demo's ``finally`` then stops its servers: they run in their own process groups, so nothing else would.
    """

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)


@dataclass
class Child:
    """A server started by the demo, in its own process group, logging to a file."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        """Start the process (its output goes to :attr:`log_path`)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.command, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process is not None and self.process.poll() is None

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL it after ``grace_s``."""
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the log."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def wait_until(url: str, children: list[Child], deadline: float, *, accept: Callable[[Any], bool]) -> Any:
    """Poll ``url`` until ``accept(response)``; fail when a child dies or the deadline passes."""
    import httpx

    last = "no answer yet"
    while time.monotonic() < deadline:
        for child in children:
            if not child.alive():
                fail(f"the {child.name} stopped while starting (log {child.log_path}):\n{child.log_tail()}")
        try:
            response = httpx.get(url, timeout=5.0)
            if accept(response):
                return response
            last = f"HTTP {response.status_code}: {response.text[:300]}"
        except httpx.TransportError as exc:
            last = str(exc) or type(exc).__name__
        time.sleep(0.5)
    fail(f"{url} did not become ready in time (last: {last})")
