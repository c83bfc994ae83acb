"""Store functions for webhooks: endpoints, the delivery outbox, the attempts.

The outbox works as the email outbox does (storage/outbox.py): a delivery is leased in a
committed transaction before it is sent and marked delivered in another once the
receiver answered 2xx, so a worker that dies mid-send leaves a lease that runs out and
the delivery is sent again (same webhook-id). On PostgreSQL the claim skips rows other
workers hold (``FOR UPDATE SKIP LOCKED``) and re-checks the lease on the row's newest
version, so no two workers hold one delivery at once.

Per resource, deliveries to one endpoint go out in event order: a delivery is claimable
only while no earlier delivery of the same resource to the same endpoint is pending (in
flight or waiting for a retry). Other resources are not held up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Integer,
    bindparam,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from roster.storage.tables import webhook_attempts, webhook_deliveries, webhook_endpoints

W = webhook_endpoints.c
D = webhook_deliveries.c
A = webhook_attempts.c

ENABLED = "enabled"
DISABLED = "disabled"
PENDING = "pending"
DELIVERED = "delivered"


@dataclass(frozen=True)
class Endpoint:
    pk: int
    uid: str
    tenant_id: int
    url: str
    secret: str
    event_types: list[str] | None
    status: str
    disabled_reason: str | None
    created_at: datetime
    failing_since: datetime | None
    cursor_at: datetime
    cursor_uid: str


@dataclass(frozen=True)
class NewDelivery:
    event_id: int
    message_id: str
    event_type: str
    resource_key: str
    request_id: str
    body: str


@dataclass(frozen=True)
class Delivery:
    pk: int
    tenant_id: int
    endpoint_pk: int
    event_id: int
    message_id: str
    event_type: str
    resource_key: str
    request_id: str
    body: str
    status: str
    attempts: int
    next_attempt_at: datetime
    lease_until: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class Attempt:
    tenant_id: int
    endpoint_pk: int
    message_id: str
    event_type: str
    request_id: str
    attempt: int
    at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None
    response_snippet: str | None
    endpoint_uid: str | None = None  # filled by the reads that join the endpoint


_ENDPOINT_COLUMNS = tuple(webhook_endpoints.c)
_DELIVERY_COLUMNS = (
    D.pk,
    D.tenant_id,
    D.endpoint_pk,
    D.event_id,
    D.message_id,
    D.event_type,
    D.resource_key,
    D.request_id,
    D.body,
    D.status,
    D.attempts,
    D.next_attempt_at,
    D.lease_until,
    D.last_error,
)


def _endpoint(r: Any) -> Endpoint:
    return Endpoint(**{c.name: getattr(r, c.name) for c in _ENDPOINT_COLUMNS})


def _delivery(r: Any) -> Delivery:
    return Delivery(**{c.name: getattr(r, c.name) for c in _DELIVERY_COLUMNS})


def _insert(conn: Connection, table: Any) -> sqlite.Insert | postgresql.Insert:
    return sqlite.insert(table) if conn.dialect.name == "sqlite" else postgresql.insert(table)


# ---- endpoints --------------------------------------------------------------------------


def add_endpoint(
    conn: Connection,
    tenant_id: int,
    uid: str,
    url: str,
    secret: str,
    event_types: Sequence[str] | None,
    at: datetime,
) -> Endpoint:
    row = conn.execute(
        webhook_endpoints.insert()
        .values(
            uid=uid,
            tenant_id=tenant_id,
            url=url,
            secret=secret,
            event_types=list(event_types) if event_types else None,
            status=ENABLED,
            created_at=at,
            cursor_at=at,  # events ordered from now on (docs/events.md)
            cursor_uid="",
        )
        .returning(*_ENDPOINT_COLUMNS)
    ).one()
    return _endpoint(row)


def endpoints(conn: Connection, tenant_id: int) -> list[Endpoint]:
    rows = conn.execute(select(*_ENDPOINT_COLUMNS).where(W.tenant_id == tenant_id).order_by(W.pk))
    return [_endpoint(r) for r in rows]


def get_endpoint(conn: Connection, tenant_id: int, uid: str) -> Endpoint | None:
    r = conn.execute(
        select(*_ENDPOINT_COLUMNS).where(W.tenant_id == tenant_id, W.uid == uid)
    ).first()
    return _endpoint(r) if r else None


def get_endpoint_by_pk(conn: Connection, pk: int) -> Endpoint | None:
    r = conn.execute(select(*_ENDPOINT_COLUMNS).where(W.pk == pk)).first()
    return _endpoint(r) if r else None


def remove_endpoint(conn: Connection, tenant_id: int, pk: int) -> None:
    # Its deliveries and attempts go with it (ON DELETE CASCADE; SQLite's foreign_keys=ON).
    conn.execute(delete(webhook_endpoints).where(W.tenant_id == tenant_id, W.pk == pk))


def set_status(conn: Connection, tenant_id: int, pk: int, status: str, reason: str | None) -> bool:
    """True when the status changed."""
    result = conn.execute(
        update(webhook_endpoints)
        .where(W.tenant_id == tenant_id, W.pk == pk, W.status != status)
        .values(status=status, disabled_reason=reason, failing_since=None)
    )
    return result.rowcount > 0


def any_endpoint(conn: Connection) -> bool:
    """Whether any tenant has an endpoint (an idle loop's only statement without one)."""
    return conn.execute(select(W.pk).limit(1)).first() is not None


def lock_for_dispatch(conn: Connection) -> list[Endpoint]:
    """Every endpoint (a disabled one's events queue too, sent once it is enabled) no
    other worker is queueing for right now, locked until this transaction ends
    (PostgreSQL; SQLite's BEGIN IMMEDIATE runs one at a time)."""
    query = select(*_ENDPOINT_COLUMNS).order_by(W.pk)
    if conn.dialect.name == "postgresql":
        # NO KEY UPDATE, as everywhere: it does not conflict with the FOR KEY SHARE
        # that attempts and deliveries inserted by other workers hold on the endpoint.
        query = query.with_for_update(skip_locked=True, key_share=True)
    return [_endpoint(r) for r in conn.execute(query)]


def advance_cursor(conn: Connection, pk: int, at: datetime, uid: str) -> None:
    conn.execute(update(webhook_endpoints).where(W.pk == pk).values(cursor_at=at, cursor_uid=uid))


_SUCCEEDED = (
    update(webhook_endpoints)
    .where(W.pk.in_(bindparam("pks", expanding=True)), W.failing_since.is_not(None))
    .values(failing_since=None)
)


def note_success(conn: Connection, pks: Sequence[int]) -> None:
    # Only a failing endpoint's row is written: a healthy one's is left alone, so
    # concurrent successes do not queue on it.
    if pks:
        conn.execute(_SUCCEEDED, {"pks": sorted(pks)})


def note_failure(conn: Connection, pk: int, at: datetime) -> datetime | None:
    """Record a failure at ``at``; returns since when the endpoint has been failing."""
    conn.execute(
        update(webhook_endpoints)
        .where(W.pk == pk, W.failing_since.is_(None))
        .values(failing_since=at)
    )
    return conn.execute(select(W.failing_since).where(W.pk == pk)).scalar()


# ---- the delivery outbox ----------------------------------------------------------------


def queue(
    conn: Connection, tenant_id: int, endpoint_pk: int, items: Sequence[NewDelivery], at: datetime
) -> None:
    """Queue deliveries; an event already queued for the endpoint is left as it is."""
    if not items:
        return
    rows = [
        {
            "tenant_id": tenant_id,
            "endpoint_pk": endpoint_pk,
            **item.__dict__,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": at,
            "lease_until": None,
            "last_error": None,
            "created_at": at,
            "delivered_at": None,
        }
        for item in items
    ]
    stmt = _insert(conn, webhook_deliveries).on_conflict_do_nothing(
        index_elements=["endpoint_pk", "event_id"]
    )
    conn.execute(stmt, rows)


def requeue(
    conn: Connection, tenant_id: int, endpoint_pk: int, items: Sequence[NewDelivery], at: datetime
) -> int:
    """Replay: queue these events again, delivered or not (a pending one keeps its
    place). Returns how many are pending now because of this call."""
    queue(conn, tenant_id, endpoint_pk, items, at)
    ids = [i.event_id for i in items]
    count = 0
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        count += conn.execute(
            update(webhook_deliveries)
            .where(
                D.tenant_id == tenant_id,
                D.endpoint_pk == endpoint_pk,
                D.event_id.in_(part),
                D.status == DELIVERED,
            )
            .values(status=PENDING, next_attempt_at=at, attempts=0, last_error=None)
        ).rowcount
    return count


def _claim(postgres: bool) -> Any:
    """The claim, built once per dialect (it runs every pass of every worker)."""
    earlier = aliased(webhook_deliveries)
    E = earlier.c
    now = bindparam("now", type_=DateTime())
    due = (
        select(D.pk)
        .join(webhook_endpoints, W.pk == D.endpoint_pk)
        .where(
            D.status == PENDING,
            D.next_attempt_at <= now,
            or_(D.lease_until.is_(None), D.lease_until <= now),
            W.status == ENABLED,
            ~exists().where(
                E.endpoint_pk == D.endpoint_pk,
                E.resource_key == D.resource_key,
                E.status == PENDING,
                E.event_id < D.event_id,
            ),
        )
        .order_by(D.next_attempt_at, D.pk)
        .limit(bindparam("limit", type_=Integer()))
    )
    if postgres:
        # Skip what other workers hold; a row leased and committed meanwhile is
        # re-checked on its new version (lease_until) and left out.
        due = due.with_for_update(of=webhook_deliveries, skip_locked=True)
    return (
        update(webhook_deliveries)
        .where(D.pk.in_(due.scalar_subquery()))
        .values(lease_until=bindparam("lease_until", type_=DateTime()), attempts=D.attempts + 1)
        .returning(*_DELIVERY_COLUMNS)
    )


_CLAIM = {"postgresql": _claim(True), "sqlite": _claim(False)}


def claim_due(
    conn: Connection, now: datetime, lease_until: datetime, *, limit: int
) -> list[Delivery]:
    """Lease up to ``limit`` deliveries due at ``now`` to enabled endpoints, each the
    earliest pending one of its resource for its endpoint; counts the attempt (so a
    delivery whose sending kills the worker still backs off)."""
    params = {"now": now, "lease_until": lease_until, "limit": limit}
    rows = [_delivery(r) for r in conn.execute(_CLAIM[conn.dialect.name], params)]
    return sorted(rows, key=lambda r: (r.next_attempt_at, r.pk))


_DELIVERED = (
    update(webhook_deliveries)
    .where(D.pk.in_(bindparam("pks", expanding=True)))
    .values(
        status=DELIVERED,
        delivered_at=bindparam("at", type_=DateTime()),
        lease_until=None,
        last_error=None,
    )
)


def mark_delivered(conn: Connection, pks: Sequence[int], at: datetime) -> None:
    if pks:
        conn.execute(_DELIVERED, {"pks": list(pks), "at": at})


def mark_failed(conn: Connection, pk: int, error: str, next_attempt_at: datetime) -> None:
    # Only while pending: another worker (whose lease this one outlived) may have
    # delivered it meanwhile.
    conn.execute(
        update(webhook_deliveries)
        .where(D.pk == pk, D.status == PENDING)
        .values(lease_until=None, last_error=error[:2000], next_attempt_at=next_attempt_at)
    )


def retry_now(conn: Connection, tenant_id: int, endpoint_pk: int, at: datetime) -> None:
    """An endpoint enabled again: its waiting deliveries are due at once."""
    conn.execute(
        update(webhook_deliveries)
        .where(
            D.tenant_id == tenant_id,
            D.endpoint_pk == endpoint_pk,
            D.status == PENDING,
            D.next_attempt_at > at,
        )
        .values(next_attempt_at=at)
    )


def pending_counts(
    conn: Connection, tenant_id: int, endpoint_pk: int | None = None
) -> dict[int, int]:
    """Pending deliveries per endpoint of the tenant (of one endpoint, when given)."""
    query = select(D.endpoint_pk, func.count()).where(D.tenant_id == tenant_id, D.status == PENDING)
    if endpoint_pk is not None:
        query = query.where(D.endpoint_pk == endpoint_pk)
    rows = conn.execute(query.group_by(D.endpoint_pk))
    return {int(r[0]): int(r[1]) for r in rows}


def prune(conn: Connection, older_than: datetime) -> int:
    """Delivered deliveries and attempts older than ``older_than``; pending ones stay."""
    gone = conn.execute(
        delete(webhook_deliveries).where(D.status == DELIVERED, D.delivered_at < older_than)
    ).rowcount
    gone += conn.execute(delete(webhook_attempts).where(A.at < older_than)).rowcount
    return gone


# ---- attempts ---------------------------------------------------------------------------


_RECORD = webhook_attempts.insert()


def record_attempts(conn: Connection, attempts: Sequence[Attempt]) -> None:
    """Several attempts in one executemany."""
    if attempts:
        rows = [{k: v for k, v in a.__dict__.items() if k != "endpoint_uid"} for a in attempts]
        conn.execute(_RECORD, rows)


_ATTEMPT_COLUMNS = (
    A.tenant_id,
    A.endpoint_pk,
    A.message_id,
    A.event_type,
    A.request_id,
    A.attempt,
    A.at,
    A.status_code,
    A.latency_ms,
    A.error,
    A.response_snippet,
    W.uid.label("endpoint_uid"),
)


def _attempt(r: Any) -> Attempt:
    return Attempt(**{k: getattr(r, k) for k in Attempt.__dataclass_fields__})


def recent_attempts(
    conn: Connection, tenant_id: int, *, endpoint_pk: int | None, limit: int
) -> list[Attempt]:
    """Newest first."""
    query = (
        select(*_ATTEMPT_COLUMNS)
        .join(webhook_endpoints, W.pk == A.endpoint_pk)
        .where(A.tenant_id == tenant_id)
    )
    if endpoint_pk is not None:
        query = query.where(A.endpoint_pk == endpoint_pk)
    rows = conn.execute(query.order_by(A.at.desc(), A.pk.desc()).limit(limit))
    return [_attempt(r) for r in rows]


def attempts_of_request(
    conn: Connection, request_id: str, tenant_id: int | None = None
) -> list[Attempt]:
    """Every attempt to deliver the events one request caused, oldest first."""
    query = (
        select(*_ATTEMPT_COLUMNS)
        .join(webhook_endpoints, W.pk == A.endpoint_pk)
        .where(A.request_id == request_id)
    )
    if tenant_id is not None:
        query = query.where(A.tenant_id == tenant_id)
    return [_attempt(r) for r in conn.execute(query.order_by(A.at, A.pk))]


def delivered_ids(conn: Connection, endpoint_pk: int) -> set[str]:
    """The webhook-ids delivered to an endpoint (tests, benchmark)."""
    rows = conn.execute(
        select(D.message_id).where(D.endpoint_pk == endpoint_pk, D.status == DELIVERED)
    )
    return {r[0] for r in rows}


def backlog(conn: Connection) -> tuple[int, datetime | None]:
    """Every tenant's pending webhook deliveries: how many, and when the oldest was queued
    (metrics). Served by ix_webhook_deliveries_due (its leading column is the status)."""
    deliveries = webhook_deliveries.c
    row = conn.execute(
        select(func.count(), func.min(deliveries.created_at)).where(deliveries.status == "pending")
    ).one()
    return int(row[0]), row[1]
