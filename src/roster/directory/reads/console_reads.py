"""The admin console's read side: connection health from the system log, employee search,
and log pages with each request's trail. Tenant-scoped like every query."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from roster.directory.admin import tenancy
from roster.directory.people import coverage
from roster.directory.places import locations
from roster.directory.reads import read_api
from roster.directory.settings import registry
from roster.errors import InvalidValue, NotFound
from roster.storage import console_reads as reads
from roster.storage import outbox as outbox_store
from roster.storage import system_log as log_store
from roster.storage import tenancy as tenancy_store
from roster.storage.console_reads import LogFilter
from roster.storage.outbox import OutboxRow
from roster.storage.system_log import LogEntry
from roster.storage.tenancy import ConnectionRow, TenantRow

__all__ = ["ConnectionRow", "LogEntry", "LogFilter", "OutboxRow", "TenantRow"]

Json = dict[str, Any]


def tenant_by_slug(conn: Connection, slug: str) -> TenantRow:
    row = tenancy_store.tenant_by_name(conn, slug)
    if row is None or row.slug != slug:
        raise NotFound(f"no tenant {slug!r}")
    return row


def tenant_by_id(conn: Connection, tenant_id: int) -> TenantRow:
    row = tenancy_store.tenant_by_id(conn, tenant_id)
    if row is None:
        raise NotFound("no such tenant")
    return row


def all_tenants(conn: Connection) -> list[TenantRow]:
    return tenancy.list_tenants(conn)


def connection_of(conn: Connection, tenant_id: int, uid: str) -> ConnectionRow:
    """A connection of this tenant, or NotFound: never another tenant's."""
    try:
        row = tenancy.get_connection(conn, uid)
    except NotFound:
        row = None
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(f"no connection {uid!r} in this tenant")
    return row


@dataclass(frozen=True)
class ConnectionHealth:
    row: ConnectionRow
    last_request: datetime | None
    requests_24h: int
    errors_24h: int
    users: int
    groups: int
    employees: int
    # Users kept out of the directory, by reason (only looked up when there are some).
    kept_out: coverage.Coverage | None = None


def dashboard(conn: Connection, tenant: TenantRow, at: datetime) -> list[ConnectionHealth]:
    rows = tenancy_store.connections_of(conn, tenant.id)
    traffic = reads.traffic_since(conn, tenant.id, at - timedelta(hours=24))
    counts = reads.resource_counts(conn, tenant.id)
    people = reads.employee_counts(conn, tenant.id)
    out = []
    for row in rows:
        t = traffic.get(row.uid, reads.Traffic(0, 0))
        users, employees = counts.get((row.id, "User"), 0), people.get(row.id, 0)
        kept_out = coverage.of_connection(conn, tenant.id, row.id) if users > employees else None
        out.append(
            ConnectionHealth(
                row,
                reads.last_request(conn, tenant.id, row.uid),
                t.requests,
                t.errors,
                users,
                counts.get((row.id, "Group"), 0),
                employees,
                kept_out,
            )
        )
    return out


def manual_employees(conn: Connection, tenant_id: int) -> int:
    return reads.employee_counts(conn, tenant_id).get(None, 0)


def hourly(
    conn: Connection, tenant_id: int, uid: str, at: datetime, hours: int = 24
) -> list[tuple[int, int]]:
    """(requests, errors) per hour over the last ``hours``, oldest first."""
    start = at - timedelta(hours=hours)
    buckets = [[0, 0] for _ in range(hours)]
    for when, status in reads.hourly_requests(conn, tenant_id, uid, start):
        i = min(hours - 1, max(0, int((when - start).total_seconds() // 3600)))
        buckets[i][0] += 1
        if status >= 400:
            buckets[i][1] += 1
    return [(a, b) for a, b in buckets]


def settings_of(row: ConnectionRow) -> list[registry.Effective]:
    """Every per-connection setting with its value, source and meaning (as
    `roster connection show` prints them)."""
    return registry.effective(row)


@dataclass(frozen=True)
class EmployeePage:
    items: list[Json]
    total: int
    page: int
    pages: int


def search_employees(
    conn: Connection,
    tenant_id: int,
    *,
    q: str | None,
    status: str | None,
    page: int,
    location: str | None = None,
    source: str | None = None,
    per_page: int = 25,
) -> EmployeePage:
    """``location``: a location id or name; ``source``: manual, synced, or a connection id
    of this tenant (another tenant's is refused like an unknown one)."""
    if status not in (None, "", "active", "inactive"):
        raise InvalidValue("status must be active or inactive")
    where = reads.EmployeeSearch(q=q, status=status or None)
    if location:
        where = replace(where, location_pk=locations.get(conn, tenant_id, location).pk)
    if source in ("manual", "synced"):
        where = replace(where, manual=source == "manual")
    elif source:
        try:
            where = replace(where, connection_id=connection_of(conn, tenant_id, source).id)
        except NotFound:
            raise InvalidValue(
                "source must be manual, synced, or a connection id of this tenant"
            ) from None
    page = max(1, page)
    rows, total = reads.employee_search(conn, tenant_id, where, (page - 1) * per_page, per_page)
    pages = max(1, -(-total // per_page))
    return EmployeePage(read_api.render_employees(conn, tenant_id, rows), total, page, pages)


def groups(
    conn: Connection, tenant_id: int, cursor: str | None, limit: int = 50
) -> tuple[list[Json], str | None]:
    """Pushed groups with their members (as the read API lists them)."""
    return read_api.list_groups(conn, tenant_id, cursor=cursor, limit=limit)


def connections(conn: Connection, tenant_id: int) -> list[ConnectionRow]:
    return tenancy_store.connections_of(conn, tenant_id)


def employee(conn: Connection, tenant_id: int, employee_id: str) -> Json:
    return read_api.get_employee(conn, tenant_id, employee_id)


def log_page(
    conn: Connection, tenant_id: int, where: LogFilter, before_id: int | None, limit: int = 50
) -> list[LogEntry]:
    if where.outcome not in (None, "ok", "error"):
        raise InvalidValue("outcome must be ok or error")
    return reads.log_page(conn, tenant_id, where, before_id, limit)


def log_entry(conn: Connection, tenant_id: int, entry_id: int) -> tuple[LogEntry, list[LogEntry]]:
    """One entry and its request's trail (every entry with the same request id)."""
    entry = reads.log_entry(conn, tenant_id, entry_id)
    if entry is None:
        raise NotFound(f"no log entry {entry_id}")
    return entry, log_store.of_request(conn, entry.request_id, tenant_id, 500)


def outbox(
    conn: Connection, tenant_id: int, status: str | None, limit: int = 100
) -> list[OutboxRow]:
    """The tenant's queued and sent emails, newest first (as `roster mail outbox`)."""
    if status not in (None, *outbox_store.STATUSES):
        raise InvalidValue(f"status must be one of {', '.join(outbox_store.STATUSES)}")
    return outbox_store.list_emails(conn, tenant_id, status=status, limit=limit)
