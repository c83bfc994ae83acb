"""Waking the webhook delivery loop when events commit, instead of at its next poll.

* **PostgreSQL**: the statement that writes a change's events also runs
  ``pg_notify('roster_events', '')`` (storage/events.py) when a tenant of those events
  has an enabled endpoint, so the write path gains no statement and tenants without
  webhooks never notify. A notification is delivered when its transaction commits, and never if it
  rolls back; identical ones of one transaction are delivered once (PostgreSQL,
  "NOTIFY"). Every process's ``Listener`` (a connection of its own, in autocommit, so it
  holds no transaction open and never holds back the write horizon) wakes its loop —
  this process's own commits included.
* **In one process** (SQLite, where there is no NOTIFY): ``signal`` wakes every loop of
  the process when a change writes events. It runs just before the commit, but the
  loop's next pass begins with SQLite's write lock (``BEGIN IMMEDIATE``), which the
  writer holds until it has committed: the pass sees the events.

Polling (``ROSTER_WEBHOOK_POLL_SECONDS``) stays the fallback: a loop in another process
on SQLite, a listener reconnecting after the database restarted.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from sqlalchemy import Engine

log = logging.getLogger("roster.webhooks")

# storage/events.py spells it out in its SQL (a constant there, never a parameter).
CHANNEL = "roster_events"

_waiters: set[threading.Event] = set()
_lock = threading.Lock()


def subscribe(wake: threading.Event) -> None:
    with _lock:
        _waiters.add(wake)


def unsubscribe(wake: threading.Event) -> None:
    with _lock:
        _waiters.discard(wake)


def signal() -> None:
    """Wake every loop of this process (a change of it wrote events)."""
    with _lock:
        waiters = list(_waiters)
    for wake in waiters:
        wake.set()


class Listener:
    """LISTEN on PostgreSQL in a daemon thread; sets ``wake`` on every notification
    (and once after each (re)connection, for what committed while it was away)."""

    def __init__(self, engine: Engine, wake: threading.Event, retry_seconds: float) -> None:
        self._engine = engine
        self._wake = wake
        self._retry = max(retry_seconds, 0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="roster-listen", daemon=True)
        self.listening = threading.Event()  # set while LISTEN is in place (tests wait on it)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _connect(self) -> Any:
        # A pooled connection taken out of the pool for good: the engine's own URL and
        # connect arguments, none of its pool slots.
        fairy = self._engine.raw_connection()
        fairy.detach()
        pg = fairy.dbapi_connection
        assert pg is not None
        pg.rollback()  # the pool may hand it over inside a transaction
        pg.autocommit = True
        pg.execute(f"LISTEN {CHANNEL}")
        return pg

    def _run(self) -> None:
        while not self._stop.is_set():
            pg = None
            try:
                pg = self._connect()
                self.listening.set()
                self._wake.set()
                while not self._stop.is_set():
                    # psycopg 3.2+: returns after ``timeout`` seconds with nothing, so
                    # the stop flag is seen within a second.
                    for _ in pg.notifies(timeout=1.0):
                        self._wake.set()
            except Exception:
                # The database may be restarting: polling covers the gap.
                log.warning("webhook LISTEN connection lost; retrying in %.1f s", self._retry)
            finally:
                self.listening.clear()
                if pg is not None:
                    with contextlib.suppress(Exception):  # already broken: nothing to undo
                        pg.close()
            self._stop.wait(self._retry)
