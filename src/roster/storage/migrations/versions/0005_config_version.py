"""tenant configuration version

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Bumped by every change of a tenant's configuration (rules, role mappings, access
    # groups, locations and their aliases, custom field mappings): each process keeps
    # that configuration cached and checks this one integer per request
    # (directory/settings/config_cache.py).
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(
            sa.Column("config_version", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("config_version")
