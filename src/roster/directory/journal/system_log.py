"""The system log: one entry per SCIM request or admin action (who, what, outcome, why),
and ``note``s of what the directory did on its own account (links, references resolved or
waiting, locations assigned, values flagged).

Entries are collected by the change (directory/journal/change.py) and written in the
transaction of the change they describe, next to the entry of the request that caused
it; read requests' entries are batched (directory/journal/read_log.py). The rows are
storage/system_log.py's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from roster.directory.journal.change import correlated, current, now, request_id
from roster.storage import system_log as store
from roster.storage.system_log import LogEntry

__all__ = [
    "LogEntry",
    "Outcome",
    "correlated",
    "entry",
    "note",
    "notes",
    "now",
    "recent",
    "record",
    "request_id",
]


@dataclass(frozen=True)
class Outcome:
    status: int
    resource_type: str | None = None
    resource_id: str | None = None
    scim_type: str | None = None
    detail: str | None = None


def _printable(text: str | None) -> str | None:
    """NUL written as %00: a refused request's path may hold one (it is why it was refused),
    and PostgreSQL text cannot."""
    return text.replace("\x00", "%00") if text is not None and "\x00" in text else text


def entry(
    *,
    tenant_id: int,
    connection_uid: str | None,
    actor: str,
    method: str,
    path: str,
    outcome: Outcome,
    request_id: str,
    duration_ms: float = 0.0,
) -> LogEntry:
    """The entry of a request or admin action, as stored."""
    return LogEntry(
        tenant_id=tenant_id,
        connection_uid=connection_uid,
        at=now(),
        actor=actor,
        method=method,
        path=path.replace("\x00", "%00"),
        resource_type=outcome.resource_type,
        resource_id=_printable(outcome.resource_id),
        status=outcome.status,
        scim_type=outcome.scim_type,
        detail=_printable(outcome.detail),
        request_id=request_id,
        duration_ms=round(duration_ms, 3),
    )


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
        entry(
            tenant_id=tenant_id,
            connection_uid=connection_uid,
            actor=actor,
            method=method,
            path=path,
            outcome=outcome,
            request_id=request_id or change.request_id,
            duration_ms=duration_ms,
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


# ---- the directory's own notes -------------------------------------------------------


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
    current(conn, tenant_id).note(
        action, detail, employee_id, connection_uid=connection_uid, actor=actor, status=status
    )


def notes(
    conn: Connection,
    tenant_id: int,
    connection_uid: str | None,
    items: Sequence[tuple[str, str, str]],
    *,
    actor: str = "directory",
) -> None:
    """Several directory notes of one change, ``(action, detail, employee_id)`` each:
    written with the change's other entries, in one statement however many there are."""
    change = current(conn, tenant_id)
    for action, detail, employee_id in items:
        change.note(action, detail, employee_id, connection_uid=connection_uid, actor=actor)
