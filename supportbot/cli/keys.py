"""``supportbot keys``: API keys with roles."""

from __future__ import annotations

import typer

from supportbot.cli._common import not_built

app = typer.Typer(help="API keys with roles customer, agent and admin.", no_args_is_help=True)


@app.command()
def create(role: str = typer.Option("customer", "--role", help="customer | agent | admin.")) -> None:
    """Create a key (printed once)."""
    not_built("keys create", 7)


@app.command("list")
def list_keys() -> None:
    """List keys (ids and roles, never the secret)."""
    not_built("keys list", 7)


@app.command()
def revoke(key_id: str = typer.Argument(..., help="Id of the key to revoke.")) -> None:
    """Revoke a key."""
    not_built("keys revoke", 7)
