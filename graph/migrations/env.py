"""Alembic environment: online migrations only, on the URL :func:`graph.db.upgrade` sets (``postgresql+psycopg``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool


def run_migrations_online() -> None:
    """Apply the revisions in one transaction on a fresh connection."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("supportbot's migrations run online only: `supportbot db upgrade`")
run_migrations_online()
