"""Query counts are behaviour: member changes and member-less group reads issue the same
SQL statements for a group of 10 as for a group of 100,000 (no O(members) rewrite)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select

from roster.directory.journal.system_log import now
from roster.storage.tables import memberships, resources
from tests.conftest import Scim, StatementCounter


def _bulk_members(engine: Engine, scim: Scim, group_id: str, size: int) -> None:
    """Test data at scale: rows written directly in two executemany statements."""
    at = now()
    with engine.begin() as conn:
        group_pk = conn.execute(resources.select().where(resources.c.id == group_id)).one().pk
        rows = [
            {
                "id": str(uuid.uuid4()),
                "tenant_id": scim.tenant_id,
                "connection_id": scim.connection_pk,
                "resource_type": "User",
                "unique_key": f"{group_id}-{i}",
                "display": f"bulk-{i}",
                "doc": {"userName": f"bulk-{i}"},
                "version": 1,
                "created_at": at,
                "updated_at": at,
            }
            for i in range(size)
        ]
        pks = (
            conn.execute(
                insert(resources).returning(resources.c.pk, sort_by_parameter_order=True), rows
            )
            .scalars()
            .all()
        )
        conn.execute(
            insert(memberships),
            [{"group_pk": group_pk, "member_pk": pk, "tenant_id": scim.tenant_id} for pk in pks],
        )


def _costs(
    scim: Scim, count_statements: Callable[[], StatementCounter], group_id: str
) -> dict[str, int]:
    newcomer = scim.create_user(f"new-{uuid.uuid4().hex[:6]}")["id"]
    costs = {}
    steps: dict[str, Callable[[], Any]] = {
        "add one member": lambda: scim.patch(
            f"/Groups/{group_id}?excludedAttributes=members",
            [{"op": "add", "path": "members", "value": [{"value": newcomer}]}],
        ),
        "remove by value filter": lambda: scim.patch(
            f"/Groups/{group_id}?excludedAttributes=members",
            [{"op": "remove", "path": f'members[value eq "{newcomer}"]'}],
        ),
        "add again": lambda: scim.patch(
            f"/Groups/{group_id}?excludedAttributes=members",
            [{"op": "add", "path": "members", "value": [{"value": newcomer}]}],
        ),
        "remove by value list": lambda: scim.patch(
            f"/Groups/{group_id}?excludedAttributes=members",
            [{"op": "remove", "path": "members", "value": [{"value": newcomer}]}],
        ),
        "read without members": lambda: scim.get(
            f"/Groups/{group_id}", params={"excludedAttributes": "members"}
        ),
        "rename": lambda: scim.patch(
            f"/Groups/{group_id}?excludedAttributes=members",
            [{"op": "replace", "path": "displayName", "value": f"G-{uuid.uuid4().hex[:4]}"}],
        ),
    }
    for name, step in steps.items():
        with count_statements() as counter:
            response = step()
        assert response.status_code == 200, response.text
        assert "members" not in response.json()
        costs[name] = counter.count
    return costs


@pytest.mark.slow
def test_member_changes_cost_the_same_at_10_and_100000_members(
    engine: Engine, scim: Scim, count_statements: Callable[[], StatementCounter]
) -> None:
    small = scim.create_group("small")
    large = scim.create_group("large")
    _bulk_members(engine, scim, small["id"], 10)
    _bulk_members(engine, scim, large["id"], 100_000)
    small_costs = _costs(scim, count_statements, small["id"])
    large_costs = _costs(scim, count_statements, large["id"])
    assert small_costs == large_costs
    # Each change also stamps its members' employees (tenant lock + one UPDATE) and reads
    # the access catalogue once (rules and the connection's group-role mappings).
    assert max(small_costs.values()) <= 13, small_costs
    # The large group really is large, and the changes netted out.
    with engine.connect() as conn:
        size = conn.execute(
            select(func.count())
            .select_from(memberships)
            .join(resources, resources.c.pk == memberships.c.group_pk)
            .where(resources.c.id == large["id"])
        ).scalar_one()
    assert size == 100_000


def test_list_pages_cost_a_fixed_number_of_statements(
    scim: Scim, count_statements: Callable[[], StatementCounter]
) -> None:
    for i in range(30):
        scim.create_user(f"c{i}")
    group = scim.create_group("g")
    scim.patch(
        f"/Groups/{group['id']}",
        [
            {
                "op": "add",
                "path": "members",
                "value": [
                    {"value": u["id"]}
                    for u in scim.get("/Users", params={"count": 30}).json()["Resources"]
                ],
            }
        ],
    )
    costs = []
    for count in (5, 30):
        with count_statements() as counter:
            assert len(scim.get("/Users", params={"count": count}).json()["Resources"]) == count
        costs.append(counter.count)
    assert costs[0] == costs[1]  # no N+1 on users' groups
