"""System-log entries for what the directory did on its own account: links, references
resolved or waiting, locations assigned, values flagged. Written in the transaction of the
change they describe, next to the entry of the request that caused it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from roster.directory.audit import Outcome, now, record, request_id
from roster.storage import log as log_store
from roster.storage.log import LogEntry


def note(
    conn: Connection,
    tenant_id: int,
    connection_uid: str | None,
    action: str,
    detail: str,
    employee_id: str | None = None,
    *,
    actor: str = "directory",
    status: int = 200,
) -> None:
    record(
        conn,
        tenant_id=tenant_id,
        connection_uid=connection_uid,
        actor=actor,
        method="ADMIN" if actor == "admin" else "SYNC",
        path=action,
        outcome=Outcome(status, "Employee" if employee_id else None, employee_id, None, detail),
        request_id=request_id(),
        duration_ms=0.0,
    )


def notes(
    conn: Connection,
    tenant_id: int,
    connection_uid: str | None,
    items: Sequence[tuple[str, str, str]],
    *,
    actor: str = "directory",
) -> None:
    """Several directory notes of one change, ``(action, detail, employee_id)`` each, in one
    statement: a manager leaving notes each report's reference without a write per report."""
    at, rid = now(), request_id()
    log_store.insert_entries(
        conn,
        [
            LogEntry(
                tenant_id=tenant_id,
                connection_uid=connection_uid,
                at=at,
                actor=actor,
                method="SYNC",
                path=action,
                resource_type="Employee",
                resource_id=employee_id,
                status=200,
                scim_type=None,
                detail=detail,
                request_id=rid,
                duration_ms=0.0,
            )
            for action, detail, employee_id in items
        ],
    )
