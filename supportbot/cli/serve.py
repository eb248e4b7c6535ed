"""``supportbot serve``, ``ui`` and ``demo``: the API, the Streamlit front end, and both together."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from supportbot.cli._common import fail, restore_signals
from supportbot.settings import get_settings

if TYPE_CHECKING:
    from supportbot.cli._demo import DemoCredentials


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind."),
    port: int = typer.Option(8000, "--port", help="Port of the API."),
) -> None:
    """Run the REST API (OpenAPI docs at /docs; create keys with `supportbot keys create`)."""
    from api import server as api_server
    from api.app import create_app
    from api.config import ApiConfig
    from api.logs import configure_logging
    from graph.db import DatabaseError

    settings = get_settings()
    try:
        config = ApiConfig.from_settings(settings)
    except ValueError as exc:
        fail(f"invalid API settings: {exc}")
    no_index = config.search_backend == "faiss" and not (config.index_dir / "CURRENT").exists()
    syncs = bool(config.database_url and config.index_sync)
    if no_index and not syncs:
        _fail_no_index(config.index_dir)
    configure_logging(settings.log_level, settings.log_format)
    try:  # a shared database that is down or has no schema stops here, with what to do
        keys = config.key_store()
        if config.redis_url:  # so does a Redis that is down or refuses the URL's password or database
            from api.ratelimit import RedisRateLimiter

            RedisRateLimiter(1, config.redis_url).check()
        if no_index:  # a new replica with an empty folder starts from the version the others published
            from api.index_sync import IndexSync

            if IndexSync(keys.db, config.index_dir).latest() is None:
                _fail_no_index(config.index_dir, published=True)
    except DatabaseError as exc:
        fail(str(exc))
    from supportbot.cli._demo import port_is_free

    if not config.pii_key:  # the hashes of what customers typed are keyed by a salt the same checkpoint holds
        typer.echo("warning: SUPPORTBOT_PII_KEY is not set: anyone with a copy of the state database can find the "
                   "DNI, phone and card numbers customers typed by trying values against the hashes kept with each "
                   "conversation (every DNI in minutes); set it to a long random secret, the same on every replica "
                   "(docs/api.md, Security)", err=True)  # fmt: skip
    if not port_is_free(host, port):  # before the service loads (seconds), as `ui` and `demo` check theirs
        fail(f"port {port} on {host} is already in use: pass another --port")
    if not keys.list(include_revoked=False):
        typer.echo("warning: no API keys yet; create one with `supportbot keys create --role customer`", err=True)
    typer.echo(f"supportbot API on http://{host}:{port} (docs at /docs)", err=True)
    restore_signals()  # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises it to end the process
    # api.server: open event streams end on a stop signal instead of holding the shutdown for their wait
    api_server.serve(create_app(config), host=host, port=port, log_level=settings.log_level.lower(),
                     uvicorn_logging=settings.log_format == "text")  # fmt: skip


def _fail_no_index(index_dir: Path, published: bool = False) -> NoReturn:
    build = f"supportbot kb ingest data/kb --index {index_dir}"
    also = f", and no version of it ({index_dir.name!r}) is published in the database" if published else ""
    fail(f"no knowledge-base index at {index_dir}{also}: build it with `{build}` (or set SUPPORTBOT_INDEX_DIR)")


def ui(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind."),
    port: int = typer.Option(8501, "--port", help="Port of the Streamlit UI."),
) -> None:
    """Run the Streamlit front end (talks to SUPPORTBOT_API_URL when set, else runs the agent in-process)."""
    import os

    from supportbot.cli._demo import port_is_free, streamlit_command, ui_environment

    env = ui_environment(get_settings())
    if not port_is_free(host, port):
        fail(f"port {port} on {host} is already in use: pass another --port")
    backend = f"the API at {env['SUPPORTBOT_API_URL']}" if env.get("SUPPORTBOT_API_URL") else "the in-process agent"
    typer.echo(f"supportbot UI on http://{host}:{port} ({backend})", err=True)
    command = streamlit_command(host, port)
    os.execve(command[0], command, env)  # Streamlit replaces this process: Ctrl-C and signals reach it directly


def demo(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface both servers bind."),
    api_port: int = typer.Option(8000, "--api-port", help="Port of the API."),
    ui_port: int = typer.Option(8501, "--ui-port", help="Port of the Streamlit UI."),
    check: bool = typer.Option(
        False,
        "--check",
        help="Start everything, check the API answers a chat and the UI responds, then stop (CI).",
        metavar="",
    ),
    timeout: float = typer.Option(300.0, "--timeout", min=1.0, help="Seconds to wait for both servers to be ready."),
) -> None:
    """Build the bundled index if missing, start the API and the UI, print the URLs and a demo key."""
    import os
    import sys
    import time

    from api.config import ApiConfig
    from supportbot.cli._demo import (
        Child,
        demo_credentials,
        port_is_free,
        stop_on_signals,
        streamlit_command,
        ui_environment,
        url_host,
        wait_until,
    )
    from supportbot.cli._generator import use_shipped_generator

    for name, port in (("API", api_port), ("UI", ui_port)):
        if not port_is_free(host, port):
            fail(f"port {port} on {host} is already in use: stop what runs there or pass --{name.lower()}-port")
    # the generator's base is provisioned (minutes, once) only after the cheap checks
    generator_line = use_shipped_generator(get_settings().home)
    get_settings.cache_clear()  # the generator settings above are read from the environment
    settings = get_settings()
    if generator_line:
        typer.echo(generator_line)
    try:
        config = ApiConfig.from_settings(settings)
    except ValueError as exc:
        fail(f"invalid API settings: {exc}")
    if config.search_backend == "faiss" and not (config.index_dir / "CURRENT").exists():
        _build_bundled_index(config.index_dir, settings.home)

    credentials = demo_credentials(config.keys_db)
    demo_key = credentials.customer_key

    base = url_host(host)
    api_url, ui_url = f"http://{base}:{api_port}", f"http://{base}:{ui_port}"
    logs = settings.home / "logs"
    api = Child(
        "API",
        [sys.executable, "-m", "supportbot", "serve", "--host", host, "--port", str(api_port)],
        dict(os.environ),
        logs / "demo-api.log",
    )
    ui_env = ui_environment(settings, api_url=api_url, api_key=demo_key)
    front = Child("UI", streamlit_command(host, ui_port), ui_env, logs / "demo-ui.log")
    children = [api, front]
    stop_on_signals()
    try:
        typer.echo(f"starting the API ({api_url}) and the UI ({ui_url}); logs in {logs}")
        for child in children:
            child.start()
        deadline = time.monotonic() + timeout
        wait_until(f"{api_url}/readyz", children, deadline, accept=lambda r: r.status_code == 200)
        wait_until(f"{ui_url}/_stcore/health", children, deadline, accept=lambda r: r.status_code == 200)
        _print_running(api_url, ui_url, credentials)
        if check:
            _check_demo(api_url, ui_url, demo_key)
            typer.echo("check passed: /healthz, /readyz, a Spanish chat turn and the UI all answered")
            return
        typer.echo("Press Ctrl-C to stop both.")
        while all(child.alive() for child in children):
            time.sleep(0.5)
        dead = next(child for child in children if not child.alive())
        fail(f"the {dead.name} stopped (log {dead.log_path}):\n{dead.log_tail()}")
    except KeyboardInterrupt:
        typer.echo("\nstopping the API and the UI")
    finally:
        for child in reversed(children):
            child.stop()


def _build_bundled_index(index: Path, home: Path) -> None:
    """Ingest the bundled knowledge base into the FAISS folder ``index`` (with a progress bar)."""
    from retrieval.backends import ingest_knowledge_base
    from supportbot.cli._demo import bundled_kb
    from supportbot.cli.kb import progress_bar, retrieval_config, user_errors

    source = bundled_kb()
    typer.echo(f"building the bundled knowledge base {source} into {index} (once; about a minute on a CPU)")
    with user_errors(), progress_bar() as progress:
        report = ingest_knowledge_base(
            "faiss", [source], index, config=retrieval_config(), cache_dir=home, progress=progress
        )
    typer.echo(f"indexed {report['documents']} articles ({report['chunks']} chunks) in {report['seconds']} s")


def _print_running(api_url: str, ui_url: str, credentials: DemoCredentials) -> None:
    """Where the demo runs and how to sign in."""
    typer.echo(
        "\nsupportbot demo is running:\n"
        f"  customer chat:                          {ui_url}\n"
        f"  agent console and evaluation (sign in): {ui_url}/agent\n"
        f"  API (OpenAPI docs at {api_url}/docs):   {api_url}\n"
        f"  customer API key (id {credentials.customer_key_id}): {credentials.customer_key}\n"
        f"  agent sign-in: user {credentials.agent_user}, password {credentials.agent_password}\n"
    )


def _check_demo(api_url: str, ui_url: str, key: str) -> None:
    """The --check probes: liveness, a real chat turn through the API with the demo key, the UI's page."""
    import httpx

    probes = [
        ("GET", f"{api_url}/healthz", None),
        ("POST", f"{api_url}/v1/chat", {"message": "¿Cuánto tarda el envío estándar?"}),
        ("GET", f"{ui_url}/_stcore/health", None),
        ("GET", ui_url, None),
    ]
    for method, url, body in probes:
        try:
            response = httpx.request(method, url, json=body, headers={"X-API-Key": key}, timeout=120.0)
        except httpx.TransportError as exc:
            fail(f"check failed: {method} {url}: {exc}")
        if response.status_code != 200:
            fail(f"check failed: {method} {url} -> HTTP {response.status_code}: {response.text[:300]}")
        if body is not None:
            answer = response.json()
            if answer.get("route") != "answered" or not answer.get("sources"):
                fail(f"check failed: the demo chat turn was not answered from the knowledge base: {answer}")
            typer.echo(f"  chat check: {answer['lang']} answer with {len(answer['sources'])} sources")
