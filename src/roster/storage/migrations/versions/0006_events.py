"""event feed

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Change events for the host app (GET /api/v1/events), written by the unit of work in
    # the transaction of the change they describe (directory/journal/change.py). ``ordered_at`` is
    # the database clock at the change's flush, after its row locks: the feed's order.
    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("uid", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("connection_uid", sa.String(36)),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("resource_type", sa.String(16), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("ordered_at", sa.DateTime(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("uid", name="uq_events_uid"),
    )
    op.create_index("ix_events_feed", "events", ["tenant_id", "ordered_at", "id"])
    op.create_index("ix_events_request", "events", ["request_id"])
    # `roster log --request ID`: one request's entries without scanning the log.
    op.create_index("ix_log_entries_request", "log_entries", ["request_id"])
    if op.get_bind().dialect.name == "sqlite":
        # SQLite has no data-modifying CTE: a change writes its log entries and events in
        # one INSERT into this view, whose trigger spreads the two JSON arrays over the
        # tables (storage/events.py; PostgreSQL does the same with one CTE statement).
        op.execute(
            "CREATE VIEW change_writes AS SELECT NULL AS logs, NULL AS events, NULL AS ordered_at"
        )
        op.execute(_SQLITE_TRIGGER)


_SQLITE_TRIGGER = """
CREATE TRIGGER change_writes_insert INSTEAD OF INSERT ON change_writes
BEGIN
  INSERT INTO log_entries (tenant_id, connection_uid, at, actor, method, path, resource_type,
    resource_id, status, scim_type, detail, request_id, duration_ms)
  SELECT json_extract(value, '$.tenant_id'), json_extract(value, '$.connection_uid'),
    json_extract(value, '$.at'), json_extract(value, '$.actor'),
    json_extract(value, '$.method'), json_extract(value, '$.path'),
    json_extract(value, '$.resource_type'), json_extract(value, '$.resource_id'),
    json_extract(value, '$.status'), json_extract(value, '$.scim_type'),
    json_extract(value, '$.detail'), json_extract(value, '$.request_id'),
    json_extract(value, '$.duration_ms')
  FROM json_each(NEW.logs) ORDER BY key;
  INSERT INTO events (uid, tenant_id, connection_uid, type, resource_type, resource_id, actor,
    request_id, at, ordered_at, data)
  SELECT json_extract(value, '$.uid'), json_extract(value, '$.tenant_id'),
    json_extract(value, '$.connection_uid'), json_extract(value, '$.type'),
    json_extract(value, '$.resource_type'), json_extract(value, '$.resource_id'),
    json_extract(value, '$.actor'), json_extract(value, '$.request_id'),
    json_extract(value, '$.at'), NEW.ordered_at, json_extract(value, '$.data')
  FROM json_each(NEW.events) ORDER BY key;
END
"""


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER change_writes_insert")
        op.execute("DROP VIEW change_writes")
    op.drop_index("ix_log_entries_request", table_name="log_entries")
    op.drop_index("ix_events_request", table_name="events")
    op.drop_index("ix_events_feed", table_name="events")
    op.drop_table("events")
