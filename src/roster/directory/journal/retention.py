"""System-log retention (issue 15): entries older than ``ROSTER_LOG_RETENTION_DAYS`` are
deleted by ``roster log prune`` and by ``roster serve`` itself, once an hour.

The log grows by one entry per SCIM request, read or write: a connection that an IdP
polls every few minutes writes hundreds of thousands of entries a month. Deletes run in
chunks, each in a transaction of its own, so pruning a large backlog never holds locks for
long or stalls the writers. With several workers each runs the hourly pass; the passes are
idempotent (a second finds nothing to delete). The pass also drops the rate limiter's
buckets that have been idle for a day (directory/admission/rate_limit.py; they are full by then).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine

from roster.storage import system_log as store
from roster.storage.engine import BACKGROUND

log = logging.getLogger("roster.retention")

CHUNK = 5000  # entries per delete (and per transaction)
INTERVAL = 3600.0  # seconds between passes of `roster serve`
IDLE_BUCKET_SECONDS = 86_400.0


def cutoff(retention_days: float, now: datetime | None = None) -> datetime:
    """Entries written before this are past the retention (stored times are naive UTC)."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    return now - timedelta(days=retention_days)


def count_before(conn: Connection, before: datetime) -> int:
    return store.count_before(conn, before)


@dataclass(frozen=True)
class Pruned:
    entries: int
    buckets: int


def prune(engine: Engine, before: datetime, *, chunk: int = CHUNK) -> Pruned:
    """Delete every system-log entry written before ``before``, chunk by chunk."""
    deleted = 0
    while True:
        background = engine.connect().execution_options(**{BACKGROUND: "retention"})
        with background as conn, conn.begin():
            n = store.prune(conn, before, chunk)
        deleted += n
        if n < chunk:
            break
    with engine.connect().execution_options(**{BACKGROUND: "retention"}) as conn, conn.begin():
        buckets = store.prune_rate_buckets(conn, time.time() - IDLE_BUCKET_SECONDS)
    return Pruned(deleted, buckets)


class RetentionLoop:
    """``roster serve``'s hourly pass: a daemon thread, until :meth:`stop`."""

    def __init__(
        self,
        engine: Engine,
        retention_days: float,
        interval_seconds: float = INTERVAL,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._engine = engine
        self._days = retention_days
        self._interval = interval_seconds
        self._clock = clock
        self._stop = threading.Event()
        self.passes = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # Idempotent: an app's lifespan may run more than once (an ASGI test client each).
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="roster-retention", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)

    def run_once(self) -> Pruned:
        now = self._clock() if self._clock is not None else None
        pruned = prune(self._engine, cutoff(self._days, now))
        self.passes += 1
        if pruned.entries:
            log.info(
                "system log: %d entries older than %g days deleted", pruned.entries, self._days
            )
        return pruned

    def _run(self) -> None:
        # The first pass soon after start (a server restarted daily must still prune),
        # but not in the middle of the start itself.
        delay = min(60.0, self._interval)
        while not self._stop.wait(delay):
            try:
                self.run_once()
            except Exception:
                # The database may be restarting: the loop must outlive it.
                log.exception("system log pruning failed; retrying in %.0f s", self._interval)
            delay = self._interval
