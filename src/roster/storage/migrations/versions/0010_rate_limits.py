"""rate limits and log retention

The shared token buckets of the rate limiter, and an index on the system log's time for
`roster log prune`.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.String(160), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("granted", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_rate_buckets"),
    )
    if op.get_bind().dialect.name == "postgresql":
        # A bucket is worth nothing after a crash (it refills): skip the WAL and its fsync.
        op.execute("ALTER TABLE rate_buckets SET UNLOGGED")
    op.create_index("ix_log_entries_at", "log_entries", ["at"])


def downgrade() -> None:
    op.drop_index("ix_log_entries_at", table_name="log_entries")
    op.drop_table("rate_buckets")
