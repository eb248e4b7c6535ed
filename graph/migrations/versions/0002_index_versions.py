"""The knowledge-base index versions replicas share (api.index_sync): each row is one complete local index version,
packed, so a replica with its own index folder follows the article writes another replica made.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the table."""
    op.create_table(
        "index_versions",
        sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),  # publication order: the newest wins
        sa.Column("name", sa.Text, nullable=False),  # the index: its folder's name on every replica
        sa.Column("version", sa.Text, nullable=False),  # the version folder's name (retrieval.store)
        sa.Column("archive", sa.LargeBinary, nullable=False),  # retrieval.store.pack_version
        sa.Column("published_at", sa.Float(precision=53), nullable=False),
        sa.UniqueConstraint("name", "version", name="index_versions_one_copy"),
    )


def downgrade() -> None:
    """Drop the table."""
    op.drop_table("index_versions")
