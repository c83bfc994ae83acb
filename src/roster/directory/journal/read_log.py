"""System-log entries of read requests, written in batches off the request path.

A write's entry commits with the write (directory/journal/change.py). A read changes nothing, so
a synchronous commit per lookup would make every IdP lookup pay for a write: its entry
goes to a bounded in-process buffer instead, written by one background thread at least
every ``interval`` seconds (sooner when a batch fills) and at shutdown, in one statement
per batch. Under overload the buffer is full and further read entries are dropped and
counted (``dropped``, reported in the server log when a batch is written) rather than
slowing the API; a process killed without shutdown loses at most the last interval of
read entries, never a change. Other entries written off the request path join the same
batches: ``sources`` are asked for theirs at each flush (the rate limiter's aggregated
refusals, directory/admission/rate_limit.py), and for everything at shutdown. An interval of 0
writes each read's entry at once, in a transaction of its own (for deployments whose audit
rules want that, and for tests that read a request's entry right after it).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from sqlalchemy import Engine

from roster.storage import system_log as log_store
from roster.storage.engine import BACKGROUND, relax_durability
from roster.storage.system_log import LogEntry

log = logging.getLogger("roster.read_log")

_BATCH = 500


class ReadLog:
    def __init__(
        self,
        engine: Engine,
        *,
        interval: float = 1.0,
        capacity: int = 10_000,
        sources: list[Callable[[bool], list[LogEntry]]] | None = None,
    ) -> None:
        self.engine = engine
        self.sources = sources or []
        self.interval = interval
        self.capacity = capacity
        self.dropped = 0
        self._pending: deque[LogEntry] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, entry: LogEntry) -> None:
        if self.interval <= 0:
            self._write([entry])
            return
        with self._lock:
            if len(self._pending) >= self.capacity:
                self.dropped += 1
                return
            self._pending.append(entry)
            full = len(self._pending) >= _BATCH
        if full:
            self._wake.set()

    def flush(self, everything: bool = False) -> int:
        """Write every buffered entry now, with the sources' due entries (``everything``:
        all they hold); returns how many were written."""
        for source in self.sources:
            try:
                extra = source(everything)
            except Exception:
                log.exception("read log: a source of entries failed")
                continue
            with self._lock:
                self._pending.extend(extra)  # few (aggregates): past the capacity check
        written = 0
        while True:
            with self._lock:
                batch = [self._pending.popleft() for _ in range(min(_BATCH, len(self._pending)))]
                dropped, self.dropped = self.dropped, 0
            if dropped:
                log.warning("read log: %d entries dropped (buffer full)", dropped)
            if not batch:
                return written
            if not self._write(batch):
                return written
            written += len(batch)

    def _write(self, batch: list[LogEntry]) -> bool:
        try:
            with (
                self.engine.connect().execution_options(**{BACKGROUND: "read_log"}) as conn,
                conn.begin(),
            ):
                relax_durability(conn)  # only log entries: see storage/engine.py
                log_store.insert_entries(conn, batch)
        except Exception:
            log.exception("read log: could not write %d entries", len(batch))
            return False
        return True

    def start(self) -> None:
        if self._thread is None and self.interval > 0:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="roster-read-log", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the writer and write what is left (at shutdown)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush(everything=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            self.flush()
