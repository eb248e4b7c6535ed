"""``supportbot db``: the shared-state schema in PostgreSQL (``SUPPORTBOT_DATABASE_URL``), and the purge of old
conversations from either backend.

SQLite files in the data home (the default) create their tables when first opened; a PostgreSQL database gets its
schema only from ``supportbot db upgrade`` (Alembic revisions plus the LangGraph checkpointer's migrations), so API
replicas never race to create or alter tables. ``supportbot db purge`` deletes what is kept about sessions older than
a number of days, ``supportbot db erase`` what is kept about the sessions named, now (:mod:`graph.retention`).
``supportbot db backup`` copies the SQLite files of the data home into one archive while the API runs
(:mod:`supportbot.cli._backup`); a PostgreSQL database is pg_dump's to back up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from supportbot.cli._common import fail, print_json
from supportbot.settings import get_settings

app = typer.Typer(help="The shared-state database: create or migrate its PostgreSQL schema; purge old conversations; "
                       "erase a customer's conversations on request; back up the SQLite state of the data home.",
                  no_args_is_help=True)  # fmt: skip


def _url(url: str | None, required: bool = True) -> str:
    """The PostgreSQL URL: ``--url``, else ``SUPPORTBOT_DATABASE_URL``; "" when neither is set and not ``required``
    (the SQLite files of the data home)."""
    from graph.db import is_postgres, redact_url

    given = url
    url = url or get_settings().database_url
    if not url:
        if not required:
            return ""
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


def _days(given: str | None) -> int:
    """``--older-than`` as a whole number of days, else ``SUPPORTBOT_RETENTION_DAYS`` (exit 2 without either)."""
    from graph.retention import MAX_DAYS

    if given is None:
        days = get_settings().retention_days
        if days is None:
            fail("give --older-than DAYS or set SUPPORTBOT_RETENTION_DAYS (how many days a conversation is kept)", 2)
        return days
    text = given.strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_DAYS:
        fail(f"--older-than must be a whole number of days from 1 to {MAX_DAYS}, got {given!r}", code=2)
    return int(text)


def _open_state(url: str) -> tuple[Any, Any, Any, list[Any]]:
    """The deployment's support store, checkpointer and session-owner database (None when the data home has no key
    database), and what to close: PostgreSQL at ``url``, else the SQLite files of the data home, which must exist
    (a mistyped SUPPORTBOT_HOME would otherwise purge nothing, silently)."""
    import sqlite3

    from api.config import ApiConfig
    from graph.config import GraphConfig, state_files
    from graph.db import DatabaseError
    from graph.service import open_checkpointer
    from graph.store import SupportStore

    settings = get_settings()
    home = settings.home
    files = state_files(home)
    try:
        config = ApiConfig.from_settings(settings, database_url=url or None)
        paths = (files["checkpoint_db"], files["store_db"], config.keys_db)
        if not url and not any(path.is_file() for path in paths):
            names = ", ".join(str(path.relative_to(home)) for path in paths)
            fail(f"no supportbot state in the data home {home} (none of {names}): set SUPPORTBOT_HOME to the API's "
                 "data home, or pass --url")  # fmt: skip
        store = SupportStore(files["store_db"], database_url=url or None, pool_size=settings.database_pool_size)
        graph_config = GraphConfig(index_dir=settings.resolved_index_dir, **files, database_url=url or None,
                                   database_pool_size=settings.database_pool_size)  # fmt: skip
        saver, conn = open_checkpointer(graph_config)
        keys = config.key_store() if url or config.keys_db.is_file() else None
    except (DatabaseError, ValueError) as exc:
        fail(str(exc))
    except (OSError, sqlite3.Error) as exc:  # a data home that is a file, unreadable, or not SQLite
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        fail(f"cannot open the state in SUPPORTBOT_HOME {home} ({reason})")
    closing = [store] + ([keys] if keys is not None else [])
    return store, saver, (keys.db if keys is not None else None), [*closing, *([conn] if conn is not None else [])]


@contextmanager
def _deleting(target: str, done: str) -> Iterator[tuple[Any, Any, Any]]:
    """:func:`_open_state`'s store, checkpointer and owners for a purge or an erase (``done``: "deleted", "erased"),
    closed after; a failure stops the command with its message (a partial run says how far it went)."""
    from graph.db import DatabaseError
    from graph.retention import PurgeFailed

    store, saver, owners, opened = _open_state(target)
    try:
        yield store, saver, owners
    except PurgeFailed as exc:
        went = exc.report["sessions"]["total"]
        fail(f"{exc}; {went} session{'s' * (went != 1)} before it were {done} whole: run it again to finish")
    except DatabaseError as exc:
        fail(str(exc))
    finally:
        for thing in opened:
            thing.close()


def _line(entry: Any) -> str:
    if isinstance(entry, int):
        return str(entry)
    langs = ", ".join(f"{lang} {n}" for lang, n in entry["by_lang"].items())
    return f"{entry['total']}" + (f" ({langs})" if langs else "")


def _counts_lines(report: dict[str, Any], gaps: bool) -> None:
    kinds = [("sessions", "sessions"), ("checkpoints", "checkpoints"), ("escalations", "escalations"),
             ("escalation_events", "escalation history"), ("messages", "hand-off messages"), ("feedback", "feedback"),
             ("session_owners", "session owners")] + ([("gaps", "knowledge gaps")] if gaps else [])  # fmt: skip
    for kind, label in kinds:
        typer.echo(f"  {label:<20}{_line(report[kind])}")


@app.command()
def purge(
    older_than: str | None = typer.Option(
        None,
        "--older-than",
        metavar="DAYS",
        help="Delete the sessions whose last activity is more than DAYS days old; default SUPPORTBOT_RETENTION_DAYS.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only count what would be deleted.", metavar=""),
    include_open: bool = typer.Option(
        False,
        "--include-open",
        metavar="",
        help="Delete old sessions whose escalation waits for an agent or is assigned to one too (kept by default).",
    ),
    url: str | None = typer.Option(
        None, "--url", help="PostgreSQL URL; default SUPPORTBOT_DATABASE_URL, else the SQLite files in SUPPORTBOT_HOME."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as one JSON document.", metavar=""),
) -> None:
    """Delete the conversations older than DAYS days: their checkpoints, escalations and messages, feedback and owner,
    and the knowledge-gap questions not asked since; prints what went per kind and language."""
    from graph.db import redact_url
    from graph.retention import purge as run_purge

    days = _days(older_than)
    target = _url(url, required=False)
    with _deleting(target, "deleted") as (store, saver, owners):
        report = run_purge(store, saver, days, owners=owners, include_open=include_open, dry_run=dry_run)
    if as_json:
        print_json(report)
        return
    where = redact_url(target) if target else f"the SQLite files in {get_settings().home}"
    verb = "would delete" if dry_run else "deleted"
    typer.echo(f"{verb} from {where}, last activity before {report['cutoff']} ({days} day{'s' * (days != 1)}):")
    _counts_lines(report, gaps=True)
    kept = report["kept_open"]
    if kept["total"]:
        typer.echo(f"kept {_line(kept)} old session{'s' * (kept['total'] != 1)} with an escalation waiting for or "
                   "assigned to an agent: --include-open deletes them too")  # fmt: skip


def _pii_value(given: str) -> tuple[str, str]:
    """``--pii TYPE=VALUE`` as (TYPE, VALUE), the type in any case (exit 2 when it is not a redacted type or the value
    is blank)."""
    from finetune.pii import ENTITY_TYPES

    kind, _, value = given.partition("=")
    kind = kind.strip().upper()
    if kind not in ENTITY_TYPES or not value.strip():
        fail(f"--pii wants TYPE=VALUE, TYPE one of {', '.join(ENTITY_TYPES)} (e.g. EMAIL=ana@example.es); got a "
             f"{'blank value' if kind in ENTITY_TYPES else 'type ' + repr(kind)}", code=2)  # fmt: skip
    return kind, value.strip()


@app.command()
def erase(
    sessions: list[str] = typer.Argument(
        None, metavar="SESSION_ID...", help="The sessions to erase.", show_default=False
    ),
    pii: list[str] = typer.Option(
        None,
        "--pii",
        metavar="TYPE=VALUE",
        help="Also erase every session in which the customer gave this value (EMAIL=ana@example.es, PHONE=612345678, "
        "DNI=...; any redacted type); repeatable. A name matches every session where it was given: --dry-run first.",
        show_default=False,
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only count what would be deleted.", metavar=""),
    url: str | None = typer.Option(
        None, "--url", help="PostgreSQL URL; default SUPPORTBOT_DATABASE_URL, else the SQLite files in SUPPORTBOT_HOME."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as one JSON document.", metavar=""),
) -> None:
    """Delete everything kept about the sessions named, or found by a value the customer gave (--pii), now, whatever
    their age or state (a customer's request to erase their data): checkpoints, escalations with their history and
    messages, feedback and owner. An id nothing is kept under is listed as not found (exit 1)."""
    from graph.db import redact_url
    from graph.retention import erase as run_erase
    from graph.retention import find_sessions

    ids = [session.strip() for session in sessions or []]
    values = [_pii_value(given) for given in pii or []]
    if not (ids or values) or not all(ids):
        fail("give the SESSION_ID of every conversation to erase (a blank one is not an id), or --pii TYPE=VALUE", 2)
    target = _url(url, required=False)
    with _deleting(target, "erased") as (store, saver, owners):
        key = get_settings().pii_key
        found = find_sessions(store, saver, values, key.get_secret_value() if key else None) if values else []
        report = {**run_erase(store, saver, ids + [s for s in found if s not in ids], owners=owners, dry_run=dry_run),
                  "found": found}  # fmt: skip
    if as_json:
        print_json(report)
    else:
        where = redact_url(target) if target else f"the SQLite files in {get_settings().home}"
        if values:
            typer.echo(f"sessions with the --pii values: {', '.join(found) if found else 'none'}")
        typer.echo(f"{'would erase' if dry_run else 'erased'} from {where}:")
        _counts_lines(report, gaps=False)
        if report["not_found"]:
            typer.echo(f"nothing is kept under {', '.join(report['not_found'])}", err=True)
    if report["not_found"]:
        raise typer.Exit(1)


@app.command()
def backup(
    out: Path = typer.Option(..., "--out", metavar="FILE", help="The archive to write (a tar file), e.g. state.tar."),
    force: bool = typer.Option(False, "--force", help="Replace FILE when it exists.", metavar=""),
    url: str | None = typer.Option(
        None, "--url", help="PostgreSQL URL; default SUPPORTBOT_DATABASE_URL, else the SQLite files in SUPPORTBOT_HOME."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the archive's manifest as a JSON document.", metavar=""),
) -> None:
    """Back up the SQLite state of the data home while the API runs: conversations (LangGraph checkpoints),
    escalations, messages, feedback, gaps, API keys and console users, each file copied consistently by SQLite's
    online backup and checked, into one tar archive written atomically (docs/api.md, Backups, tells how to restore
    it). A PostgreSQL database is backed up with pg_dump."""
    from api.config import ApiConfig
    from graph.config import state_files
    from graph.db import redact_url
    from supportbot.cli import _backup

    target = _url(url, required=False)
    if target:
        fail(f"the state is in PostgreSQL ({redact_url(target)}): back it up with pg_dump, e.g. `pg_dump "
             "--format=custom --file=supportbot.dump \"$SUPPORTBOT_DATABASE_URL\"` (restore with pg_restore); "
             "`supportbot db backup` copies the SQLite files of a data home", code=2)  # fmt: skip
    settings = get_settings()
    home = settings.home
    try:
        keys_db = ApiConfig.from_settings(settings, database_url=None).keys_db
    except ValueError as exc:
        fail(str(exc))
    files = _backup.state_files(home, keys_db=keys_db, **state_files(home))
    if not files:
        fail(f"no supportbot state in the data home {home} (no support.sqlite, checkpoints.sqlite or api/keys.sqlite): "
             "set SUPPORTBOT_HOME to the API's data home")  # fmt: skip
    try:
        report = _backup.write_backup(home, files, out, force, progress=lambda line: typer.echo(line, err=True))
    except _backup.BackupError as exc:
        fail(str(exc))
    if as_json:
        print_json(report)
    else:
        for line in _backup.summary(report):
            typer.echo(line)
