"""group bindings: role mappings and rule conditions bind to the group itself

A group rename no longer turns its role mapping or rule condition off (issue 11): each
names the group by name once, and is then bound to the group's row. Existing mappings
and rule conditions are bound here to the group of that name, where one exists; roles
synced from a group record which group.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _binary(length: int) -> sa.String:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fold(text: str) -> str:
    # rules/engine.py's comparison key: whitespace collapsed, case folded.
    return " ".join(text.split()).casefold()


def upgrade() -> None:
    op.create_table(
        "group_bindings",
        sa.Column("pk", BIG, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("mapping_pk", sa.Integer(), nullable=True),
        sa.Column("rule_pk", sa.Integer(), nullable=True),
        sa.Column("value_key", _binary(512), nullable=False),
        sa.Column("group_pk", BIG, nullable=True),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("name_key", _binary(512), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_group_bindings_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_pk"],
            ["resources.pk"],
            name=op.f("fk_group_bindings_group_pk_resources"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["mapping_pk"],
            ["role_mappings.pk"],
            name=op.f("fk_group_bindings_mapping_pk_role_mappings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_pk"],
            ["rules.pk"],
            name=op.f("fk_group_bindings_rule_pk_rules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_group_bindings_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_group_bindings")),
        sa.UniqueConstraint("tenant_id", "mapping_pk", name="uq_group_bindings_mapping"),
        sa.UniqueConstraint(
            "tenant_id", "connection_id", "rule_pk", "value_key", name="uq_group_bindings_rule"
        ),
    )
    with op.batch_alter_table("group_bindings") as batch:
        batch.create_index("ix_group_bindings_group", ["group_pk"], unique=False)
        batch.create_index(
            "ix_group_bindings_waiting", ["tenant_id", "connection_id", "name_key"], unique=False
        )
    # No foreign key: see storage/tables.py (a key check would lock the group's row out
    # of the write path's lock order).
    with op.batch_alter_table("employee_roles") as batch:
        batch.add_column(sa.Column("group_pk", BIG, nullable=True))
    _bind_existing()


def _bind_existing() -> None:
    conn = op.get_bind()
    meta = sa.MetaData()
    resources = sa.Table("resources", meta, autoload_with=conn)
    mappings = sa.Table("role_mappings", meta, autoload_with=conn)
    rules = sa.Table("rules", meta, autoload_with=conn)
    connections = sa.Table("connections", meta, autoload_with=conn)
    bindings = sa.Table("group_bindings", meta, autoload_with=conn)
    roles = sa.Table("employee_roles", meta, autoload_with=conn)
    R = resources.c

    def group(tenant_id: int, connection_id: int, name: str) -> Any:
        return conn.execute(
            sa.select(R.pk, R.display).where(
                R.tenant_id == tenant_id,
                R.connection_id == connection_id,
                R.resource_type == "Group",
                R.unique_key == name.lower(),
            )
        ).first()

    rows: list[dict[str, Any]] = []
    for m in conn.execute(sa.select(mappings)).all():
        found = group(m.tenant_id, m.connection_id, m.group_name)
        name = found.display if found is not None else m.group_name
        rows.append(
            {
                "tenant_id": m.tenant_id,
                "connection_id": m.connection_id,
                "mapping_pk": m.pk,
                "rule_pk": None,
                "value_key": "",
                "group_pk": found.pk if found is not None else None,
                "name": name,
                "name_key": _fold(name),
            }
        )
    for rule in conn.execute(sa.select(rules)).all():
        tenant_connections = conn.execute(
            sa.select(connections.c.id).where(connections.c.tenant_id == rule.tenant_id)
        ).scalars()
        connection_ids = list(tenant_connections)
        values = {
            _fold(v): v
            for c in rule.conditions or []
            if str(c.get("field", "")).lower() == "groups"
            for v in c.get("values") or []
        }
        for key, value in values.items():
            for connection_id in connection_ids:
                found = group(rule.tenant_id, connection_id, value)
                if found is not None:
                    rows.append(
                        {
                            "tenant_id": rule.tenant_id,
                            "connection_id": connection_id,
                            "mapping_pk": None,
                            "rule_pk": rule.pk,
                            "value_key": key,
                            "group_pk": found.pk,
                            "name": found.display,
                            "name_key": _fold(found.display),
                        }
                    )
    if rows:
        conn.execute(sa.insert(bindings), rows)
    ER = roles.c
    conn.execute(
        sa.update(roles)
        .where(ER.source == "group", ER.origin.is_not(None), ER.connection_id.is_not(None))
        .values(
            group_pk=sa.select(R.pk)
            .where(
                R.tenant_id == ER.tenant_id,
                R.connection_id == ER.connection_id,
                R.resource_type == "Group",
                R.unique_key == sa.func.lower(ER.origin),
            )
            .scalar_subquery()
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("employee_roles") as batch:
        batch.drop_column("group_pk")
    op.drop_table("group_bindings")
