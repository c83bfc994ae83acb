"""Rows of ``console_jobs``: a console action (rule apply, CSV import) run in the background,
with its state, progress, heartbeat and result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from roster.storage.tables import console_jobs

CJ = console_jobs.c
ACTIVE = ("queued", "running")


@dataclass(frozen=True)
class JobRow:
    pk: int
    id: str
    kind: str
    state: str  # queued | running | done | failed
    done: int
    total: int
    summary: dict[str, Any] | None
    error: str | None
    actor: str
    created_at: datetime
    beat_at: datetime
    finished_at: datetime | None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


_COLUMNS = (
    CJ.pk,
    CJ.id,
    CJ.kind,
    CJ.state,
    CJ.done,
    CJ.total,
    CJ.summary,
    CJ.error,
    CJ.actor,
    CJ.created_at,
    CJ.beat_at,
    CJ.finished_at,
)


def insert_job(
    conn: Connection, tenant_id: int, job_id: str, kind: str, total: int, actor: str, at: datetime
) -> JobRow:
    conn.execute(
        insert(console_jobs).values(
            id=job_id,
            tenant_id=tenant_id,
            kind=kind,
            state="queued",
            done=0,
            total=total,
            actor=actor[:100],
            created_at=at,
            beat_at=at,
        )
    )
    found = by_id(conn, tenant_id, job_id)
    assert found is not None
    return found


def by_id(conn: Connection, tenant_id: int, job_id: str) -> JobRow | None:
    query = select(*_COLUMNS).where(CJ.tenant_id == tenant_id, CJ.id == job_id)
    r = conn.execute(query).first()
    return JobRow(*tuple(r)) if r else None


def active_of(conn: Connection, tenant_id: int, kind: str) -> list[JobRow]:
    """The tenant's queued and running jobs of a kind, newest first."""
    query = select(*_COLUMNS).where(
        CJ.tenant_id == tenant_id, CJ.kind == kind, CJ.state.in_(ACTIVE)
    )
    return [JobRow(*tuple(r)) for r in conn.execute(query.order_by(CJ.pk.desc()))]


def beat(conn: Connection, tenant_id: int, pk: int, state: str, done: int, at: datetime) -> None:
    """Progress and heartbeat of a job still active (one marked failed as stale stays so)."""
    conn.execute(
        update(console_jobs)
        .where(CJ.tenant_id == tenant_id, CJ.pk == pk, CJ.state.in_(ACTIVE))
        .values(state=state, done=done, beat_at=at)
    )


def finish(
    conn: Connection,
    tenant_id: int,
    pk: int,
    state: str,
    done: int,
    summary: dict[str, Any] | None,
    error: str | None,
    at: datetime,
) -> None:
    conn.execute(
        update(console_jobs)
        .where(CJ.tenant_id == tenant_id, CJ.pk == pk)
        .values(state=state, done=done, summary=summary, error=error, beat_at=at, finished_at=at)
    )


def fail_stale(conn: Connection, tenant_id: int, pk: int, error: str, at: datetime) -> None:
    conn.execute(
        update(console_jobs)
        .where(CJ.tenant_id == tenant_id, CJ.pk == pk, CJ.state.in_(ACTIVE))
        .values(state="failed", error=error, finished_at=at)
    )
