"""Store functions for the email outbox and the tenants' email templates.

The outbox is written in the transaction of the change that causes the email (a mobile key
granted), so the email exists exactly when the change does. Delivery claims rows with a
lease in short transactions of its own: a claimed row is invisible to other workers until
its lease ends, and a worker that dies mid-send leaves a row that is claimed again once
the lease has run out, so an email is never lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Table, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from roster.storage.tables import email_outbox, email_templates

O = email_outbox.c  # noqa: E741 (the outbox's columns, short in the long statements below)
M = email_templates.c

PENDING = "pending"
SENT = "sent"
WITHDRAWN = "voided"  # its grant was revoked before the email went out
STATUSES = (PENDING, SENT, WITHDRAWN)


@dataclass(frozen=True)
class NewEmail:
    tenant_id: int
    dedupe_key: str
    employee_id: str | None
    to_addr: str
    subject: str
    body: str
    message_id: str
    at: datetime  # created, and first due


@dataclass(frozen=True)
class OutboxRow:
    pk: int
    tenant_id: int
    dedupe_key: str
    employee_id: str | None
    to_addr: str
    subject: str
    body: str
    message_id: str
    status: str
    attempts: int
    next_attempt_at: datetime
    lease_until: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class TemplateRow:
    tenant_id: int
    kind: str
    subject: str
    body: str
    updated_at: datetime


_OUTBOX_COLUMNS = (
    O.pk,
    O.tenant_id,
    O.dedupe_key,
    O.employee_id,
    O.to_addr,
    O.subject,
    O.body,
    O.message_id,
    O.status,
    O.attempts,
    O.next_attempt_at,
    O.lease_until,
    O.last_error,
    O.created_at,
    O.sent_at,
)


def _outbox_row(r: object) -> OutboxRow:
    return OutboxRow(**{c.name: getattr(r, c.name) for c in _OUTBOX_COLUMNS})


def _insert(conn: Connection, table: Table) -> sqlite.Insert | postgresql.Insert:
    # Both dialects spell ON CONFLICT alike; only the statement classes differ.
    return sqlite.insert(table) if conn.dialect.name == "sqlite" else postgresql.insert(table)


def insert_if_absent(conn: Connection, email: NewEmail) -> bool:
    """Queue ``email`` unless its ``(tenant_id, dedupe_key)`` is already queued (or sent);
    True when it was queued now.

    ON CONFLICT DO NOTHING rather than catching an IntegrityError: on PostgreSQL a failed
    INSERT aborts the caller's whole transaction (the grant that caused the email), and
    a savepoint around it would cost a round trip on every grant."""
    values = {
        "tenant_id": email.tenant_id,
        "dedupe_key": email.dedupe_key,
        "employee_id": email.employee_id,
        "to_addr": email.to_addr,
        "subject": email.subject,
        "body": email.body,
        "message_id": email.message_id,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": email.at,
        "lease_until": None,
        "last_error": None,
        "created_at": email.at,
        "sent_at": None,
    }
    stmt = (
        _insert(conn, email_outbox)
        .values(values)
        .on_conflict_do_nothing(index_elements=["tenant_id", "dedupe_key"])
        .returning(O.pk)
    )
    # RETURNING, not rowcount: drivers disagree on rowcount for an INSERT that did nothing.
    return conn.execute(stmt).first() is not None


def claim_due(
    conn: Connection,
    now: datetime,
    lease_until: datetime,
    *,
    limit: int,
    tenant_id: int | None = None,
) -> list[OutboxRow]:
    """Lease up to ``limit`` pending rows due at ``now`` (oldest due first) until
    ``lease_until``, counting the attempt; commit before sending so other workers see the
    lease. ``tenant_id``: only that tenant's rows (the CLI's ``--tenant``); the serve loop
    delivers every tenant's.

    Counting the attempt at the claim, not at the failure, means a row whose sending
    crashes the worker still backs off instead of being retried at full speed for ever.
    """
    due = (
        select(O.pk)
        .where(
            O.status == PENDING,
            O.next_attempt_at <= now,
            or_(O.lease_until.is_(None), O.lease_until <= now),
        )
        .order_by(O.next_attempt_at, O.pk)
        .limit(limit)
    )
    if tenant_id is not None:
        due = due.where(O.tenant_id == tenant_id)
    if conn.dialect.name == "postgresql":
        # Two workers skip each other's rows instead of queueing on their locks; when a
        # row was leased and committed meanwhile, PostgreSQL re-checks the WHERE clause on
        # the new version and leaves it out. (SQLite's BEGIN IMMEDIATE already runs one
        # claim at a time.)
        due = due.with_for_update(skip_locked=True)
    stmt = (
        update(email_outbox)
        .where(O.pk.in_(due.scalar_subquery()))
        .values(lease_until=lease_until, attempts=O.attempts + 1)
        .returning(*_OUTBOX_COLUMNS)
    )
    rows = [_outbox_row(r) for r in conn.execute(stmt)]
    return sorted(rows, key=lambda r: (r.next_attempt_at, r.pk))


def mark_sent(conn: Connection, tenant_id: int, pk: int, at: datetime) -> None:
    conn.execute(
        update(email_outbox)
        .where(O.tenant_id == tenant_id, O.pk == pk)
        .values(status=SENT, sent_at=at, lease_until=None, last_error=None)
    )


def withdraw_pending(conn: Connection, tenant_id: int, key_prefix: str, at: datetime) -> int:
    """Pending emails whose keys start with ``key_prefix`` will not be sent. One being
    sent right now (leased) still completes: its send was already under way."""
    result = conn.execute(
        update(email_outbox)
        .where(
            O.tenant_id == tenant_id,
            O.status == PENDING,
            O.dedupe_key.startswith(key_prefix, autoescape=True),
        )
        .values(status=WITHDRAWN, last_error=f"withdrawn at {at.isoformat()}: grant revoked")
    )
    return result.rowcount


def mark_failed(
    conn: Connection, tenant_id: int, pk: int, error: str, next_attempt_at: datetime
) -> None:
    # Only while still pending: a worker whose lease ran out may report a failure after
    # another worker has sent the email; that must not make it pending again.
    conn.execute(
        update(email_outbox)
        .where(O.tenant_id == tenant_id, O.pk == pk, O.status == PENDING)
        .values(lease_until=None, last_error=error[:2000], next_attempt_at=next_attempt_at)
    )


def backlog(conn: Connection) -> tuple[int, datetime | None]:
    """Every tenant's pending email: how many, and when the oldest was queued (metrics).
    Served by ix_email_outbox_due (its leading column is the status)."""
    row = conn.execute(
        select(func.count(), func.min(O.created_at)).where(O.status == PENDING)
    ).one()
    return int(row[0]), row[1]


def list_emails(
    conn: Connection, tenant_id: int, *, status: str | None = None, limit: int = 100
) -> list[OutboxRow]:
    """Newest first."""
    query = select(*_OUTBOX_COLUMNS).where(O.tenant_id == tenant_id)
    if status is not None:
        query = query.where(O.status == status)
    rows = conn.execute(query.order_by(O.created_at.desc(), O.pk.desc()).limit(limit))
    return [_outbox_row(r) for r in rows]


def get_template(conn: Connection, tenant_id: int, kind: str) -> TemplateRow | None:
    r = conn.execute(
        select(M.tenant_id, M.kind, M.subject, M.body, M.updated_at).where(
            M.tenant_id == tenant_id, M.kind == kind
        )
    ).first()
    return TemplateRow(r.tenant_id, r.kind, r.subject, r.body, r.updated_at) if r else None


def set_template(
    conn: Connection, tenant_id: int, kind: str, subject: str, body: str, at: datetime
) -> None:
    stmt = _insert(conn, email_templates).values(
        tenant_id=tenant_id, kind=kind, subject=subject, body=body, updated_at=at
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id", "kind"],
            set_={"subject": subject, "body": body, "updated_at": at},
        )
    )
