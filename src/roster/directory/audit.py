"""The system log: one entry per SCIM request or admin action (who, what, outcome, why)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection

from roster.storage import log as store
from roster.storage.log import LogEntry

__all__ = ["LogEntry", "Outcome", "correlated", "now", "recent", "record", "request_id"]

# The id of the request being served, so entries the directory writes on its own account
# (a link, a reference resolved) share it with the request's own entry. Set per request
# in the thread that serves it; never used to scope data.
_REQUEST_ID: ContextVar[str | None] = ContextVar("roster_request_id", default=None)


@contextmanager
def correlated(request_id: str) -> Iterator[None]:
    token = _REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        _REQUEST_ID.reset(token)


def request_id() -> str:
    """The current request's id, or a fresh one for work no request caused (CLI)."""
    return _REQUEST_ID.get() or str(uuid.uuid4())


def now() -> datetime:
    """Naive UTC to the millisecond: the form every timestamp column stores, and exactly
    what meta.created / meta.lastModified render, so filters on them match what clients
    saw."""
    at = datetime.now(UTC).replace(tzinfo=None)
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


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


def record(
    conn: Connection,
    *,
    tenant_id: int,
    connection_uid: str | None,
    actor: str,
    method: str,
    path: str,
    outcome: Outcome,
    request_id: str,
    duration_ms: float,
) -> None:
    store.insert_entry(
        conn,
        LogEntry(
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
        ),
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
