"""The console's background jobs: a rule apply or CSV import started by a console action
runs in a thread of the server process that took the request, so the request answers at
once and the page polls the job's progress (directory/admin/console_jobs.py).

The job's own thread runs the directory action (the one the CLI runs, with its progress
callback) and counts progress in memory; a second thread writes that count and a
heartbeat to the job's row every ``interval`` seconds. The action's callbacks run inside
its batch transactions, where a write on another connection would wait on SQLite for the
very lock that batch holds: the beat writes from outside, after the batch commits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from roster.directory.admin import console_jobs
from roster.directory.admin.console_jobs import JobRow
from roster.directory.journal.system_log import correlated
from roster.errors import RosterError

log = logging.getLogger("roster.console.jobs")


class Progress:
    """What a job has done so far; set by the job's thread, read by its beat."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0

    def set(self, done: int) -> None:
        self.done = done

    def advance(self) -> None:
        self.done += 1


# A job's work: the directory action, reporting to ``Progress``; returns the result that
# the job's page shows (JSON).
Work = Callable[[Progress], dict[str, Any]]


class Jobs:
    def __init__(
        self, engine: Engine, clock: Callable[[], datetime], interval: float = 1.0
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.interval = interval
        self._running: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._go = threading.Event()  # cleared: jobs started stay queued (``pause``)
        self._go.set()

    def pause(self) -> None:
        """Jobs started from now on stay queued until ``resume`` (tests see a job's
        queued page this way; jobs already running go on)."""
        self._go.clear()

    def resume(self) -> None:
        self._go.set()

    def live(self) -> frozenset[str]:
        """The ids of the jobs this process is running (never stale, whatever their beat)."""
        with self._lock:
            return frozenset(self._running)

    def start(self, tenant_id: int, job: JobRow, work: Work, request_id: str) -> None:
        """Run ``work`` for the queued ``job`` in a thread of its own; returns at once.
        The work's log entries share ``request_id``, the request that started it."""
        finished = threading.Event()
        with self._lock:
            self._running[job.id] = finished
        threading.Thread(
            target=self._run,
            args=(tenant_id, job, work, request_id, finished),
            name=f"roster-job-{job.id[:8]}",
            daemon=True,  # a stopping server does not wait: the job shows as stale
        ).start()

    def wait(self, job_id: str, timeout: float) -> bool:
        """Whether the job this process runs has finished within ``timeout`` seconds
        (a job it is not running: True at once)."""
        with self._lock:
            finished = self._running.get(job_id)
        return finished is None or finished.wait(timeout)

    def _write(self, fn: Callable[[Connection], None]) -> None:
        with self.engine.begin() as conn:
            fn(conn)

    def _run(
        self,
        tenant_id: int,
        job: JobRow,
        work: Work,
        request_id: str,
        finished: threading.Event,
    ) -> None:
        progress = Progress(job.total)
        stop = threading.Event()
        beat = threading.Thread(
            target=self._beat, args=(tenant_id, job.pk, progress, stop), daemon=True
        )
        summary: dict[str, Any] | None = None
        error: str | None = None
        error_status = 500
        try:
            # Paused: wait, and meanwhile beat as queued (the process is alive).
            while not self._go.wait(self.interval):
                self._write(lambda c: console_jobs.touch(c, tenant_id, job.pk, self.clock()))
            self._write(lambda c: console_jobs.beat(c, tenant_id, job.pk, 0, self.clock()))
            beat.start()
            with correlated(request_id):
                summary = work(progress)
        except RosterError as err:
            error, error_status = err.detail, err.status
        except Exception:
            log.exception("console job %s (%s) failed", job.id, job.kind)
            error = "internal error; the server log has the details"
        finally:
            stop.set()
            if beat.is_alive():
                beat.join()
            try:
                # Its failure's log entry joins the trail of the request that started it.
                with correlated(request_id):
                    self._write(
                        lambda c: console_jobs.finish(
                            c,
                            tenant_id,
                            job,
                            progress.done,
                            self.clock(),
                            summary=summary,
                            error=error,
                            error_status=error_status,
                        )
                    )
            except Exception:
                # Left running: a reader marks it failed once its beat is stale.
                log.exception("console job %s: its end could not be written", job.id)
            with self._lock:
                self._running.pop(job.id, None)
            finished.set()

    def _beat(self, tenant_id: int, pk: int, progress: Progress, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            try:
                self._write(
                    lambda c: console_jobs.beat(c, tenant_id, pk, progress.done, self.clock())
                )
            except Exception:
                log.warning("console job %s: progress not written", pk, exc_info=True)
