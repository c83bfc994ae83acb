"""Store functions for a tenant's locations and its primary-location mapping."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from roster.storage.tables import employee_locations, employees, location_aliases, locations

L = locations.c
A = location_aliases.c
E = employees.c


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


def all_of(conn: Connection, tenant_id: int) -> list[LocationRow]:
    rows = conn.execute(select(*_COLUMNS).where(L.tenant_id == tenant_id).order_by(L.name_key))
    return [_row(r) for r in rows]


def by_name(conn: Connection, tenant_id: int, name: str) -> LocationRow | None:
    r = conn.execute(
        select(*_COLUMNS).where(L.tenant_id == tenant_id, L.name_key == name.strip().lower())
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


def delete_location(conn: Connection, tenant_id: int, pk: int, at: datetime) -> None:
    EL = employee_locations.c
    members = select(EL.employee_pk).where(EL.tenant_id == tenant_id, EL.location_pk == pk)
    # Their rendered locations change: new updated_at, so updated_since readers see it.
    conn.execute(
        update(employees)
        .where(E.tenant_id == tenant_id, (E.primary_location_pk == pk) | E.pk.in_(members))
        .values(updated_at=at)
    )
    # Memberships and aliases go by ON DELETE CASCADE; primary locations by SET NULL.
    conn.execute(delete(locations).where(L.tenant_id == tenant_id, L.pk == pk))


def member_counts(conn: Connection, tenant_id: int) -> dict[int, int]:
    EL = employee_locations.c
    rows = conn.execute(
        select(EL.location_pk, func.count())
        .where(EL.tenant_id == tenant_id)
        .group_by(EL.location_pk)
    )
    return {r[0]: int(r[1]) for r in rows}


# ---- primary location (defaultLocationName) --------------------------------------------


def alias_target(conn: Connection, tenant_id: int, value_key: str) -> int | None:
    r = conn.execute(
        select(A.location_pk).where(A.tenant_id == tenant_id, A.value_key == value_key)
    ).first()
    return int(r.location_pk) if r else None


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
    key = value.strip().lower()
    conn.execute(delete(location_aliases).where(A.tenant_id == tenant_id, A.value_key == key))
    conn.execute(
        insert(location_aliases).values(
            tenant_id=tenant_id, value_key=key, value=value.strip(), location_pk=location_pk
        )
    )


def delete_alias(conn: Connection, tenant_id: int, value: str) -> bool:
    result = conn.execute(
        delete(location_aliases).where(
            A.tenant_id == tenant_id, A.value_key == value.strip().lower()
        )
    )
    return bool(result.rowcount)


def assign_primary(
    conn: Connection, tenant_id: int, value_key: str, location_pk: int | None, at: datetime
) -> int:
    """Point every employee whose defaultLocationName is ``value_key`` at a location (or at
    none): set-based, for mapping changes and new locations."""
    result = conn.execute(
        update(employees)
        .where(E.tenant_id == tenant_id, E.primary_location_key == value_key)
        .values(primary_location_pk=location_pk, updated_at=at)
    )
    return int(result.rowcount or 0)


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
