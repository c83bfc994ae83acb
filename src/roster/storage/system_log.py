"""Store functions for the system log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from roster.storage.tables import log_entries, rate_buckets

L = log_entries.c


@dataclass(frozen=True)
class LogEntry:
    tenant_id: int
    connection_uid: str | None
    at: datetime
    actor: str
    method: str
    path: str
    resource_type: str | None
    resource_id: str | None
    status: int
    scim_type: str | None
    detail: str | None
    request_id: str
    duration_ms: float
    id: int | None = None


# Built once: every request runs it, and building a statement costs more than executing it.
_INSERT = insert(log_entries)


def insert_entries(conn: Connection, entries: Sequence[LogEntry]) -> None:
    """Several entries in one executemany: one statement however many there are."""
    if entries:
        conn.execute(_INSERT, [{k: v for k, v in e.__dict__.items() if k != "id"} for e in entries])


def entries(
    conn: Connection,
    tenant_id: int,
    *,
    limit: int,
    outcome: str | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    connection_uid: str | None = None,
) -> list[LogEntry]:
    """Newest first. ``outcome``: "ok" (status < 400) or "error"."""
    query = select(log_entries).where(L.tenant_id == tenant_id)
    if outcome == "ok":
        query = query.where(L.status < 400)
    elif outcome == "error":
        query = query.where(L.status >= 400)
    if resource_type:
        query = query.where(L.resource_type == resource_type)
    if resource_id:
        query = query.where(L.resource_id == resource_id)
    if connection_uid:
        query = query.where(L.connection_uid == connection_uid)
    rows = conn.execute(query.order_by(L.id.desc()).limit(limit))
    return [entry_of(r) for r in rows]


def entry_of(r: Any) -> LogEntry:
    """A stored entry (a ``log_entries`` row) as a LogEntry."""
    return LogEntry(
        r.tenant_id,
        r.connection_uid,
        r.at,
        r.actor,
        r.method,
        r.path,
        r.resource_type,
        r.resource_id,
        r.status,
        r.scim_type,
        r.detail,
        r.request_id,
        r.duration_ms,
        r.id,
    )


def of_request(
    conn: Connection, request_id: str, tenant_id: int | None = None, limit: int | None = None
) -> list[LogEntry]:
    """Every entry one request or command wrote (the first ``limit``), oldest first."""
    query = select(log_entries).where(L.request_id == request_id)
    if tenant_id is not None:
        query = query.where(L.tenant_id == tenant_id)
    return [entry_of(r) for r in conn.execute(query.order_by(L.id).limit(limit))]


def count_before(conn: Connection, before: datetime) -> int:
    """How many entries (every tenant's) were written before ``before``."""
    return int(conn.execute(select(func.count()).where(L.at < before)).scalar_one())


def prune(conn: Connection, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` entries (every tenant's) written before ``before``, oldest
    first; returns how many. In chunks, so that no transaction holds a large delete."""
    chunk = select(L.id).where(L.at < before).order_by(L.at).limit(limit).scalar_subquery()
    return conn.execute(delete(log_entries).where(L.id.in_(chunk))).rowcount


def prune_rate_buckets(conn: Connection, idle_before: float) -> int:
    """Delete the rate limiter's buckets untouched since ``idle_before`` (epoch seconds):
    a bucket that idle is full again, as a missing one is."""
    return conn.execute(delete(rate_buckets).where(rate_buckets.c.at < idle_before)).rowcount
