"""``supportbot keys``: API keys with roles (stored hashed in ``<home>/api/keys.sqlite``)."""

from __future__ import annotations

from typing import Any

import typer

from supportbot.cli._common import fail, print_json
from supportbot.settings import get_settings

app = typer.Typer(help="API keys with roles customer, agent and admin.", no_args_is_help=True)


def _store() -> Any:
    from api.config import ApiConfig
    from api.keys import KeyStore

    return KeyStore(ApiConfig.from_settings(get_settings()).keys_db)


@app.command()
def create(
    role: str = typer.Option("customer", "--role", help="customer | agent | admin."),
    name: str = typer.Option("", "--name", help="A label to recognise the key by (who or what uses it)."),
    as_json: bool = typer.Option(False, "--json", help="Print {id, role, name, created, key}."),
) -> None:
    """Create a key (printed once: only its hash is stored)."""
    from api.keys import KeyError_

    try:
        record, key = _store().create(role, name)
    except KeyError_ as exc:
        fail(str(exc), code=2)
    if as_json:
        print_json({**record.to_dict(), "key": key})
        return
    typer.echo(key)
    typer.echo(f"created {record.role} key {record.id}; store it now, it is not shown again", err=True)


@app.command("list")
def list_keys(as_json: bool = typer.Option(False, "--json", help="Print a JSON list.")) -> None:
    """List keys (ids and roles, never the secret)."""
    keys = _store().list()
    if as_json:
        print_json([k.to_dict() for k in keys])
        return
    if not keys:
        typer.echo("no keys: create one with `supportbot keys create --role customer|agent|admin`")
    for k in keys:
        state = f"revoked {k.revoked}" if k.revoked else "active"
        typer.echo(f"{k.id}  {k.role:<8}  {k.created}  {state}  {k.name}")


@app.command()
def revoke(key_id: str = typer.Argument(..., help="Id of the key to revoke.")) -> None:
    """Revoke a key (requests with it get 401 from then on)."""
    from api.keys import KeyError_

    try:
        record = _store().revoke(key_id)
    except KeyError_ as exc:
        fail(str(exc))
    typer.echo(f"revoked {record.role} key {record.id} at {record.revoked}")
