"""``supportbot serve``, ``ui`` and ``demo``: the API, the Streamlit front end, and both together."""

from __future__ import annotations

import typer

from supportbot.cli._common import not_built


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind."),
    port: int = typer.Option(8000, "--port", help="Port of the API."),
) -> None:
    """Run the REST API."""
    not_built("serve", 7)


def ui(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind."),
    port: int = typer.Option(8501, "--port", help="Port of the Streamlit UI."),
) -> None:
    """Run the Streamlit front end."""
    not_built("ui", 7)


def demo() -> None:
    """Build the bundled index if missing, start the API and the UI, print the URLs and a demo key."""
    not_built("demo", 7)
