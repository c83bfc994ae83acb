"""group members' display, as the client sent it

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # RFC 7643 §2.4: ``display`` is a default sub-attribute of multi-valued attributes,
    # "immutable": the client may set it when it adds a member (Okta sends the login,
    # Microsoft's SCIM test collection a name and reads it back); it is kept as sent.
    with op.batch_alter_table("memberships") as batch:
        batch.add_column(sa.Column("display", sa.String(256)))


def downgrade() -> None:
    with op.batch_alter_table("memberships") as batch:
        batch.drop_column("display")
