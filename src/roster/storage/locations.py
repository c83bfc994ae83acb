"""Store functions for a tenant's locations and its primary-location mapping."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    and_,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    true,
    update,
)

from roster.storage.tables import employee_locations, employees, location_aliases, locations
from roster.storage.tenancy import bump_configuration

L = locations.c
A = location_aliases.c
E = employees.c
EL = employee_locations.c


@dataclass(frozen=True)
class LocationRow:
    pk: int
    id: str
    name: str
    cities: list[str]
    locales: list[str]
    created_at: datetime


def _row(r: Any) -> LocationRow:
    return LocationRow(r.pk, r.id, r.name, list(r.cities), list(r.locales), r.created_at)


_COLUMNS = (L.pk, L.id, L.name, L.cities, L.locales, L.created_at)


# ---- employees whose locations an admin change moved --------------------------------------


@dataclass(frozen=True)
class Moved:
    """An employee whose locations (memberships, or the location its primary location
    resolves to) a set-based change moved: the host app's employee.location_changed."""

    pk: int
    id: str
    email: str
    connection_id: int | None
    before: frozenset[int]  # location pks it was a member of
    after: frozenset[int]
    primary_before: int | None  # the location its primary location resolved to
    primary_after: int | None


_MOVED_COLUMNS = (E.pk, E.id, E.email, E.connection_id, E.primary_location_pk)
# Employee pks per membership read: well under SQLite's bound-parameter limit.
_CHUNK = 500


def memberships(conn: Connection, tenant_id: int, pks: Sequence[int]) -> dict[int, set[int]]:
    """The location pks each employee is a member of (a statement per 500 employees)."""
    out: dict[int, set[int]] = {pk: set() for pk in pks}
    ordered = sorted(out)
    for start in range(0, len(ordered), _CHUNK):
        rows = conn.execute(
            select(EL.employee_pk, EL.location_pk).where(
                EL.tenant_id == tenant_id, EL.employee_pk.in_(ordered[start : start + _CHUNK])
            )
        )
        for r in rows:
            out[r.employee_pk].add(r.location_pk)
    return out


def all_of(conn: Connection, tenant_id: int) -> list[LocationRow]:
    rows = conn.execute(select(*_COLUMNS).where(L.tenant_id == tenant_id).order_by(L.name_key))
    return [_row(r) for r in rows]


def by_name(conn: Connection, tenant_id: int, name: str) -> LocationRow | None:
    r = conn.execute(
        select(*_COLUMNS).where(
            L.tenant_id == tenant_id, L.name_key == " ".join(name.split()).lower()
        )
    ).first()
    return _row(r) if r else None


def by_id(conn: Connection, tenant_id: int, location_id: str) -> LocationRow | None:
    r = conn.execute(select(*_COLUMNS).where(L.tenant_id == tenant_id, L.id == location_id)).first()
    return _row(r) if r else None


def insert_location(
    conn: Connection,
    tenant_id: int,
    name: str,
    cities: list[str],
    locales: list[str],
    at: datetime,
) -> LocationRow:
    bump_configuration(conn, tenant_id)
    location_id = str(uuid.uuid4())
    values = {
        "id": location_id,
        "tenant_id": tenant_id,
        "name": name,
        "name_key": name.lower(),
        "cities": cities,
        "locales": locales,
        "created_at": at,
    }
    pk = conn.execute(insert(locations).values(**values).returning(L.pk)).scalar_one()
    return LocationRow(pk, location_id, name, cities, locales, at)


def delete_location(conn: Connection, tenant_id: int, pk: int, at: datetime) -> list[Moved]:
    """Delete a location; the employees it was a location (or the primary location) of,
    with their locations before and after."""
    bump_configuration(conn, tenant_id)
    members = select(EL.employee_pk).where(EL.tenant_id == tenant_id, EL.location_pk == pk)
    # Their rendered locations change: new updated_at, so updated_since readers see it.
    touched = conn.execute(
        update(employees)
        .where(E.tenant_id == tenant_id, (E.primary_location_pk == pk) | E.pk.in_(members))
        .values(updated_at=at)
        .returning(*_MOVED_COLUMNS)
    ).all()
    before = memberships(conn, tenant_id, [r.pk for r in touched])
    # Memberships and aliases go by ON DELETE CASCADE; primary locations by SET NULL.
    conn.execute(delete(locations).where(L.tenant_id == tenant_id, L.pk == pk))
    return [
        Moved(
            r.pk,
            r.id,
            r.email,
            r.connection_id,
            frozenset(before[r.pk]),
            frozenset(before[r.pk] - {pk}),
            r.primary_location_pk,
            None if r.primary_location_pk == pk else r.primary_location_pk,
        )
        for r in sorted(touched, key=lambda r: r.pk)
    ]


def member_counts(conn: Connection, tenant_id: int) -> dict[int, int]:
    rows = conn.execute(
        select(EL.location_pk, func.count())
        .where(EL.tenant_id == tenant_id)
        .group_by(EL.location_pk)
    )
    return {r[0]: int(r[1]) for r in rows}


# ---- set-based re-evaluation of synced employees' memberships ---------------------------


@dataclass(frozen=True)
class Relocated:
    employees: int  # synced employees whose memberships changed (each given a new updated_at)
    added: int  # memberships added
    removed: int  # memberships removed
    moved: tuple[Moved, ...] = ()  # each of those employees, before and after


def relocate(
    conn: Connection,
    tenant_id: int,
    all_locations: Sequence[LocationRow],
    per_location: Collection[int],
    at: datetime,
    *,
    connection_id: int | None = None,
    location_pk: int | None = None,
) -> Relocated:
    """Bring synced employees' memberships in line with the rules, in three statements
    whatever the number of employees: touch the employees whose memberships change, delete
    the memberships no rule gives, insert the ones missing. Each returns its rows, and one
    more read (per 500 moved employees) gives their locations now, so each employee's
    move is known (``Relocated.moved``: the host app's events need before and after).

    ``all_locations``: every location of the tenant (their cities and locales become the SQL
    predicate); ``per_location``: the connections whose location_sync is per_location (the
    others sync everyone to every location). Narrowed to one connection's employees and/or
    one location; manual employees' memberships are an admin's and never touched.
    """
    per = sorted(set(per_location))

    def belongs(e: FromClause, loc: FromClause) -> ColumnElement[bool]:
        # The SQL twin of directory.locations.evaluate; tests hold the two together.
        if not per:
            return true()
        by_keys = [
            and_(
                loc.c.pk == row.pk,
                or_(
                    *([e.c.city_key.in_(row.cities)] if row.cities else []),
                    *([e.c.locale_key.in_(row.locales)] if row.locales else []),
                ),
            )
            for row in all_locations
            if row.cities or row.locales
        ]
        return or_(e.c.connection_id.not_in(per), *by_keys)

    def employee_scope(e: FromClause) -> ColumnElement[bool]:
        scope = [e.c.tenant_id == tenant_id, e.c.connection_id.is_not(None)]
        if connection_id is not None:
            scope.append(e.c.connection_id == connection_id)
        return and_(*scope)

    def location_scope(column: Any) -> ColumnElement[bool]:
        return column == location_pk if location_pk is not None else true()

    # Touch first, while the old memberships are there to compare with. ``employees`` is
    # the UPDATE's row, correlated by hand: SQLAlchemy only auto-correlates one level up.
    loc = locations.alias("loc")
    member = employee_locations.alias("member")
    other = locations.alias("other")
    is_member = exists().where(
        member.c.tenant_id == tenant_id,
        member.c.employee_pk == E.pk,
        member.c.location_pk == loc.c.pk,
    )
    joins = exists().where(
        loc.c.tenant_id == E.tenant_id,
        location_scope(loc.c.pk),
        belongs(employees, loc),
        ~is_member.correlate(employees, loc),
    )
    still_belongs = exists().where(
        other.c.tenant_id == E.tenant_id,
        other.c.pk == member.c.location_pk,
        belongs(employees, other),
    )
    leaves = exists().where(
        member.c.tenant_id == tenant_id,
        member.c.employee_pk == E.pk,
        location_scope(member.c.location_pk),
        ~still_belongs.correlate(employees, member),
    )
    touched = conn.execute(
        update(employees)
        .where(
            employee_scope(employees),
            or_(joins.correlate(employees), leaves.correlate(employees)),
        )
        .values(updated_at=at)
        .returning(*_MOVED_COLUMNS)
    ).all()

    e = employees.alias("e")
    kept = (
        select(e.c.pk)
        .join(loc, loc.c.tenant_id == e.c.tenant_id)
        .where(e.c.pk == EL.employee_pk, loc.c.pk == EL.location_pk, belongs(e, loc))
    )
    removed = conn.execute(
        delete(employee_locations)
        .where(
            EL.tenant_id == tenant_id,
            location_scope(EL.location_pk),
            EL.employee_pk.in_(select(e.c.pk).where(employee_scope(e))),
            ~kept.exists(),
        )
        .returning(EL.employee_pk, EL.location_pk)
    ).all()
    wanted = (
        select(e.c.pk, loc.c.pk, e.c.tenant_id)
        .join(loc, loc.c.tenant_id == e.c.tenant_id)
        .where(
            employee_scope(e),
            location_scope(loc.c.pk),
            belongs(e, loc),
            ~exists().where(
                member.c.tenant_id == tenant_id,
                member.c.employee_pk == e.c.pk,
                member.c.location_pk == loc.c.pk,
            ),
        )
    )
    added = conn.execute(
        insert(employee_locations)
        .from_select(["employee_pk", "location_pk", "tenant_id"], wanted)
        .returning(EL.employee_pk, EL.location_pk)
    ).all()
    now_in = memberships(conn, tenant_id, [r.pk for r in touched])
    gained: dict[int, set[int]] = {}
    lost: dict[int, set[int]] = {}
    for r in added:
        gained.setdefault(r.employee_pk, set()).add(r.location_pk)
    for r in removed:
        lost.setdefault(r.employee_pk, set()).add(r.location_pk)
    moved = tuple(
        Moved(
            r.pk,
            r.id,
            r.email,
            r.connection_id,
            frozenset((now_in[r.pk] - gained.get(r.pk, set())) | lost.get(r.pk, set())),
            frozenset(now_in[r.pk]),
            r.primary_location_pk,
            r.primary_location_pk,
        )
        for r in sorted(touched, key=lambda r: r.pk)
    )
    return Relocated(len(touched), len(added), len(removed), moved)


# ---- primary location (defaultLocationName) --------------------------------------------


def alias_target(conn: Connection, tenant_id: int, value_key: str) -> int | None:
    r = conn.execute(
        select(A.location_pk).where(A.tenant_id == tenant_id, A.value_key == value_key)
    ).first()
    return int(r.location_pk) if r else None


def alias_targets(conn: Connection, tenant_id: int) -> dict[str, int]:
    """Every mapped value (folded) and its location's pk."""
    rows = conn.execute(select(A.value_key, A.location_pk).where(A.tenant_id == tenant_id))
    return {r.value_key: int(r.location_pk) for r in rows}


def aliases_of(conn: Connection, tenant_id: int) -> list[tuple[str, str]]:
    """(value, location name) pairs of the admin's mapping."""
    rows = conn.execute(
        select(A.value, L.name)
        .join(locations, L.pk == A.location_pk)
        .where(A.tenant_id == tenant_id)
        .order_by(A.value_key)
    )
    return [(r.value, r.name) for r in rows]


def put_alias(conn: Connection, tenant_id: int, value: str, location_pk: int) -> None:
    bump_configuration(conn, tenant_id)
    key = value.strip().lower()
    conn.execute(delete(location_aliases).where(A.tenant_id == tenant_id, A.value_key == key))
    conn.execute(
        insert(location_aliases).values(
            tenant_id=tenant_id, value_key=key, value=value.strip(), location_pk=location_pk
        )
    )


def delete_alias(conn: Connection, tenant_id: int, value: str) -> bool:
    bump_configuration(conn, tenant_id)
    result = conn.execute(
        delete(location_aliases).where(
            A.tenant_id == tenant_id, A.value_key == value.strip().lower()
        )
    )
    return bool(result.rowcount)


@dataclass(frozen=True)
class Assigned:
    employees: int  # employees whose defaultLocationName is the value
    moved: tuple[Moved, ...]  # those whose primary location now resolves elsewhere


def assign_primary(
    conn: Connection, tenant_id: int, value_key: str, location_pk: int | None, at: datetime
) -> Assigned:
    """Point every employee whose defaultLocationName is ``value_key`` at a location (or at
    none): set-based, for mapping changes and new locations. The employees whose primary
    location changes are read first (their old location) with their memberships."""
    holders = conn.execute(
        select(*_MOVED_COLUMNS)
        .where(
            E.tenant_id == tenant_id,
            E.primary_location_key == value_key,
            E.primary_location_pk.is_distinct_from(location_pk),
        )
        .order_by(E.pk)
    ).all()
    result = conn.execute(
        update(employees)
        .where(E.tenant_id == tenant_id, E.primary_location_key == value_key)
        .values(primary_location_pk=location_pk, updated_at=at)
    )
    held = memberships(conn, tenant_id, [r.pk for r in holders]) if holders else {}
    moved = tuple(
        Moved(
            r.pk,
            r.id,
            r.email,
            r.connection_id,
            frozenset(held[r.pk]),
            frozenset(held[r.pk]),
            r.primary_location_pk,
            location_pk,
        )
        for r in holders
    )
    return Assigned(int(result.rowcount or 0), moved)


def unmapped(conn: Connection, tenant_id: int) -> list[tuple[str, int]]:
    """defaultLocationName values no location takes: (value as first seen, employees)."""
    rows = conn.execute(
        select(
            E.primary_location_key, func.min(E.fields["primaryLocation"].as_string()), func.count()
        )
        .where(
            E.tenant_id == tenant_id,
            E.primary_location_key.is_not(None),
            E.primary_location_pk.is_(None),
        )
        .group_by(E.primary_location_key)
        .order_by(E.primary_location_key)
    )
    return [(str(r[1] or r[0]), int(r[2])) for r in rows]
