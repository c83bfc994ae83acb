"""Read-side statements of the directory (the host app's API): pages of employees, and
what one page needs besides, each loaded for the whole page in one statement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, exists, func, select, text, tuple_

from roster.storage.employees import EMPLOYEE_COLUMNS, EmployeeRow, employee_row
from roster.storage.tables import (
    connections,
    employee_locations,
    employees,
    locations,
    memberships,
    resources,
)

E = employees.c
EL = employee_locations.c
L = locations.c
M = memberships.c
R = resources.c
C = connections.c


@dataclass(frozen=True)
class EmployeeFilter:
    status: str | None = None
    email_key: str | None = None  # lower-cased primary email
    location_pk: int | None = None
    source: str | None = None  # "manual", "synced"
    connection_id: int | None = None
    updated_since: datetime | None = None
    updated_before: datetime | None = None  # the write horizon (write_horizon)


_HORIZON = text(
    # Every transaction in flight on this database, this one included: none of them can
    # commit a row older than its own start (write times are transaction starts, see
    # directory/journal/change.py).
    "SELECT timezone('UTC', min(xact_start)) FROM pg_stat_activity"
    " WHERE datname = current_database() AND backend_type = 'client backend'"
)


def write_horizon(conn: Connection) -> datetime | None:
    """The time before which every write has committed (PostgreSQL): a row changed at
    or after it may still be joined by an older one. None on SQLite, whose writers
    commit one at a time in the order of their write times."""
    if conn.dialect.name != "postgresql":
        return None
    at = conn.execute(_HORIZON).scalar()
    if at is None:
        return None
    return at.replace(microsecond=at.microsecond // 1000 * 1000)  # type: ignore[no-any-return]


def _conditions(tenant_id: int, where: EmployeeFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [E.tenant_id == tenant_id]
    if where.status is not None:
        conds.append(E.status == where.status)
    if where.email_key is not None:
        conds.append(E.email_key == where.email_key)
    if where.source == "manual":
        conds.append(E.connection_id.is_(None))
    elif where.source == "synced":
        conds.append(E.connection_id.is_not(None))
    if where.connection_id is not None:
        conds.append(E.connection_id == where.connection_id)
    if where.updated_since is not None:
        conds.append(E.updated_at >= where.updated_since)
    if where.updated_before is not None:
        conds.append(E.updated_at < where.updated_before)
    if where.location_pk is not None:
        conds.append(
            exists().where(
                EL.tenant_id == tenant_id,
                EL.location_pk == where.location_pk,
                EL.employee_pk == E.pk,
            )
        )
    return conds


# A page position: (created_at, id) of the last row shown; both are on the page already.
After = tuple[datetime, str]


def employee_page(
    conn: Connection, tenant_id: int, where: EmployeeFilter, after: After | None, limit: int
) -> list[EmployeeRow]:
    conds = _conditions(tenant_id, where)
    if after is not None:
        conds.append(tuple_(E.created_at, E.id) > tuple_(*after))
    rows = conn.execute(
        select(*EMPLOYEE_COLUMNS).where(*conds).order_by(E.created_at, E.id).limit(limit)
    )
    return [employee_row(r) for r in rows]


def count_employees(conn: Connection, tenant_id: int, where: EmployeeFilter) -> int:
    total = conn.execute(
        select(func.count()).select_from(employees).where(*_conditions(tenant_id, where))
    ).scalar_one()
    return int(total)


@dataclass(frozen=True)
class Named:
    pk: int
    id: str
    name: str


def location_names(conn: Connection, tenant_id: int, pks: Sequence[int]) -> dict[int, Named]:
    if not pks:
        return {}
    rows = conn.execute(
        select(L.pk, L.id, L.name).where(L.tenant_id == tenant_id, L.pk.in_(list(set(pks))))
    )
    return {r.pk: Named(r.pk, r.id, r.name) for r in rows}


@dataclass(frozen=True)
class ConnectionBrief:
    id: int
    uid: str
    name: str
    idp: str
    status: str


def connection_briefs(conn: Connection, tenant_id: int) -> dict[int, ConnectionBrief]:
    rows = conn.execute(
        select(C.id, C.uid, C.name, C.idp, C.status).where(C.tenant_id == tenant_id)
    )
    return {r.id: ConnectionBrief(r.id, r.uid, r.name, r.idp, r.status) for r in rows}


@dataclass(frozen=True)
class ResourceBrief:
    pk: int
    id: str
    name: str


def users(conn: Connection, tenant_id: int, pks: Sequence[int]) -> dict[int, ResourceBrief]:
    if not pks:
        return {}
    # The userName as the IdP sent it: unique_key is lower-cased, display is displayName.
    user_name = R.doc["userName"].as_string()
    rows = conn.execute(
        select(R.pk, R.id, user_name.label("user_name"), R.unique_key).where(
            (R.tenant_id + 0) == tenant_id, R.pk.in_(list(set(pks)))
        )
    )
    return {r.pk: ResourceBrief(r.pk, r.id, r.user_name or r.unique_key) for r in rows}


def groups_of_users(
    conn: Connection, tenant_id: int, resource_pks: Sequence[int]
) -> dict[int, list[tuple[ResourceBrief, int]]]:
    """The groups each SCIM user is a direct member of: (group, its connection id)."""
    out: dict[int, list[tuple[ResourceBrief, int]]] = {pk: [] for pk in resource_pks}
    if not resource_pks:
        return out
    rows = conn.execute(
        select(M.member_pk, R.pk, R.id, R.display, R.connection_id)
        .join(resources, R.pk == M.group_pk)
        .where(M.tenant_id == tenant_id, M.member_pk.in_(list(set(resource_pks))))
        .order_by(M.member_pk, R.display)
    )
    for r in rows:
        out[r.member_pk].append((ResourceBrief(r.pk, r.id, r.display or ""), r.connection_id))
    return out


def group_page(
    conn: Connection, tenant_id: int, after: After | None, limit: int
) -> list[tuple[ResourceBrief, int, datetime]]:
    conds = [R.tenant_id == tenant_id, R.resource_type == "Group"]
    if after is not None:
        conds.append(tuple_(R.created_at, R.id) > tuple_(*after))
    rows = conn.execute(
        select(R.pk, R.id, R.display, R.connection_id, R.created_at)
        .where(*conds)
        .order_by(R.created_at, R.id)
        .limit(limit)
    )
    return [
        (ResourceBrief(r.pk, r.id, r.display or ""), r.connection_id, r.created_at) for r in rows
    ]


def employee_members(
    conn: Connection, tenant_id: int, group_pks: Sequence[int]
) -> dict[int, list[EmployeeRow]]:
    """The employees whose SCIM users are direct members of each group."""
    out: dict[int, list[EmployeeRow]] = {pk: [] for pk in group_pks}
    if not group_pks:
        return out
    rows = conn.execute(
        select(M.group_pk, *EMPLOYEE_COLUMNS)
        .join(employees, E.resource_pk == M.member_pk)
        .where(M.tenant_id == tenant_id, M.group_pk.in_(list(group_pks)), E.tenant_id == tenant_id)
        .order_by(M.group_pk, E.pk)
    )
    for r in rows:
        out[r.group_pk].append(employee_row(r))
    return out


def users_without_employee(
    conn: Connection, tenant_id: int, connection_id: int, limit: int
) -> list[tuple[str, Any]]:
    """(userName, SCIM document) of the connection's users that no employee is synced
    from, at most ``limit`` of them, in creation order."""
    r = R
    synced = exists().where(E.tenant_id == tenant_id, E.resource_pk == r.pk)
    rows = conn.execute(
        select(r.unique_key, r.doc)
        .where(
            r.tenant_id == tenant_id,
            r.connection_id == connection_id,
            r.resource_type == "User",
            ~synced,
        )
        .order_by(r.pk)
        .limit(limit)
    )
    return [(str(row.doc.get("userName") or ""), row.doc) for row in rows]
