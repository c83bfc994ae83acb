"""Store functions for the event feed: the unit of work's one write of its log entries
and events, the feed's pages, a request's events, pruning."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, or_, select, text

from roster.storage import system_log as log_store
from roster.storage import wakeups
from roster.storage.system_log import LogEntry
from roster.storage.tables import events

V = events.c


@dataclass(frozen=True)
class Event:
    uid: str
    tenant_id: int
    connection_uid: str | None
    type: str
    resource_type: str
    resource_id: str
    actor: str
    request_id: str
    at: datetime
    data: dict[str, Any]
    ordered_at: datetime | None = None
    id: int | None = None


_INSERT = insert(events)

# PostgreSQL: the log entries and the events of a change in ONE statement (a
# data-modifying CTE), so events cost the hot path no round trip. ``ordered_at`` is
# clock_timestamp() — the database clock now, at the flush, after every row lock the
# change took — not now() (the transaction's start): a change that waited for another's
# row lock orders after it. The rows go in array order (WITH ORDINALITY), so ids follow
# the order the change collected them. The ``woke`` CTE notifies the webhook loops
# (storage/wakeups.py) in the same statement: delivered at commit, once per transaction;
# and only when a tenant of the events has an enabled endpoint, since PostgreSQL
# serialises the commits of notifying transactions (its notify queue lock) and a tenant
# without webhooks must not pay that. Counted in an InitPlan of the WHERE clause, so it
# runs exactly once whether it notifies or not (a CTE nobody reads is never evaluated).
_PG_WRITE = text(
    "WITH logged AS ("
    " INSERT INTO log_entries (tenant_id, connection_uid, at, actor, method, path,"
    "  resource_type, resource_id, status, scim_type, detail, request_id, duration_ms)"
    " SELECT tenant_id, connection_uid, at, actor, method, path, resource_type, resource_id,"
    "  status, scim_type, detail, request_id, duration_ms"
    " FROM ROWS FROM (jsonb_to_recordset(CAST(:logs AS jsonb)) AS (tenant_id int,"
    "  connection_uid text, at timestamp, actor text, method text, path text,"
    "  resource_type text, resource_id text, status int, scim_type text, detail text,"
    "  request_id text, duration_ms float8)) WITH ORDINALITY AS x"
    " ORDER BY x.ordinality RETURNING 1),"
    " woke AS (SELECT pg_notify('roster_events', '') AS n FROM (SELECT 1 FROM"  # CHANNEL
    "  webhook_endpoints w WHERE w.status = 'enabled'"
    "  AND w.tenant_id = ANY(CAST(:tenants AS int[])) LIMIT 1) hooked)"
    " INSERT INTO events (uid, tenant_id, connection_uid, type, resource_type, resource_id,"
    "  actor, request_id, at, ordered_at, data)"
    " SELECT uid, tenant_id, connection_uid, type, resource_type, resource_id, actor,"
    "  request_id, at, timezone('UTC', clock_timestamp()), CAST(data AS json)"
    " FROM ROWS FROM (jsonb_to_recordset(CAST(:events AS jsonb)) AS (uid text,"
    "  tenant_id int, connection_uid text, type text, resource_type text, resource_id text,"
    "  actor text, request_id text, at timestamp, data jsonb)) WITH ORDINALITY AS x"
    " WHERE (SELECT count(*) FROM woke) >= 0"
    " ORDER BY x.ordinality"
)
_PG_NOTIFY = text(
    "SELECT pg_notify('roster_events', '') FROM webhook_endpoints"  # wakeups.CHANNEL
    " WHERE status = 'enabled' AND tenant_id IN :tenants LIMIT 1"
).bindparams(bindparam("tenants", expanding=True))


def _record(event: Event) -> dict[str, Any]:
    row = {k: v for k, v in event.__dict__.items() if k not in ("id", "ordered_at")}
    return row


# SQLite: the same in one INSERT into a view whose INSTEAD OF trigger writes both tables
# (migration 0006). Timestamps go in the text form SQLAlchemy stores and reads there.
_SQLITE_WRITE = text(
    "INSERT INTO change_writes (logs, events, ordered_at) VALUES (:logs, :events, :ordered_at)"
)
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


def _params(entries: Sequence[LogEntry], items: Sequence[Event], sqlite: bool) -> dict[str, str]:
    def value(v: Any) -> Any:
        if isinstance(v, datetime):
            return v.strftime(_SQLITE_TIME) if sqlite else v.isoformat()
        return v

    logs = [{k: value(v) for k, v in e.__dict__.items() if k != "id"} for e in entries]
    evs = [{k: value(v) for k, v in _record(e).items()} for e in items]
    return {"logs": json.dumps(logs), "events": json.dumps(evs)}


def write(conn: Connection, entries: Sequence[LogEntry], items: Sequence[Event]) -> None:
    """The unit of work's flush: its log entries and its events, in one statement.

    ``ordered_at`` is the database clock at this statement: on PostgreSQL
    clock_timestamp(), after every row lock of the change; on SQLite (one writer at a
    time, so commit order is flush order) Python's clock, at microseconds (with the
    growing id, (ordered_at, id) orders the feed).
    """
    if not items:
        log_store.insert_entries(conn, entries)
        return
    if conn.dialect.name == "sqlite":
        params = _params(entries, items, sqlite=True)
        params["ordered_at"] = datetime.now(UTC).replace(tzinfo=None).strftime(_SQLITE_TIME)
        conn.execute(_SQLITE_WRITE, params)
        wakeups.signal()  # the loop's next pass waits for our commit (storage/wakeups.py)
        return
    params = _params(entries, items, sqlite=False)
    tenants = sorted({e.tenant_id for e in items})  # whose endpoints decide the NOTIFY
    # jsonb holds no NUL character: text that has one goes the long way (three statements).
    if "\\u0000" not in params["logs"] + params["events"]:
        conn.execute(_PG_WRITE, {**params, "tenants": tenants})
        return
    log_store.insert_entries(conn, entries)
    ordered: Any = func.timezone("UTC", func.clock_timestamp())
    conn.execute(_INSERT.values(ordered_at=ordered), [_record(e) for e in items])
    conn.execute(_PG_NOTIFY, {"tenants": tenants})


def _event(r: Any) -> Event:
    return Event(
        r.uid,
        r.tenant_id,
        r.connection_uid,
        r.type,
        r.resource_type,
        r.resource_id,
        r.actor,
        r.request_id,
        r.at,
        r.data,
        r.ordered_at,
        r.id,
    )


def page(
    conn: Connection,
    tenant_id: int,
    *,
    after: tuple[datetime, str] | None,
    before: datetime | None,
    types: Sequence[str],
    limit: int,
) -> list[Event]:
    """Events of the tenant in feed order, after the event ``after`` names (its ordering
    time and public id) and ordered before ``before`` (the write horizon)."""
    query = select(events).where(V.tenant_id == tenant_id)
    if after is not None:
        at, uid = after
        # The id breaks ties of one ordering time; an event no longer there (pruned)
        # resumes after its time.
        last_id = select(V.id).where(V.tenant_id == tenant_id, V.uid == uid).scalar_subquery()
        query = query.where(
            or_(
                V.ordered_at > at,
                and_(V.ordered_at == at, V.id > func.coalesce(last_id, 0)),
            )
        )
    if before is not None:
        query = query.where(V.ordered_at < before)
    if types:
        query = query.where(V.type.in_(types))
    rows = conn.execute(query.order_by(V.ordered_at, V.id).limit(limit))
    return [_event(r) for r in rows]


def any_at_or_after(conn: Connection, tenant_ids: Sequence[int], at: datetime) -> bool:
    """Whether some tenant of ``tenant_ids`` has a committed event ordered at or after
    ``at`` (the write horizon): one the feed and webhook queueing must still hold back."""
    if not tenant_ids:
        return False
    query = select(V.id).where(V.tenant_id.in_(sorted(set(tenant_ids))), V.ordered_at >= at)
    return conn.execute(query.limit(1)).first() is not None


def of_request(conn: Connection, request_id: str, tenant_id: int | None = None) -> list[Event]:
    """Every event one request or command caused, in feed order."""
    query = select(events).where(V.request_id == request_id)
    if tenant_id is not None:
        query = query.where(V.tenant_id == tenant_id)
    rows = conn.execute(query.order_by(V.ordered_at, V.id))
    return [_event(r) for r in rows]


def prune(conn: Connection, older_than: datetime) -> int:
    """Delete every event ordered before ``older_than``; returns how many."""
    return conn.execute(delete(events).where(V.ordered_at < older_than)).rowcount
