"""Alembic revisions of the PostgreSQL state schema, run by ``supportbot db upgrade`` (see :mod:`graph.db`)."""
