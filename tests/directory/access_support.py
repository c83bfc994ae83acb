"""Helpers of the roles and rules scenarios: admin steps through the directory functions
(each its own transaction, as the CLI runs them) and what an employee holds, read back
through ``role_admin.held``, ``storage.access.grants_of`` and the system log, never
through the read API (its access fields are built on another branch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, func, select

from roster.directory.admin import role_admin, rulebook
from roster.directory.admin.rulebook import RuleSpec
from roster.directory.entitlements import access
from roster.directory.journal import system_log
from roster.directory.people.employees import find
from roster.directory.places import locations
from roster.storage import access as access_store
from roster.storage.tables import (
    employee_decisions,
    employee_grants,
    employee_roles,
    log_entries,
    resources,
)
from tests.conftest import Scim

ADD = "add"


def add_location(engine: Engine, scim: Scim, *names: str) -> None:
    with engine.begin() as conn:
        for name in names:
            locations.add(conn, scim.tenant_id, name)


def map_group(engine: Engine, scim: Scim, group: str, role: str, *where: str) -> str:
    with engine.begin() as conn:
        return role_admin.map_group(conn, scim.tenant_id, scim.connection_id, group, role, where).id


def access_group(engine: Engine, scim: Scim, *names: str) -> None:
    with engine.begin() as conn:
        for name in names:
            rulebook.add_access_group(conn, scim.tenant_id, name)


def add_rule(engine: Engine, scim: Scim, name: str, *conditions: str, **spec: Any) -> str:
    with engine.begin() as conn:
        return rulebook.add_rule(conn, scim.tenant_id, RuleSpec(name, conditions, **spec)).id


def roles(engine: Engine, scim: Scim, email: str) -> set[tuple[str, str | None, str]]:
    """(role, location name or None for the company, source) of each role held."""
    with engine.connect() as conn:
        employee = find(conn, scim.tenant_id, email)
        return {
            (r.role, r.location, r.source) for r in role_admin.held(conn, scim.tenant_id, employee)
        }


def grants(engine: Engine, scim: Scim, email: str) -> dict[str, tuple[str, str | None]]:
    """Label ("location 'HQ'", "access group 'Doors'") -> (status, reason)."""
    with engine.connect() as conn:
        employee = find(conn, scim.tenant_id, email)
        cat = access.load(conn, scim.tenant_id, labels=True)
        rows = access_store.grants_of(conn, scim.tenant_id, [employee.pk])[employee.pk]
    return {cat.label(g.kind, g.target_pk): (g.status, g.reason) for g in rows}


def active(engine: Engine, scim: Scim, email: str) -> set[str]:
    return {k for k, (status, _) in grants(engine, scim, email).items() if status == "active"}


def log(
    engine: Engine, scim: Scim, path: str | None = None, actor: str | None = None
) -> list[system_log.LogEntry]:
    """The tenant's system log, oldest first."""
    with engine.connect() as conn:
        entries = system_log.recent(conn, scim.tenant_id, limit=1000)
    return [
        e
        for e in reversed(entries)
        if (path is None or e.path == path) and (actor is None or e.actor == actor)
    ]


def evaluations_of(engine: Engine, scim: Scim, email: str) -> list[str]:
    """The details of the rules' "access.evaluate" notes about one employee."""
    return [
        e.detail or ""
        for e in log(engine, scim, "access.evaluate", "rules")
        if (e.detail or "").startswith(email + ":")
    ]


def row_counts(engine: Engine, tenant_id: int) -> dict[str, int]:
    """Rows an evaluation can write, for "a dry run writes nothing"."""
    tables = {
        "roles": employee_roles,
        "grants": employee_grants,
        "decisions": employee_decisions,
        "log": log_entries,
    }
    with engine.connect() as conn:
        return {
            name: int(
                conn.execute(
                    select(func.count()).select_from(t).where(t.c.tenant_id == tenant_id)
                ).scalar_one()
            )
            for name, t in tables.items()
        }


def groups_stored(engine: Engine, scim: Scim) -> int:
    with engine.connect() as conn:
        query = select(func.count()).select_from(resources)
        query = query.where(
            resources.c.tenant_id == scim.tenant_id, resources.c.resource_type == "Group"
        )
        return int(conn.execute(query).scalar_one())


def members(scim: Scim, group_id: str, op: str, user_ids: Sequence[str]) -> None:
    """Add or remove members the way Okta does it (PATCH path members)."""
    if op == ADD:
        operation = {"op": "add", "path": "members", "value": [{"value": u} for u in user_ids]}
        response = scim.patch(f"/Groups/{group_id}", [operation])
    else:
        ops = [{"op": "remove", "path": f'members[value eq "{u}"]'} for u in user_ids]
        response = scim.patch(f"/Groups/{group_id}", ops)
    assert response.status_code in (200, 204), response.text
