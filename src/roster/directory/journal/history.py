"""System-log entries for what the directory did on its own account: links, references
resolved or waiting, locations assigned, values flagged. Collected by the change
(directory/journal/change.py) and written in the transaction of the change they describe, next
to the entry of the request that caused it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from roster.directory.journal.change import current


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
