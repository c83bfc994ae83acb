"""Rows of ``rule_runs``: one re-evaluation of a tenant's directory, batch by batch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from roster.storage.tables import rule_runs

RR = rule_runs.c


@dataclass(frozen=True)
class RunRow:
    pk: int
    id: str
    rules_digest: str
    status: str
    cursor_pk: int
    processed: int
    changed: int
    batches: int
    started_at: datetime
    finished_at: datetime | None


_COLUMNS = (
    RR.pk,
    RR.id,
    RR.rules_digest,
    RR.status,
    RR.cursor_pk,
    RR.processed,
    RR.changed,
    RR.batches,
    RR.started_at,
    RR.finished_at,
)


def running(conn: Connection, tenant_id: int) -> RunRow | None:
    """The unfinished run of a tenant (an apply that crashed or was interrupted)."""
    query = select(*_COLUMNS).where(RR.tenant_id == tenant_id, RR.status == "running")
    r = conn.execute(query.order_by(RR.pk.desc()).limit(1)).first()
    return RunRow(*tuple(r)) if r else None


def by_pk(conn: Connection, tenant_id: int, pk: int) -> RunRow:
    r = conn.execute(select(*_COLUMNS).where(RR.tenant_id == tenant_id, RR.pk == pk)).one()
    return RunRow(*tuple(r))


def start(conn: Connection, tenant_id: int, run_id: str, digest: str, at: datetime) -> RunRow:
    conn.execute(
        insert(rule_runs).values(
            id=run_id,
            tenant_id=tenant_id,
            rules_digest=digest,
            status="running",
            cursor_pk=0,
            processed=0,
            changed=0,
            batches=0,
            started_at=at,
        )
    )
    query = select(*_COLUMNS).where(RR.tenant_id == tenant_id, RR.id == run_id)
    return RunRow(*tuple(conn.execute(query).one()))


def advance(
    conn: Connection, tenant_id: int, pk: int, cursor_pk: int, processed: int, changed: int
) -> None:
    conn.execute(
        update(rule_runs)
        .where(RR.tenant_id == tenant_id, RR.pk == pk)
        .values(
            cursor_pk=cursor_pk,
            processed=RR.processed + processed,
            changed=RR.changed + changed,
            batches=RR.batches + 1,
        )
    )


def finish(conn: Connection, tenant_id: int, pk: int, status: str, at: datetime) -> None:
    conn.execute(
        update(rule_runs)
        .where(RR.tenant_id == tenant_id, RR.pk == pk)
        .values(status=status, finished_at=at)
    )
