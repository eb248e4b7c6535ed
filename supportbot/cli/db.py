"""``supportbot db``: the shared-state schema in PostgreSQL (``SUPPORTBOT_DATABASE_URL``).

SQLite files in the data home (the default) create their tables when first opened; a PostgreSQL database gets its
schema only from ``supportbot db upgrade`` (Alembic revisions plus the LangGraph checkpointer's migrations), so API
replicas never race to create or alter tables.
"""

from __future__ import annotations

import typer

from supportbot.cli._common import fail, print_json
from supportbot.settings import get_settings

app = typer.Typer(help="The shared-state database (PostgreSQL): create or migrate its schema.", no_args_is_help=True)


def _url(url: str | None) -> str:
    from graph.db import is_postgres, redact_url

    given = url
    url = url or get_settings().database_url
    if not url:
        fail("no database URL: set SUPPORTBOT_DATABASE_URL=postgresql://user:pass@host:5432/db (or pass --url); "
             "without one the state lives in SQLite files in the data home, which need no upgrade")  # fmt: skip
    if not is_postgres(url) or "://" not in url:
        source = "--url" if given else "SUPPORTBOT_DATABASE_URL"
        fail(f"{source} {redact_url(url)!r} is not a PostgreSQL URL: give postgresql://user:pass@host:5432/db", code=2)
    return url


@app.command()
def upgrade(
    url: str | None = typer.Option(None, "--url", help="PostgreSQL URL; default SUPPORTBOT_DATABASE_URL."),
    as_json: bool = typer.Option(False, "--json", help="Print {before, after} schema states.", metavar=""),
) -> None:
    """Create or migrate the schema (escalations, feedback, gaps, keys, rate limits, conversation checkpoints)."""
    from graph.db import DatabaseError, redact_url
    from graph.db import upgrade as run_upgrade

    target = _url(url)
    try:
        report = run_upgrade(target)
    except DatabaseError as exc:
        fail(str(exc))
    if as_json:
        print_json(report)
        return
    before, after = report["before"], report["after"]
    change = "already current" if before == after else f"{before['revision'] or 'empty'} -> {after['revision']}"
    typer.echo(f"database {redact_url(target)}: schema revision {after['revision']}, checkpoints "
               f"v{after['checkpoints']} ({change})")  # fmt: skip


@app.command()
def status(
    url: str | None = typer.Option(None, "--url", help="PostgreSQL URL; default SUPPORTBOT_DATABASE_URL."),
    as_json: bool = typer.Option(False, "--json", help="Print the schema state.", metavar=""),
) -> None:
    """Show whether the schema is current (exit 1 when `supportbot db upgrade` is needed)."""
    from graph.db import DatabaseError, SchemaProbe, redact_url, schema_state, shared_pool

    target = _url(url)
    try:
        state = schema_state(SchemaProbe(target, shared_pool(target, 2)))
    except DatabaseError as exc:
        fail(str(exc))
    if as_json:
        print_json(state)
    else:
        word = "current" if state["current"] else "needs `supportbot db upgrade`"
        typer.echo(f"database {redact_url(target)}: revision {state['revision']} (head {state['head']}), "
                   f"checkpoints {state['checkpoints']} (head {state['checkpoints_head']}): {word}")  # fmt: skip
    if not state["current"]:
        raise typer.Exit(1)
