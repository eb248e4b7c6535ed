"""The shared state: escalations and their history, hand-off messages, feedback, knowledge gaps (graph.store), API
keys, session owners and console users (api.keys), rate-limit buckets (api.ratelimit).

The same tables as the SQLite files of a data home, with PostgreSQL types (epoch seconds as double precision) and
one addition: a partial unique index that lets a session have only one open or assigned escalation, which keeps
``add_escalation``'s insert-unless-active atomic across replicas.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TABLES = ("rate_limits", "users", "session_owners", "api_keys", "gaps", "feedback", "session_messages",
           "escalation_events", "escalations")  # fmt: skip


def upgrade() -> None:
    """Create every table and index."""
    real = sa.Float(precision=53)  # double precision: epoch seconds keep their sub-second part
    op.create_table(
        "escalations",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("session_id", sa.Text),
        sa.Column("lang", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("transcript", sa.Text),
        sa.Column("status", sa.Text),
        sa.Column("created_at", real),
        sa.Column("assigned_to", sa.Text),
        sa.Column("assigned_name", sa.Text),
        sa.Column("updated_at", real),
        sa.Column("note", sa.Text),
    )
    op.create_index("escalations_by_session", "escalations", ["session_id", "status"])
    op.create_index("escalations_one_active", "escalations", ["session_id"], unique=True,
                    postgresql_where=sa.text("status IN ('open', 'assigned')"))  # fmt: skip
    op.create_table(
        "escalation_events",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("escalation_id", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("at", real, nullable=False),
    )
    op.create_index("escalation_events_by_escalation", "escalation_events", ["escalation_id", "at"])
    op.create_table(
        "session_messages",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("session_id", sa.Text, nullable=False),
        sa.Column("escalation_id", sa.Text),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("author", sa.Text),
        sa.Column("after_turns", sa.Integer, nullable=False),
        sa.Column("draft", sa.Integer, nullable=False),
        sa.Column("meta", sa.Text),
        sa.Column("created_at", real, nullable=False),
    )
    op.create_index("session_messages_by_session", "session_messages", ["session_id", "id"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("session_id", sa.Text),
        sa.Column("turn", sa.Text),
        sa.Column("rating", sa.Text),
        sa.Column("comment", sa.Text),
        sa.Column("created_at", real),
    )
    op.create_table(
        "gaps",
        sa.Column("question", sa.Text, primary_key=True),
        sa.Column("lang", sa.Text, primary_key=True),
        sa.Column("count", sa.Integer),
        sa.Column("last_seen", real),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False, server_default=""),
        sa.Column("key_hash", sa.Text, nullable=False, unique=True),
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("revoked", sa.Text),
    )
    op.create_table(
        "session_owners",
        sa.Column("session_id", sa.Text, primary_key=True),
        sa.Column("key_id", sa.Text, nullable=False),
        sa.Column("created", sa.Text, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("username", sa.Text, primary_key=True),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("disabled", sa.Text),
    )
    op.create_table(
        "rate_limits",
        sa.Column("bucket", sa.Text, primary_key=True),
        sa.Column("tokens", real, nullable=False),
        sa.Column("updated", real, nullable=False),
        sa.Column("allowed", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    """Drop every table (their indexes go with them)."""
    for table in _TABLES:
        op.drop_table(table)
