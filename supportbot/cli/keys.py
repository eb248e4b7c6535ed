"""``supportbot keys``: API keys with roles, and console users with passwords (stored hashed in
``<home>/api/keys.sqlite``, or in PostgreSQL with ``SUPPORTBOT_DATABASE_URL``)."""

from __future__ import annotations

from typing import Any

import typer

from supportbot.cli._common import fail, not_utf8, print_json
from supportbot.settings import get_settings

app = typer.Typer(help="API keys with roles customer, agent and admin.", no_args_is_help=True)


def _store() -> Any:
    import sqlite3

    from api.config import ApiConfig
    from graph.db import DatabaseError

    settings = get_settings()
    try:
        return ApiConfig.from_settings(settings).key_store()
    except (DatabaseError, ValueError) as exc:
        fail(str(exc))
    except (OSError, sqlite3.Error) as exc:  # the data home is a file, read-only, or cannot be created
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        fail(f"cannot open the key store in SUPPORTBOT_HOME {settings.home} ({reason}): "
             "set SUPPORTBOT_HOME to a writable folder")  # fmt: skip


@app.command()
def create(
    role: str = typer.Option("customer", "--role", help="customer | agent | admin."),
    name: str = typer.Option("", "--name", help="A label to recognise the key by (who or what uses it)."),
    as_json: bool = typer.Option(False, "--json", help="Print {id, role, name, created, key}.", metavar=""),
) -> None:
    """Create a key (printed once: only its hash is stored)."""
    from api.keys import USER_PREFIX, ApiKeyError

    if name.lower().startswith(USER_PREFIX):  # the API would take the key for that console user's sign-in (it expires)
        fail(f"a key's name cannot start with {USER_PREFIX!r}: that names a console user's sign-in, which expires; "
             "give console users a password with `supportbot keys user NAME`", code=2)  # fmt: skip
    try:
        record, key = _store().create(role, name)
    except ApiKeyError as exc:
        fail(str(exc), code=2)
    if as_json:
        print_json({**record.to_dict(), "key": key})
        return
    typer.echo(key)
    typer.echo(f"created {record.role} key {record.id}; store it now, it is not shown again", err=True)


@app.command("list")
def list_keys(as_json: bool = typer.Option(False, "--json", help="Print a JSON list.", metavar="")) -> None:
    """List keys (ids and roles, never the secret); a console sign-in's key says when it expires."""
    store = _store()
    keys = store.list()
    if as_json:
        print_json([{**k.to_dict(), "expires_at": store.expires_at(k), "expired": store.record_expired(k)}
                    for k in keys])  # fmt: skip
        return
    if not keys:
        typer.echo("no keys: create one with `supportbot keys create --role customer|agent|admin`")
    for k in keys:
        state = f"revoked {k.revoked}" if k.revoked else "active"
        if not k.revoked and store.record_expired(k):
            state = f"expired {store.expires_at(k)}"
        typer.echo(f"{k.id}  {k.role:<8}  {k.created}  {state}  {k.name}")


@app.command()
def revoke(key_id: str = typer.Argument(..., help="Id of the key to revoke.")) -> None:
    """Revoke a key (requests with it get 401 from then on)."""
    from api.keys import ApiKeyError

    try:
        record = _store().revoke(key_id)
    except ApiKeyError as exc:
        fail(str(exc))
    typer.echo(f"revoked {record.role} key {record.id} at {record.revoked}")


@app.command("user")
def set_user(
    username: str = typer.Argument(..., help="The console user's name (letters, digits, . _ @ -)."),
    role: str = typer.Option("agent", "--role", help="agent | admin."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input.", metavar=""
    ),
    disable: bool = typer.Option(
        False, "--disable", help="Stop the user signing in and end their signed-in sessions.", metavar=""
    ),
) -> None:
    """Create or update a user who signs in to the agent console with a password (stored as a scrypt hash).

    The password needs at least 12 characters and may not be a common one, nor contain the user's name; run this
    again to give a user a new password (a user whose password predates the policy keeps signing in until then).
    A new password or role, or --disable, revokes the keys the user's sign-ins got; a disabled user is enabled
    again by giving them a new password.
    """
    import re
    import sys

    from api.keys import ApiKeyError

    if not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", username):
        fail(f"invalid user name {username!r}: use 1-64 letters, digits, '.', '_', '@' or '-'", code=2)
    if disable:
        try:
            _store().disable_user(username)
        except ApiKeyError as exc:
            fail(str(exc))
        typer.echo(f"console user {username} disabled, their signed-in sessions ended; `supportbot keys user "
                   f"{username}` with a new password enables them again")  # fmt: skip
        return
    not_text = "the password on standard input is not UTF-8 text"  # the password itself is never shown
    try:  # bytes that are not UTF-8 fail here (strict stdin) or come back as lone surrogates (a C locale)
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    except UnicodeDecodeError:
        fail(not_text, code=2)
    if not_utf8(password) is not None:
        fail(not_text, code=2)
    try:
        _store().set_user(username, password, role)
    except ApiKeyError as exc:
        fail(str(exc), code=2)
    typer.echo(f"console user {username} ({role}) saved; sign in at the UI's /agent page")


@app.command("users")
def list_users(as_json: bool = typer.Option(False, "--json", help="Print a JSON list.", metavar="")) -> None:
    """List the console users (never their passwords)."""
    users = _store().users()
    if as_json:
        print_json(users)
        return
    if not users:
        typer.echo("no console users: add one with `supportbot keys user NAME --role agent|admin`")
    for user in users:
        disabled = f"  disabled {user['disabled']}" if user.get("disabled") else ""
        typer.echo(f"{user['username']:<20}  {user['role']:<6}  {user['created']}{disabled}")
