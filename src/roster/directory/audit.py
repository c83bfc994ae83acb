"""The system log: one entry per SCIM request or admin action (who, what, outcome, why)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from roster.directory.change import correlated, current, now, request_id
from roster.storage import log as store
from roster.storage.log import LogEntry

__all__ = ["LogEntry", "Outcome", "correlated", "now", "recent", "record", "request_id"]


@dataclass(frozen=True)
class Outcome:
    status: int
    resource_type: str | None = None
    resource_id: str | None = None
    scim_type: str | None = None
    detail: str | None = None


def record(
    conn: Connection,
    *,
    tenant_id: int,
    connection_uid: str | None,
    actor: str,
    method: str,
    path: str,
    outcome: Outcome,
    request_id: str | None = None,
    duration_ms: float = 0.0,
) -> None:
    """The entry of a request or admin action, written with its change (change.py);
    ``request_id`` defaults to the change's correlation id."""
    change = current(conn, tenant_id)
    change.log(
        LogEntry(
            tenant_id=tenant_id,
            connection_uid=connection_uid,
            at=now(),
            actor=actor,
            method=method,
            path=path,
            resource_type=outcome.resource_type,
            resource_id=outcome.resource_id,
            status=outcome.status,
            scim_type=outcome.scim_type,
            detail=outcome.detail,
            request_id=request_id or change.request_id,
            duration_ms=round(duration_ms, 3),
        )
    )


def recent(
    conn: Connection,
    tenant_id: int,
    *,
    limit: int = 50,
    outcome: str | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    connection_uid: str | None = None,
) -> list[LogEntry]:
    return store.entries(
        conn,
        tenant_id,
        limit=limit,
        outcome=outcome,
        resource_type=resource_type,
        resource_id=resource_id,
        connection_uid=connection_uid,
    )
