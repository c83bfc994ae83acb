"""System-log entries for what the directory did on its own account: links, references
resolved or waiting, locations assigned, values flagged. Written in the transaction of the
change they describe, next to the entry of the request that caused it."""

from __future__ import annotations

from sqlalchemy import Connection

from roster.directory.audit import Outcome, record, request_id


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
