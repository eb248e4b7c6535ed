"""escalations.waiting_since: since when the customer has been waiting for a person's reply (graph.store keeps it with
each message it writes; the queue's age filter and "oldest first" go by it). Existing open and assigned cases get it
from their stored messages: the hand-off's time while no agent has replied, else the customer's first message after
the agent's last reply (none: not waiting).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The SQL of graph.store.WAITING_SINCE_FROM_MESSAGES as of this revision (a revision does not follow later code).
_FILL = (
    "UPDATE escalations SET waiting_since = CASE WHEN (SELECT MAX(r.id) FROM session_messages r WHERE "
    "r.escalation_id = escalations.id AND r.role = 'agent' AND r.draft = 0) IS NULL THEN created_at ELSE "
    "(SELECT MIN(w.created_at) FROM session_messages w WHERE w.escalation_id = escalations.id AND w.role = 'user' "
    "AND w.id > (SELECT MAX(r.id) FROM session_messages r WHERE r.escalation_id = escalations.id AND "
    "r.role = 'agent' AND r.draft = 0)) END WHERE status IN ('open', 'assigned')"
)


def upgrade() -> None:
    """Add the column and fill it for the active cases."""
    op.add_column("escalations", sa.Column("waiting_since", sa.Float(precision=53)))
    op.execute(_FILL)


def downgrade() -> None:
    """Drop the column."""
    op.drop_column("escalations", "waiting_since")
