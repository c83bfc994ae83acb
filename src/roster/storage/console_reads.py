"""Read-side statements of the admin console: request counts from the system log, resource
counts per connection, employee search, and log pages and trails. Every one is scoped by
``tenant_id``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    case,
    cast,
    exists,
    func,
    or_,
    select,
)

from roster.storage.employees import EMPLOYEE_COLUMNS, EmployeeRow, employee_row
from roster.storage.system_log import LogEntry, entry_of
from roster.storage.tables import employee_locations, employees, log_entries, resources

L = log_entries.c
R = resources.c
E = employees.c
EL = employee_locations.c

# Entries of requests an IdP sent (a Bulk request's operations are counted in the Bulk one).
_IDP_ACTORS = ("scim",)


@dataclass(frozen=True)
class Traffic:
    requests: int
    errors: int


def traffic_since(conn: Connection, tenant_id: int, since: datetime) -> dict[str, Traffic]:
    rows = conn.execute(
        select(
            L.connection_uid,
            func.count(),
            func.sum(case((L.status >= 400, 1), else_=0)),
        )
        .where(
            L.tenant_id == tenant_id,
            L.at >= since,
            L.actor.in_(_IDP_ACTORS),
            L.connection_uid.is_not(None),
        )
        .group_by(L.connection_uid)
    )
    return {r[0]: Traffic(int(r[1]), int(r[2] or 0)) for r in rows}


def hourly_requests(
    conn: Connection, tenant_id: int, connection_uid: str, since: datetime
) -> list[tuple[datetime, int]]:
    """Request times of one connection since ``since`` (bucketed by the caller)."""
    rows = conn.execute(
        select(L.at, L.status).where(
            L.tenant_id == tenant_id,
            L.connection_uid == connection_uid,
            L.at >= since,
            L.actor.in_(_IDP_ACTORS),
        )
    )
    return [(r.at, int(r.status)) for r in rows]


def last_request(conn: Connection, tenant_id: int, connection_uid: str) -> datetime | None:
    # Newest first along ix_log_entries_tenant: stops at the first entry of the connection.
    at = conn.execute(
        select(L.at)
        .where(
            L.tenant_id == tenant_id,
            L.connection_uid == connection_uid,
            L.actor.in_(_IDP_ACTORS),
        )
        .order_by(L.id.desc())
        .limit(1)
    ).scalar()
    return at


def resource_counts(conn: Connection, tenant_id: int) -> dict[tuple[int, str], int]:
    rows = conn.execute(
        select(R.connection_id, R.resource_type, func.count())
        .where(R.tenant_id == tenant_id)
        .group_by(R.connection_id, R.resource_type)
    )
    return {(int(r[0]), str(r[1])): int(r[2]) for r in rows}


def employee_counts(conn: Connection, tenant_id: int) -> dict[int | None, int]:
    rows = conn.execute(
        select(E.connection_id, func.count())
        .where(E.tenant_id == tenant_id)
        .group_by(E.connection_id)
    )
    return {r[0]: int(r[1]) for r in rows}


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class EmployeeSearch:
    q: str | None = None
    status: str | None = None
    location_pk: int | None = None
    manual: bool | None = None  # True: manual only; False: synced only
    connection_id: int | None = None


def _search(tenant_id: int, where: EmployeeSearch) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [E.tenant_id == tenant_id]
    q = where.q
    if where.status:
        conds.append(E.status == where.status)
    if where.manual is True:
        conds.append(E.connection_id.is_(None))
    elif where.manual is False:
        conds.append(E.connection_id.is_not(None))
    if where.connection_id is not None:
        conds.append(E.connection_id == where.connection_id)
    if where.location_pk is not None:
        conds.append(
            exists().where(
                EL.tenant_id == tenant_id,
                EL.location_pk == where.location_pk,
                EL.employee_pk == E.pk,
            )
        )
    words = (q or "").strip().lower()
    if words:
        pattern = f"%{_like_escape(words)}%"

        def field(name: str) -> ColumnElement[str]:
            return func.lower(cast(E.fields[name].as_string(), String))

        full = func.lower(
            func.coalesce(E.fields["givenName"].as_string(), "")
            + " "
            + func.coalesce(E.fields["familyName"].as_string(), "")
        )
        conds.append(
            or_(
                E.email_key.like(pattern, escape="\\"),
                field("displayName").like(pattern, escape="\\"),
                field("givenName").like(pattern, escape="\\"),
                field("familyName").like(pattern, escape="\\"),
                full.like(pattern, escape="\\"),
            )
        )
    return conds


def employee_search(
    conn: Connection,
    tenant_id: int,
    where: EmployeeSearch,
    offset: int,
    limit: int,
) -> tuple[list[EmployeeRow], int]:
    conds = _search(tenant_id, where)
    total = int(
        conn.execute(select(func.count()).select_from(employees).where(*conds)).scalar_one()
    )
    rows = conn.execute(
        select(*EMPLOYEE_COLUMNS)
        .where(*conds)
        .order_by(E.email_key, E.pk)
        .offset(offset)
        .limit(limit)
    )
    return [employee_row(r) for r in rows], total


@dataclass(frozen=True)
class LogFilter:
    outcome: str | None = None  # "ok" or "error"
    resource_type: str | None = None
    connection_uid: str | None = None
    request_id: str | None = None
    actor: str | None = None
    resource_id: str | None = None
    since: datetime | None = None  # at or after (naive UTC)
    until: datetime | None = None  # before


def log_page(
    conn: Connection, tenant_id: int, where: LogFilter, before_id: int | None, limit: int
) -> list[LogEntry]:
    """Newest first, ``limit`` entries older than ``before_id``."""
    query = select(log_entries).where(L.tenant_id == tenant_id)
    if where.outcome == "ok":
        query = query.where(L.status < 400)
    elif where.outcome == "error":
        query = query.where(L.status >= 400)
    if where.resource_type:
        query = query.where(L.resource_type == where.resource_type)
    if where.connection_uid:
        query = query.where(L.connection_uid == where.connection_uid)
    if where.request_id:
        query = query.where(L.request_id == where.request_id)
    if where.actor:
        query = query.where(L.actor == where.actor)
    if where.resource_id:
        query = query.where(L.resource_id == where.resource_id)
    if where.since is not None:
        query = query.where(L.at >= where.since)
    if where.until is not None:
        query = query.where(L.at < where.until)
    if before_id is not None:
        query = query.where(L.id < before_id)
    return [entry_of(r) for r in conn.execute(query.order_by(L.id.desc()).limit(limit))]


def log_entry(conn: Connection, tenant_id: int, entry_id: int) -> LogEntry | None:
    r = conn.execute(select(log_entries).where(L.tenant_id == tenant_id, L.id == entry_id)).first()
    return entry_of(r) if r else None


def employees_by_ids(conn: Connection, tenant_id: int, ids: Sequence[str]) -> list[EmployeeRow]:
    if not ids:
        return []
    rows = conn.execute(select(*EMPLOYEE_COLUMNS).where(E.tenant_id == tenant_id, E.id.in_(ids)))
    return [employee_row(r) for r in rows]
