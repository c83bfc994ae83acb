"""Rows of roles, rules and access: rules and access groups of a tenant, group-to-role
mappings of a connection, and what each employee holds (roles, grants, the rule that
fired). Every function takes ``tenant_id`` and scopes by it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, delete, func, insert, select, update

from roster.storage.employees import EMPLOYEE_COLUMNS, EmployeeRow, employee_row
from roster.storage.tables import (
    access_groups,
    employee_decisions,
    employee_grants,
    employee_roles,
    employees,
    memberships,
    resources,
    role_mappings,
    rules,
)
from roster.storage.tenancy import bump_configuration

AG = access_groups.c
D = employee_decisions.c
G = employee_grants.c
ER = employee_roles.c
E = employees.c
M = memberships.c
R = resources.c
RM = role_mappings.c
RU = rules.c

# ---- rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleRow:
    pk: int
    id: str
    name: str
    position: int
    match: str
    conditions: list[dict[str, Any]]
    actions: dict[str, Any]
    created_at: datetime
    updated_at: datetime


def _rule(r: Any) -> RuleRow:
    return RuleRow(
        r.pk,
        r.id,
        r.name,
        r.position,
        r.match,
        list(r.conditions),
        dict(r.actions),
        r.created_at,
        r.updated_at,
    )


_RULE_COLUMNS = (
    RU.pk,
    RU.id,
    RU.name,
    RU.position,
    RU.match,
    RU.conditions,
    RU.actions,
    RU.created_at,
    RU.updated_at,
)


def rules_of(conn: Connection, tenant_id: int) -> list[RuleRow]:
    query = select(*_RULE_COLUMNS).where(RU.tenant_id == tenant_id)
    return [_rule(r) for r in conn.execute(query.order_by(RU.position, RU.pk))]


def insert_rule(conn: Connection, tenant_id: int, values: dict[str, Any]) -> None:
    bump_configuration(conn, tenant_id)
    conn.execute(insert(rules).values(tenant_id=tenant_id, **values))


def set_positions(conn: Connection, tenant_id: int, ordered_pks: Sequence[int]) -> None:
    bump_configuration(conn, tenant_id)
    for position, pk in enumerate(ordered_pks, start=1):
        conn.execute(
            update(rules)
            .where(RU.tenant_id == tenant_id, RU.pk == pk, RU.position != position)
            .values(position=position)
        )


def update_rule(conn: Connection, tenant_id: int, pk: int, values: dict[str, Any]) -> None:
    bump_configuration(conn, tenant_id)
    conn.execute(update(rules).where(RU.tenant_id == tenant_id, RU.pk == pk).values(**values))


def delete_rule(conn: Connection, tenant_id: int, pk: int) -> None:
    bump_configuration(conn, tenant_id)
    conn.execute(delete(rules).where(RU.tenant_id == tenant_id, RU.pk == pk))


# ---- access groups -------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessGroupRow:
    pk: int
    id: str
    name: str
    description: str | None
    created_at: datetime


_AG_COLUMNS = (AG.pk, AG.id, AG.name, AG.description, AG.created_at)


def access_groups_of(conn: Connection, tenant_id: int) -> list[AccessGroupRow]:
    query = select(*_AG_COLUMNS).where(AG.tenant_id == tenant_id).order_by(AG.name_key)
    return [AccessGroupRow(*r) for r in conn.execute(query)]


def insert_access_group(conn: Connection, tenant_id: int, values: dict[str, Any]) -> None:
    bump_configuration(conn, tenant_id)
    conn.execute(insert(access_groups).values(tenant_id=tenant_id, **values))


def delete_access_group(conn: Connection, tenant_id: int, pk: int) -> None:
    bump_configuration(conn, tenant_id)
    conn.execute(delete(access_groups).where(AG.tenant_id == tenant_id, AG.pk == pk))


# ---- group -> role mappings ----------------------------------------------------------------


@dataclass(frozen=True)
class MappingRow:
    pk: int
    id: str
    connection_id: int
    group_name: str
    group_key: str
    role: str
    locations: list[str]  # location ids
    created_at: datetime


_RM_COLUMNS = (
    RM.pk,
    RM.id,
    RM.connection_id,
    RM.group_name,
    RM.group_key,
    RM.role,
    RM.locations,
    RM.created_at,
)


def mappings_of(
    conn: Connection, tenant_id: int, connection_id: int | None = None
) -> list[MappingRow]:
    query = select(*_RM_COLUMNS).where(RM.tenant_id == tenant_id)
    if connection_id is not None:
        query = query.where(RM.connection_id == connection_id)
    rows = conn.execute(query.order_by(RM.connection_id, RM.group_key, RM.pk))
    return [MappingRow(*r[:6], list(r.locations), r.created_at) for r in rows]


def insert_mapping(conn: Connection, tenant_id: int, values: dict[str, Any]) -> None:
    bump_configuration(conn, tenant_id)
    conn.execute(insert(role_mappings).values(tenant_id=tenant_id, **values))


def delete_mapping(conn: Connection, tenant_id: int, pk: int) -> None:
    bump_configuration(conn, tenant_id)
    conn.execute(delete(role_mappings).where(RM.tenant_id == tenant_id, RM.pk == pk))


# ---- what employees hold -----------------------------------------------------------------


@dataclass(frozen=True)
class RoleRow:
    employee_pk: int
    scope_pk: int  # 0: the company
    location_pk: int | None
    role: str
    source: str
    origin: str | None
    connection_id: int | None
    shadowed: str | None
    updated_at: datetime
    group_pk: int | None = None  # source "group": the group behind it


_ER_COLUMNS = (
    ER.employee_pk,
    ER.scope_pk,
    ER.location_pk,
    ER.role,
    ER.source,
    # A role synced from a group names the group as it is called now (a rename changes
    # nothing held); the name stored is for a group since deleted.
    func.coalesce(R.display, ER.origin).label("origin"),
    ER.connection_id,
    ER.shadowed,
    ER.updated_at,
    ER.group_pk,
)


def roles_of(conn: Connection, tenant_id: int, pks: Sequence[int]) -> dict[int, list[RoleRow]]:
    out: dict[int, list[RoleRow]] = {pk: [] for pk in pks}
    if pks:
        query = (
            select(*_ER_COLUMNS)
            .select_from(
                employee_roles.outerjoin(
                    resources,
                    # The group of the role's own connection (group_pk has no foreign
                    # key: see storage/tables.py).
                    and_(
                        R.pk == ER.group_pk,
                        R.connection_id == ER.connection_id,
                        R.resource_type == "Group",
                    ),
                )
            )
            .where(ER.tenant_id == tenant_id, ER.employee_pk.in_(pks))
        )
        for r in conn.execute(query.order_by(ER.employee_pk, ER.scope_pk)):
            out[r.employee_pk].append(RoleRow(**r._mapping))
    return out


def put_role(conn: Connection, tenant_id: int, row: RoleRow, *, exists: bool) -> None:
    values = {
        "location_pk": row.location_pk,
        "role": row.role,
        "source": row.source,
        "origin": row.origin,
        "connection_id": row.connection_id,
        "shadowed": row.shadowed,
        "updated_at": row.updated_at,
        "group_pk": row.group_pk,
    }
    if exists:
        conn.execute(
            update(employee_roles)
            .where(
                ER.tenant_id == tenant_id,
                ER.employee_pk == row.employee_pk,
                ER.scope_pk == row.scope_pk,
            )
            .values(**values)
        )
    else:
        conn.execute(
            insert(employee_roles).values(
                tenant_id=tenant_id, employee_pk=row.employee_pk, scope_pk=row.scope_pk, **values
            )
        )


def delete_role(conn: Connection, tenant_id: int, employee_pk: int, scope_pk: int) -> None:
    conn.execute(
        delete(employee_roles).where(
            ER.tenant_id == tenant_id, ER.employee_pk == employee_pk, ER.scope_pk == scope_pk
        )
    )


def group_roles_to_manual(
    conn: Connection, tenant_id: int, connection_id: int, at: datetime
) -> int:
    """Envoy: "If you disconnect Okta, your roles will turn into manual roles"."""
    result = conn.execute(
        update(employee_roles)
        .where(
            ER.tenant_id == tenant_id,
            ER.connection_id == connection_id,
            ER.source == "group",
        )
        .values(
            source="manual",
            connection_id=None,
            shadowed=None,
            updated_at=at,
            # The group's name as it is now, for "formerly synced from group …".
            origin=func.coalesce(
                select(R.display)
                .where(R.pk == ER.group_pk, R.connection_id == connection_id)
                .scalar_subquery(),
                ER.origin,
            ),
            group_pk=None,
        )
    )
    return result.rowcount


@dataclass(frozen=True)
class GrantRow:
    pk: int
    employee_pk: int
    kind: str
    target_pk: int
    status: str
    rule_id: str | None
    activations: int
    granted_at: datetime
    revoked_at: datetime | None
    reason: str | None


_G_COLUMNS = (
    G.pk,
    G.employee_pk,
    G.kind,
    G.target_pk,
    G.status,
    G.rule_id,
    G.activations,
    G.granted_at,
    G.revoked_at,
    G.reason,
)


def grants_of(conn: Connection, tenant_id: int, pks: Sequence[int]) -> dict[int, list[GrantRow]]:
    out: dict[int, list[GrantRow]] = {pk: [] for pk in pks}
    if pks:
        query = select(*_G_COLUMNS).where(G.tenant_id == tenant_id, G.employee_pk.in_(pks))
        for r in conn.execute(query.order_by(G.employee_pk, G.kind, G.target_pk)):
            out[r.employee_pk].append(GrantRow(*tuple(r)))
    return out


def insert_grant(conn: Connection, tenant_id: int, values: dict[str, Any]) -> None:
    conn.execute(insert(employee_grants).values(tenant_id=tenant_id, **values))


def update_grant(conn: Connection, tenant_id: int, pk: int, values: dict[str, Any]) -> None:
    conn.execute(
        update(employee_grants).where(G.tenant_id == tenant_id, G.pk == pk).values(**values)
    )


def touch_holders(
    conn: Connection, tenant_id: int, kind: str, target_pk: int, at: datetime
) -> None:
    """A new ``updated_at`` for the employees holding a grant of an access group or a
    location about to go (and, for a location, a role there): the read API shows both."""
    held: ColumnElement[bool] = E.pk.in_(
        select(G.employee_pk).where(
            G.tenant_id == tenant_id, G.kind == kind, G.target_pk == target_pk
        )
    )
    if kind == "location":
        held = held | E.pk.in_(
            select(ER.employee_pk).where(ER.tenant_id == tenant_id, ER.location_pk == target_pk)
        )
    conn.execute(update(employees).where(E.tenant_id == tenant_id, held).values(updated_at=at))


def delete_roles_at(conn: Connection, tenant_id: int, location_pk: int) -> int:
    result = conn.execute(
        delete(employee_roles).where(ER.tenant_id == tenant_id, ER.location_pk == location_pk)
    )
    return result.rowcount


def delete_grants_of_target(conn: Connection, tenant_id: int, kind: str, target_pk: int) -> None:
    conn.execute(
        delete(employee_grants).where(
            G.tenant_id == tenant_id, G.kind == kind, G.target_pk == target_pk
        )
    )


def decisions_of(conn: Connection, tenant_id: int, pks: Sequence[int]) -> dict[int, str | None]:
    """The rule id that fired at each employee's last evaluation (absent: never
    evaluated; None: no rule matched)."""
    if not pks:
        return {}
    query = select(D.employee_pk, D.rule_id).where(D.tenant_id == tenant_id, D.employee_pk.in_(pks))
    return {r.employee_pk: r.rule_id for r in conn.execute(query)}


def delete_decision(conn: Connection, tenant_id: int, employee_pk: int) -> None:
    conn.execute(
        delete(employee_decisions).where(D.tenant_id == tenant_id, D.employee_pk == employee_pk)
    )


def put_decision(
    conn: Connection,
    tenant_id: int,
    employee_pk: int,
    rule_id: str | None,
    at: datetime,
    *,
    exists: bool,
) -> None:
    if exists:
        conn.execute(
            update(employee_decisions)
            .where(D.tenant_id == tenant_id, D.employee_pk == employee_pk)
            .values(rule_id=rule_id, evaluated_at=at)
        )
    else:
        conn.execute(
            insert(employee_decisions).values(
                tenant_id=tenant_id, employee_pk=employee_pk, rule_id=rule_id, evaluated_at=at
            )
        )


# ---- what rules see: groups and employees --------------------------------------------------


def employees_of_resources(
    conn: Connection, tenant_id: int, resource_pks: Iterable[int]
) -> list[EmployeeRow]:
    """The employees of these SCIM users, locked for their evaluation (FOR NO KEY UPDATE,
    in the order of their users: the order a SCIM write touches them in), so two
    requests evaluating one person take turns instead of racing on its roles."""
    pks = list(resource_pks)
    if not pks:
        return []
    query = (
        select(*EMPLOYEE_COLUMNS)
        .where(E.tenant_id == tenant_id, E.resource_pk.in_(pks))
        .order_by(E.resource_pk)
        .with_for_update(key_share=True)
    )
    return sorted((employee_row(r) for r in conn.execute(query)), key=lambda e: e.pk)


def members_of_group(conn: Connection, tenant_id: int, group_pk: int) -> list[int]:
    query = select(M.member_pk).where(M.tenant_id == tenant_id, M.group_pk == group_pk)
    return [r.member_pk for r in conn.execute(query)]


def employees_after(
    conn: Connection, tenant_id: int, after_pk: int, limit: int
) -> list[EmployeeRow]:
    query = (
        select(*EMPLOYEE_COLUMNS)
        .where(E.tenant_id == tenant_id, E.pk > after_pk)
        .order_by(E.pk)
        .limit(limit)
    )
    return [employee_row(r) for r in conn.execute(query)]


def employees_of_connection_in_groups(
    conn: Connection, tenant_id: int, connection_id: int
) -> list[EmployeeRow]:
    """Employees of a connection that are a member of at least one group."""
    inside = select(M.member_pk).where(M.tenant_id == tenant_id)
    query = select(*EMPLOYEE_COLUMNS).where(
        and_(
            E.tenant_id == tenant_id,
            E.connection_id == connection_id,
            E.resource_pk.in_(inside),
        )
    )
    return [employee_row(r) for r in conn.execute(query.order_by(E.pk))]
