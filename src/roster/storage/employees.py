"""Store functions for employees, their location memberships and their references
(manager, assistants). Every statement is scoped by tenant."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    case,
    delete,
    distinct,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from roster.storage.tables import (
    connections,
    employee_decisions,
    employee_locations,
    employee_refs,
    employees,
    memberships,
    resources,
)
from roster.storage.tenancy import bump_configuration

E = employees.c
EL = employee_locations.c
ER = employee_refs.c


@dataclass(frozen=True)
class EmployeeRow:
    pk: int
    id: str
    tenant_id: int
    connection_id: int | None
    resource_pk: int | None
    email: str
    status: str
    fields: dict[str, Any]
    city_key: str | None
    locale_key: str | None
    primary_location_key: str | None
    primary_location_pk: int | None
    created_at: datetime
    updated_at: datetime

    @property
    def synced(self) -> bool:
        return self.connection_id is not None

    @property
    def email_key(self) -> str:
        return self.email.lower()


EMPLOYEE_COLUMNS = (
    E.pk,
    E.id,
    E.tenant_id,
    E.connection_id,
    E.resource_pk,
    E.email,
    E.status,
    E.fields,
    E.city_key,
    E.locale_key,
    E.primary_location_key,
    E.primary_location_pk,
    E.created_at,
    E.updated_at,
)


def employee_row(r: Any) -> EmployeeRow:
    return EmployeeRow(
        r.pk,
        r.id,
        r.tenant_id,
        r.connection_id,
        r.resource_pk,
        r.email,
        r.status,
        dict(r.fields or {}),
        r.city_key,
        r.locale_key,
        r.primary_location_key,
        r.primary_location_pk,
        r.created_at,
        r.updated_at,
    )


def _one(conn: Connection, *where: ColumnElement[bool], lock: bool = False) -> EmployeeRow | None:
    query = select(*EMPLOYEE_COLUMNS).where(*where)
    if lock:
        query = query.with_for_update(key_share=True)
    r = conn.execute(query).first()
    return employee_row(r) if r else None


# Row locks on employees are FOR NO KEY UPDATE (key_share=True): rows other writers insert
# (roles, grants, locations) reference employees and hold FOR KEY SHARE on them, which
# NO KEY UPDATE does not wait for. Hot statements are built once.
_BY_RESOURCE = (
    select(*EMPLOYEE_COLUMNS)
    .where(E.tenant_id == bindparam("t"), E.resource_pk == bindparam("r"))
    .with_for_update(key_share=True)
)
_BY_EMAIL = (
    select(*EMPLOYEE_COLUMNS)
    .where(E.tenant_id == bindparam("t"), E.email_key == bindparam("k"))
    .with_for_update(key_share=True)
)
_HAS_REFS = exists().where(ER.tenant_id == E.tenant_id, ER.employee_pk == E.pk)
_EVALUATED = exists().where(
    employee_decisions.c.tenant_id == E.tenant_id, employee_decisions.c.employee_pk == E.pk
)
_FOR_SYNC = (
    select(*EMPLOYEE_COLUMNS, _HAS_REFS.label("has_refs"), _EVALUATED.label("evaluated"))
    .where(
        E.tenant_id == bindparam("t"),
        or_(E.resource_pk == bindparam("r"), E.email_key == bindparam("k")),
    )
    .order_by(E.pk)
    .with_for_update(key_share=True, of=employees)
)


def by_resource(conn: Connection, tenant_id: int, resource_pk: int) -> EmployeeRow | None:
    r = conn.execute(_BY_RESOURCE, {"t": tenant_id, "r": resource_pk}).first()
    return employee_row(r) if r else None


def by_email(conn: Connection, tenant_id: int, email: str) -> EmployeeRow | None:
    r = conn.execute(_BY_EMAIL, {"t": tenant_id, "k": email.lower()}).first()
    return employee_row(r) if r else None


@dataclass(frozen=True)
class SyncTarget:
    """What a user sync needs to know before it writes, read (and locked) at once."""

    current: EmployeeRow | None  # the employee synced from this SCIM user
    holder: EmployeeRow | None  # the employee holding the user's primary email
    has_refs: bool  # ``current`` has stored references (manager, assistants)
    evaluated: bool  # ``current`` was evaluated by the rules before


def for_sync(conn: Connection, tenant_id: int, resource_pk: int, email: str | None) -> SyncTarget:
    """The employee of a SCIM user and the one holding its email (often the same), both
    locked, in one statement. ``email`` None: the user has no usable one, only its own
    employee is wanted."""
    current = holder = None
    has_refs = evaluated = False
    key = email.lower() if email is not None else None
    for r in conn.execute(_FOR_SYNC, {"t": tenant_id, "r": resource_pk, "k": key}):
        row = employee_row(r)
        if r.resource_pk == resource_pk:
            current, has_refs, evaluated = row, bool(r.has_refs), bool(r.evaluated)
        if row.email_key == key:
            holder = row
    return SyncTarget(current, holder, has_refs, evaluated)


def by_id(conn: Connection, tenant_id: int, employee_id: str) -> EmployeeRow | None:
    return _one(conn, E.tenant_id == tenant_id, E.id == employee_id)


def by_pks(conn: Connection, tenant_id: int, pks: Iterable[int]) -> dict[int, EmployeeRow]:
    wanted = list(dict.fromkeys(pks))
    if not wanted:
        return {}
    rows = conn.execute(select(*EMPLOYEE_COLUMNS).where(E.tenant_id == tenant_id, E.pk.in_(wanted)))
    return {r.pk: employee_row(r) for r in rows}


def synced_by_email(conn: Connection, tenant_id: int, email_key: str) -> EmployeeRow | None:
    return _one(
        conn, E.tenant_id == tenant_id, E.email_key == email_key, E.connection_id.is_not(None)
    )


_INSERT = insert(employees).returning(*EMPLOYEE_COLUMNS)
# The SET clause comes from the parameters given (bind names that are no column's).
_UPDATE = (
    update(employees)
    .where(E.tenant_id == bindparam("b_tenant"), E.pk == bindparam("b_pk"))
    .returning(*EMPLOYEE_COLUMNS)
)


def insert_employee(conn: Connection, tenant_id: int, values: dict[str, Any]) -> EmployeeRow:
    row = {"id": str(uuid.uuid4()), "tenant_id": tenant_id, **values}
    row["email_key"] = row["email"].lower()
    return employee_row(conn.execute(_INSERT, row).one())


_INSERT_UNLESS_TAKEN = {
    is_sqlite: dialect.insert(employees)
    .on_conflict_do_nothing(index_elements=["tenant_id", "email_key"])
    .returning(*EMPLOYEE_COLUMNS)
    for is_sqlite, dialect in ((True, sqlite), (False, postgresql))
}


def insert_unless_email_taken(
    conn: Connection, tenant_id: int, values: dict[str, Any]
) -> EmployeeRow | None:
    """Insert an employee, or nothing when another holds the email: a concurrent
    transaction inserting the same email is waited for (PostgreSQL's speculative
    insertion), so the caller can read the holder after a None and decide."""
    row = {"id": str(uuid.uuid4()), "tenant_id": tenant_id, **values}
    row["email_key"] = row["email"].lower()
    found = conn.execute(_INSERT_UNLESS_TAKEN[conn.dialect.name == "sqlite"], row).first()
    return employee_row(found) if found is not None else None


def update_employee(
    conn: Connection, tenant_id: int, pk: int, values: dict[str, Any]
) -> EmployeeRow:
    if "email" in values:
        values = {**values, "email_key": values["email"].lower()}
    return employee_row(conn.execute(_UPDATE, {**values, "b_tenant": tenant_id, "b_pk": pk}).one())


def touch(conn: Connection, tenant_id: int, pks: Iterable[int], at: datetime) -> None:
    """A new ``updated_at`` for employees whose rendered form changed indirectly."""
    wanted = list(dict.fromkeys(pks))
    if wanted:
        conn.execute(
            update(employees)
            .where(E.tenant_id == tenant_id, E.pk.in_(wanted))
            .values(updated_at=at)
        )


def touch_resources(
    conn: Connection, tenant_id: int, resource_pks: Iterable[int], at: datetime
) -> None:
    """A new ``updated_at`` for the employees of these SCIM users (their groups changed)."""
    wanted = list(dict.fromkeys(resource_pks))
    if wanted:
        conn.execute(
            update(employees)
            .where(E.tenant_id == tenant_id, E.resource_pk.in_(wanted))
            .values(updated_at=at)
        )


def touch_group_members(conn: Connection, tenant_id: int, group_pk: int, at: datetime) -> None:
    """A new ``updated_at`` for the employees who are members of a group: one statement,
    whatever the group's size."""
    members = select(memberships.c.member_pk).where(
        memberships.c.tenant_id == tenant_id, memberships.c.group_pk == group_pk
    )
    conn.execute(
        update(employees)
        .where(E.tenant_id == tenant_id, E.resource_pk.in_(members))
        .values(updated_at=at)
    )


def delete_employee(conn: Connection, tenant_id: int, pk: int) -> None:
    # Location memberships and its own references go by ON DELETE CASCADE.
    conn.execute(delete(employees).where(E.tenant_id == tenant_id, E.pk == pk))


def of_connection(conn: Connection, tenant_id: int, connection_id: int) -> list[EmployeeRow]:
    rows = conn.execute(
        select(*EMPLOYEE_COLUMNS)
        .where(E.tenant_id == tenant_id, E.connection_id == connection_id)
        .order_by(E.pk)
    )
    return [employee_row(r) for r in rows]


def make_manual(
    conn: Connection, tenant_id: int, connection_id: int, at: datetime
) -> list[EmployeeRow]:
    """Detach every employee of a connection from it: they stay, as manual employees
    (returned as they are now, in pk order)."""
    rows = conn.execute(
        update(employees)
        .where(E.tenant_id == tenant_id, E.connection_id == connection_id)
        .values(connection_id=None, resource_pk=None, updated_at=at)
        .returning(*EMPLOYEE_COLUMNS)
    )
    return sorted((employee_row(r) for r in rows), key=lambda e: e.pk)


# ---- location memberships ----------------------------------------------------------------


def locations_of(conn: Connection, tenant_id: int, pks: Sequence[int]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {pk: set() for pk in pks}
    if pks:
        rows = conn.execute(
            select(EL.employee_pk, EL.location_pk).where(
                EL.tenant_id == tenant_id, EL.employee_pk.in_(list(pks))
            )
        )
        for r in rows:
            out[r.employee_pk].add(r.location_pk)
    return out


def set_locations(
    conn: Connection, tenant_id: int, employee_pk: int, add: Iterable[int], remove: Iterable[int]
) -> None:
    gone = list(remove)
    if gone:
        conn.execute(
            delete(employee_locations).where(
                EL.tenant_id == tenant_id,
                EL.employee_pk == employee_pk,
                EL.location_pk.in_(gone),
            )
        )
    rows = [{"employee_pk": employee_pk, "location_pk": pk, "tenant_id": tenant_id} for pk in add]
    if rows:
        conn.execute(insert(employee_locations), rows)


# ---- references (manager, assistants) ------------------------------------------------------


@dataclass(frozen=True)
class RefRow:
    employee_pk: int
    kind: str
    position: int
    connection_id: int | None
    by: str
    raw: str
    key: str
    target_pk: int | None


_REF_COLUMNS = (
    ER.employee_pk,
    ER.kind,
    ER.position,
    ER.connection_id,
    ER.by,
    ER.raw,
    ER.key,
    ER.target_pk,
)


def _ref(r: Any) -> RefRow:
    return RefRow(
        r.employee_pk, r.kind, r.position, r.connection_id, r.by, r.raw, r.key, r.target_pk
    )


def refs_of(conn: Connection, tenant_id: int, pks: Sequence[int]) -> dict[int, list[RefRow]]:
    out: dict[int, list[RefRow]] = {pk: [] for pk in pks}
    if pks:
        rows = conn.execute(
            select(*_REF_COLUMNS)
            .where(ER.tenant_id == tenant_id, ER.employee_pk.in_(list(pks)))
            .order_by(ER.employee_pk, ER.kind, ER.position)
        )
        for r in rows:
            out[r.employee_pk].append(_ref(r))
    return out


def replace_refs(conn: Connection, tenant_id: int, employee_pk: int, refs: list[RefRow]) -> None:
    conn.execute(
        delete(employee_refs).where(ER.tenant_id == tenant_id, ER.employee_pk == employee_pk)
    )
    if refs:
        conn.execute(
            insert(employee_refs),
            [{**r.__dict__, "tenant_id": tenant_id} for r in refs],
        )


# A manual employee's references (kept from a deleted connection) are display-only: a
# manual employee changes by an admin's hand, never by someone's later arrival.
_REFERRER_SYNCED = exists().where(
    E.tenant_id == ER.tenant_id, E.pk == ER.employee_pk, E.connection_id.is_not(None)
)
_PENDING_BY_EMAIL = select(*_REF_COLUMNS).where(
    ER.tenant_id == bindparam("t"),
    ER.key == bindparam("email"),
    ER.by == "email",
    ER.target_pk.is_(None),
    _REFERRER_SYNCED,
)
_PENDING = select(*_REF_COLUMNS).where(
    ER.tenant_id == bindparam("t"),
    ER.key.in_([bindparam("email"), bindparam("scim_id")]),
    ER.target_pk.is_(None),
    or_(
        ER.by == "email",
        and_(ER.by == "id", ER.key == bindparam("scim_id"), ER.connection_id == bindparam("c")),
    ),
    or_(ER.by != "email", ER.key == bindparam("email")),
    _REFERRER_SYNCED,
)


def pending_for(
    conn: Connection, tenant_id: int, email_key: str, connection_id: int, scim_id: str | None
) -> list[RefRow]:
    """Unresolved references that name this person: by email, or by the SCIM id it has
    in the connection the referring user came from."""
    if scim_id is None:
        rows = conn.execute(_PENDING_BY_EMAIL, {"t": tenant_id, "email": email_key})
    else:
        params = {"t": tenant_id, "email": email_key, "scim_id": scim_id, "c": connection_id}
        rows = conn.execute(_PENDING, params)
    return [_ref(r) for r in rows]


_RESOLVE = (
    update(employee_refs)
    .where(
        ER.tenant_id == bindparam("t"),
        ER.employee_pk == bindparam("e"),
        ER.kind == bindparam("k"),
        ER.position == bindparam("p"),
    )
    .values(target_pk=bindparam("target"))
)


def resolve_refs(conn: Connection, tenant_id: int, refs: Sequence[RefRow], target_pk: int) -> None:
    """One executemany, however many references wait for this person."""
    if refs:
        conn.execute(
            _RESOLVE,
            [
                {
                    "t": tenant_id,
                    "e": r.employee_pk,
                    "k": r.kind,
                    "p": r.position,
                    "target": target_pk,
                }
                for r in refs
            ],
        )


def unresolve_refs_to(conn: Connection, tenant_id: int, target_pk: int) -> list[RefRow]:
    """Unresolve every reference to ``target_pk`` (it is leaving the directory); returns
    them as they were: the employees that referred to it wait for the person again."""
    refs = [
        _ref(r)
        for r in conn.execute(
            select(*_REF_COLUMNS).where(ER.tenant_id == tenant_id, ER.target_pk == target_pk)
        )
    ]
    if refs:
        conn.execute(
            update(employee_refs)
            .where(ER.tenant_id == tenant_id, ER.target_pk == target_pk)
            .values(target_pk=None)
        )
    return refs


@dataclass(frozen=True)
class Unresolved:
    references: int  # references that pointed to the connection's employees
    of_synced: int  # employees still synced (elsewhere) whose references wait again
    of_own: int  # the connection's own employees, whose references become display-only


def detach_refs(conn: Connection, tenant_id: int, connection_id: int, at: datetime) -> Unresolved:
    """Before a connection's employees turn manual, set-based: references to them are
    unresolved (a reference never resolves to a manual employee) and the referring
    employees touched; its employees' own references keep the value sent, display-only
    (no connection to resolve a SCIM id in; pending_for skips manual employees)."""
    targets = select(E.pk).where(E.tenant_id == tenant_id, E.connection_id == connection_id)
    referring = select(ER.employee_pk).where(ER.tenant_id == tenant_id, ER.target_pk.in_(targets))
    subject = employees.alias("subject")
    own = subject.c.connection_id == connection_id
    counts = conn.execute(
        select(
            func.count(),
            func.count(distinct(case((~own, ER.employee_pk)))),
            func.count(distinct(case((own, ER.employee_pk)))),
        )
        .select_from(employee_refs.join(subject, subject.c.pk == ER.employee_pk))
        .where(ER.tenant_id == tenant_id, ER.target_pk.in_(targets))
    ).one()
    if counts[0]:
        conn.execute(
            update(employees)
            .where(E.tenant_id == tenant_id, E.pk.in_(referring))
            .values(updated_at=at)
        )
        conn.execute(
            update(employee_refs)
            .where(ER.tenant_id == tenant_id, ER.target_pk.in_(targets))
            .values(target_pk=None)
        )
    conn.execute(
        update(employee_refs)
        .where(ER.tenant_id == tenant_id, ER.connection_id == connection_id)
        .values(connection_id=None)
    )
    return Unresolved(int(counts[0]), int(counts[1]), int(counts[2]))


def connection_brief(conn: Connection, tenant_id: int, connection_id: int) -> tuple[str, str, str]:
    """(uid, name, status) of a connection of the tenant, for conflict messages."""
    C = connections.c
    r = conn.execute(
        select(C.uid, C.name, C.status).where(C.tenant_id == tenant_id, C.id == connection_id)
    ).one()
    return r.uid, r.name, r.status


def user_name_of(conn: Connection, tenant_id: int, resource_pk: int | None) -> str | None:
    if resource_pk is None:
        return None
    R = resources.c
    r = conn.execute(select(R.doc).where(R.tenant_id == tenant_id, R.pk == resource_pk)).first()
    return str(r.doc.get("userName")) if r else None


def drop_pending_refs_of(conn: Connection, tenant_id: int, employee_pk: int) -> None:
    conn.execute(
        delete(employee_refs).where(
            ER.tenant_id == tenant_id, ER.employee_pk == employee_pk, ER.target_pk.is_(None)
        )
    )


def lock_connection_resources(conn: Connection, tenant_id: int, connection_id: int) -> None:
    """Row-lock every SCIM resource of a connection (PostgreSQL; SQLite serialises writes).

    A SCIM write locks its resource first and the tenant's clock row second
    (directory/journal/clock.py); deleting a connection takes the resources first too, so the two
    wait for each other instead of deadlocking."""
    conn.execute(
        select(resources.c.pk)
        .where(resources.c.tenant_id == tenant_id, resources.c.connection_id == connection_id)
        .with_for_update()
    )


def delete_connection(conn: Connection, tenant_id: int, connection_id: int) -> None:
    """The connection row; its SCIM resources, values, memberships and custom-field
    mappings go by ON DELETE CASCADE (employees were detached first)."""
    conn.execute(
        delete(connections).where(
            connections.c.tenant_id == tenant_id, connections.c.id == connection_id
        )
    )
    bump_configuration(conn, tenant_id)  # its role and field mappings went with it
