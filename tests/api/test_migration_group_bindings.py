"""Migration 0011 binds what existed before it: a role mapping and a rule condition
naming a stored group are bound to it, one naming no group waits, and a role synced from a
group records which group. Run on a SQLite file of its own (the suite's database is at the
head already; the migration's SQL is the same on PostgreSQL)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import MetaData, Table, insert, select

from roster.storage.engine import make_engine
from roster.storage.migrate import upgrade


def test_existing_mappings_rules_and_roles_are_bound_on_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'before.db'}"
    upgrade(url, "0010")
    engine = make_engine(url)
    at = datetime(2026, 1, 1)
    with engine.begin() as conn:
        meta = MetaData()
        t = {
            name: Table(name, meta, autoload_with=conn)
            for name in (
                "tenants",
                "connections",
                "resources",
                "role_mappings",
                "rules",
                "employees",
                "employee_roles",
            )
        }
        conn.execute(insert(t["tenants"]).values(id=1, name="Acme", slug="acme", created_at=at))
        for cid in (1, 2):
            conn.execute(
                insert(t["connections"]).values(
                    id=cid, uid=f"c{cid}", tenant_id=1, name=f"c{cid}", idp="okta",
                    status="active", token_hash=f"h{cid}", token_created_at=at, created_at=at,
                )
            )  # fmt: skip
        groups = [(10, 1, "Front Desk"), (11, 1, "Admins"), (12, 2, "admins")]
        for pk, cid, name in groups:
            conn.execute(
                insert(t["resources"]).values(
                    pk=pk, id=f"g{pk}", tenant_id=1, connection_id=cid, resource_type="Group",
                    unique_key=name.lower(), display=name, doc={"displayName": name},
                    version=1, created_at=at, updated_at=at,
                )
            )  # fmt: skip
        for pk, name in ((1, "front desk"), (2, "Lobby")):
            conn.execute(
                insert(t["role_mappings"]).values(
                    pk=pk, id=f"m{pk}", tenant_id=1, connection_id=1, group_name=name,
                    group_key=name.casefold(), role="Front desk admin", locations=[],
                    created_at=at,
                )
            )  # fmt: skip
        conn.execute(
            insert(t["rules"]).values(
                pk=1, id="r1", tenant_id=1, name="Admins", name_key="admins", position=1,
                match="all", actions={},
                conditions=[{"field": "groups", "op": "any", "values": ["Admins", "Later"]}],
                created_at=at, updated_at=at,
            )
        )  # fmt: skip
        conn.execute(
            insert(t["employees"]).values(
                pk=1, id="e1", tenant_id=1, email="ann@corp.test", email_key="ann@corp.test",
                status="active", fields={}, created_at=at, updated_at=at,
            )
        )  # fmt: skip
        conn.execute(
            insert(t["employee_roles"]).values(
                tenant_id=1, employee_pk=1, scope_pk=0, role="Global admin", source="group",
                origin="Front Desk", connection_id=1, updated_at=at,
            )
        )  # fmt: skip
    upgrade(url)
    with engine.connect() as conn:
        meta = MetaData()
        bindings = Table("group_bindings", meta, autoload_with=conn)
        roles = Table("employee_roles", meta, autoload_with=conn)
        b = bindings.c
        rows = conn.execute(
            select(
                b.mapping_pk, b.rule_pk, b.value_key, b.connection_id, b.group_pk, b.name
            ).order_by(b.pk)
        ).all()
        role_group = conn.execute(select(roles.c.group_pk)).scalar_one()
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        (1, None, "", 1, 10, "Front Desk"),  # bound, under the group's own spelling
        (2, None, "", 1, None, "Lobby"),  # no such group: waits
        (None, 1, "admins", 1, 11, "Admins"),  # a rule value binds in each connection
        (None, 1, "admins", 2, 12, "admins"),
    ]
    assert role_group == 10
