"""The unit of work: one per write transaction.

Every state change — a SCIM write, a Bulk operation, an admin command, a rule run, a
location or setting change, mail bookkeeping — runs inside one ``Change`` bound to its
database transaction. The change

* takes the locks the work needs *first and in one order*: the tenant's configuration
  lock (shared for a SCIM write, taken with its authentication in the request's first
  statement; exclusive for a configuration change, taken before its first write), then
  the SCIM resource rows the request names, in primary-key order, then employee rows;
* fixes the write time once (``write_time``): on PostgreSQL the transaction's start on
  the database clock, which the read side's horizon is built from (see
  docs/design/write-path.md); on SQLite the time after ``BEGIN IMMEDIATE``;
* collects the system-log entries of the work and writes them in one statement just
  before the transaction commits, all with the one correlation id of the request or
  command; a rolled-back transaction writes none (the caller logs the rejection in a
  change of its own);
* collects the SCIM users whose access must be evaluated when the operation ends.

It is the only writer of the system log (besides the batched writer of read requests'
entries, directory/journal/read_log.py), and the only writer of change events (the host
app's feed, docs/events.md): ``emit`` collects them and the flush writes them with the
log entries, in the same transaction as the change they describe.

A change is opened explicitly by the entry points (``open``); code that only receives a
``Connection`` finds it with ``current``, which opens an admin change lazily for
callers that did not (tests driving actions directly, one-off scripts).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection

from roster.storage import events as event_store
from roster.storage import tenancy as tenancy_store
from roster.storage.engine import before_commit, on_end
from roster.storage.events import Event
from roster.storage.system_log import LogEntry

__all__ = [
    "Change",
    "correlated",
    "current",
    "now",
    "open_change",
    "request_id",
    "savepoint",
    "write_time",
]

# The id of the request or command being served: every log entry it causes carries it.
# Set per request in the thread that serves it; never used to scope data.
_REQUEST_ID: ContextVar[str | None] = ContextVar("roster_request_id", default=None)


@contextmanager
def correlated(request_id: str) -> Iterator[None]:
    token = _REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        _REQUEST_ID.reset(token)


def request_id() -> str:
    """The current request's id, or a fresh one for work no request caused."""
    return _REQUEST_ID.get() or str(uuid.uuid4())


def now() -> datetime:
    """Naive UTC to the millisecond: the form every timestamp column stores, and exactly
    what meta.created / meta.lastModified render, so filters on them match what clients
    saw."""
    return _millis(datetime.now(UTC).replace(tzinfo=None))


def _millis(at: datetime) -> datetime:
    # Truncated (never rounded up), so a write time never passes the transaction's start:
    # the read horizon relies on it (storage/read_api.write_horizon, directory/reads/feed.py).
    return at.replace(tzinfo=None, microsecond=at.microsecond // 1000 * 1000)


@dataclass
class Change:
    conn: Connection
    tenant_id: int
    request_id: str
    # "scim": the shared configuration lock was taken with authentication;
    # "admin": the exclusive one is taken at the first write.
    mode: str = "admin"
    connection_uid: str | None = None
    at: datetime | None = None
    entries: list[LogEntry] = field(default_factory=list)
    # SCIM users whose groups changed: evaluated once when the operation ends.
    pending_access: set[int] = field(default_factory=set)
    # Change events for the host app (docs/events.md), written with the entries.
    events: list[Event] = field(default_factory=list)

    def write_time(self) -> datetime:
        """The one time of every row this change writes; for an admin change, taken
        after its exclusive configuration lock (so admin changes of a tenant commit in
        the order of their times)."""
        if self.at is None:
            locked_at = None
            if self.mode == "admin":
                locked_at = tenancy_store.lock_configuration(self.conn, self.tenant_id)
            self.at = _millis(locked_at) if locked_at is not None else now()
        return self.at

    def actor(self) -> str:
        """Who caused this change, as events name it: the IdP connection of a SCIM write,
        else an admin (a command; a rule run names itself with ``emit(actor=…)``)."""
        if self.mode == "scim" and self.connection_uid:
            return f"connection:{self.connection_uid}"
        return "admin"

    def emit(
        self,
        type: str,
        resource_type: str,
        resource_id: str,
        data: dict[str, Any],
        *,
        connection_uid: str | None = None,
        actor: str | None = None,
    ) -> None:
        """Record an event of this change: written in the flush, with the log entries, in
        the change's transaction (so it exists exactly when the change committed)."""
        self.events.append(
            Event(
                str(uuid.uuid4()),
                self.tenant_id,
                connection_uid if connection_uid is not None else self.connection_uid,
                type,
                resource_type,
                resource_id,
                actor or self.actor(),
                self.request_id,
                now(),  # when it happened, like a note's (the feed orders by ordered_at)
                data,
            )
        )

    def log(self, entry: LogEntry) -> None:
        self.entries.append(entry)

    def note(
        self,
        action: str,
        detail: str,
        employee_id: str | None = None,
        *,
        connection_uid: str | None = None,
        actor: str = "directory",
        status: int = 200,
        resource_type: str | None = None,
    ) -> None:
        """An entry for what the directory (or an admin) did on this change's account."""
        self.entries.append(
            LogEntry(
                tenant_id=self.tenant_id,
                connection_uid=connection_uid,
                at=now(),
                actor=actor,
                method="ADMIN" if actor == "admin" else "SYNC",
                path=action,
                resource_type=resource_type or ("Employee" if employee_id else None),
                resource_id=employee_id,
                status=status,
                scim_type=None,
                detail=detail,
                request_id=self.request_id,
                duration_ms=0.0,
            )
        )

    def flush(self) -> None:
        """Write what was collected, in one statement (called just before commit; on
        SQLite a change with events takes two, storage/events.write)."""
        entries, self.entries = self.entries, []
        items, self.events = self.events, []
        event_store.write(self.conn, entries, items)


_OPEN: WeakKeyDictionary[Connection, dict[int, Change]] = WeakKeyDictionary()


def open_change(
    conn: Connection,
    tenant_id: int,
    *,
    mode: str = "admin",
    connection_uid: str | None = None,
    at: datetime | None = None,
    correlation_id: str | None = None,
) -> Change:
    """Bind a new change of ``tenant_id`` to ``conn``'s transaction."""
    changes = _OPEN.get(conn)
    if changes is None:
        changes = _OPEN[conn] = {}
        on_end(conn, lambda: _forget(conn))
    change = Change(
        conn,
        tenant_id,
        correlation_id or request_id(),
        mode,
        connection_uid,
        _millis(at) if at is not None else None,
    )
    changes[tenant_id] = change
    before_commit(conn, change.flush)
    return change


def _forget(conn: Connection) -> None:
    _OPEN.pop(conn, None)


def current(conn: Connection, tenant_id: int) -> Change:
    """The change of ``tenant_id`` open on ``conn``, or a new admin change."""
    change = _OPEN.get(conn, {}).get(tenant_id)
    return change if change is not None else open_change(conn, tenant_id)


def write_time(conn: Connection, tenant_id: int) -> datetime:
    return current(conn, tenant_id).write_time()


@contextmanager
def savepoint(conn: Connection, tenant_id: int) -> Iterator[None]:
    """``conn.begin_nested()`` for work of ``tenant_id``'s change: when the savepoint
    rolls back, so do the events emitted inside it (an event exists exactly when its
    change did)."""
    change = current(conn, tenant_id)
    mark = len(change.events)
    try:
        with conn.begin_nested():
            yield
    except BaseException:
        del change.events[mark:]
        raise
