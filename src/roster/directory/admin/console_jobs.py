"""Console jobs: a rule apply or a CSV import that the console started in the background
(issue 14: "apply with progress"). The row is the job's state as every server process
sees it: queued, running (with done of total, written about every second), done (with
the result) or failed (with the reason).

A job runs in the process that took the request. If that process dies, nothing marks
the job finished, so a reader does: a job whose heartbeat is older than ``STALE`` (and
that the reading process is not running itself) is marked failed when read.
"""

from __future__ import annotations

import uuid
from collections.abc import Container
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from roster.directory.journal.system_log import note
from roster.errors import NotFound
from roster.storage import console_jobs as store
from roster.storage.console_jobs import JobRow

__all__ = ["JobRow"]

KINDS = ("rule.apply", "employee.import")
# The runner beats every second; a minute without one means its process is gone (a
# SQLite batch holding the write lock delays a beat by that batch, never by a minute).
STALE = timedelta(seconds=60)
_AFTER = {
    "rule.apply": "apply again: it resumes after the last batch that committed",
    "employee.import": "the rows imported before it stopped stay (the system log lists "
    "them); import the file again to see each row's outcome",
}


def create(
    conn: Connection, tenant_id: int, kind: str, total: int, actor: str, at: datetime
) -> JobRow:
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    return store.insert_job(conn, tenant_id, str(uuid.uuid4()), kind, total, actor, at)


def _settled(
    conn: Connection, tenant_id: int, job: JobRow, at: datetime, live: Container[str]
) -> JobRow:
    """``job``, marked failed first if it is stale."""
    if not job.active or job.id in live or job.beat_at >= at - STALE:
        return job
    why = (
        "the server process running it stopped before it finished (last progress at "
        f"{job.beat_at:%Y-%m-%d %H:%M:%S} UTC): {_AFTER[job.kind]}"
    )
    store.fail_stale(conn, tenant_id, job.pk, why, at)
    _failed(conn, tenant_id, job, job.done, why, 500)
    found = store.by_id(conn, tenant_id, job.id)
    assert found is not None
    return found


def get(
    conn: Connection, tenant_id: int, job_id: str, at: datetime, live: Container[str]
) -> JobRow:
    """The tenant's job ``job_id`` (another tenant's is not found). ``live``: the ids of
    the jobs the calling process runs, never stale."""
    job = store.by_id(conn, tenant_id, job_id)
    if job is None:
        raise NotFound(f"no job {job_id!r} in this tenant")
    return _settled(conn, tenant_id, job, at, live)


def running(
    conn: Connection, tenant_id: int, kind: str, at: datetime, live: Container[str]
) -> JobRow | None:
    """The tenant's job of this kind still queued or running, if any."""
    for job in store.active_of(conn, tenant_id, kind):
        if (job := _settled(conn, tenant_id, job, at, live)).active:
            return job
    return None


def beat(conn: Connection, tenant_id: int, pk: int, done: int, at: datetime) -> None:
    """The job runs and has done ``done``: its process is alive at ``at``."""
    store.beat(conn, tenant_id, pk, "running", done, at)


def touch(conn: Connection, tenant_id: int, pk: int, at: datetime) -> None:
    """The job waits to start, in a process alive at ``at``."""
    store.beat(conn, tenant_id, pk, "queued", 0, at)


def finish(
    conn: Connection,
    tenant_id: int,
    job: JobRow,
    done: int,
    at: datetime,
    *,
    summary: dict[str, Any] | None = None,
    error: str | None = None,
    error_status: int = 500,
) -> None:
    """Done with ``summary``, or failed with ``error``. Written even over a stale mark: a
    job that did finish (its process only beat too late) says what it did. A failure is
    also a system-log entry with the admin who started the job as actor (the action's own
    entries say what it did before it stopped)."""
    state = "failed" if error is not None else "done"
    store.finish(conn, tenant_id, job.pk, state, done, summary, error, at)
    if error is not None:
        _failed(conn, tenant_id, job, done, error, error_status)


def _failed(
    conn: Connection, tenant_id: int, job: JobRow, done: int, error: str, status: int
) -> None:
    note(
        conn,
        tenant_id,
        None,
        "console.job.failed",
        f"{job.kind} job {job.id} failed after {done} of {job.total}: {error}",
        actor=job.actor,
        status=status,
    )
