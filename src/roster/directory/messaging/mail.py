"""Delivering the email outbox: claim due rows, send each, record the outcome.

At-least-once, never lost: a row is leased in a committed transaction before it is sent,
and marked sent in another after the SMTP server accepted it. A worker that dies between
the two leaves the row leased; once the lease runs out another pass claims it and sends it
again, with the same Message-ID (see ``onboarding.message_id``) so receivers can drop the
copy. A failed send is retried with exponential backoff until a server accepts it.

Time is an argument (``now``) so tests run a pass "an hour later" without sleeping.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Engine

from roster.directory.journal.system_log import note
from roster.directory.journal.system_log import now as clock_now
from roster.settings import Settings
from roster.storage import outbox as store
from roster.storage.outbox import OutboxRow

log = logging.getLogger("roster.mail")

# A lease must outlive the sending of the whole batch it covers (each send is bounded by
# the SMTP timeout, 30 s by default), or a slow batch would be claimed twice.
DEFAULT_LEASE = timedelta(minutes=10)
BATCH = 10
MAX_PER_PASS = 200


@dataclass(frozen=True)
class OutgoingEmail:
    to_addr: str
    subject: str
    body: str
    message_id: str


class Sender(Protocol):
    """Hands one email to a mail server; returns once the server accepted it, raises
    otherwise (any exception: the email is retried later)."""

    def send(self, email: OutgoingEmail) -> None: ...


@dataclass(frozen=True)
class Backoff:
    """``base * 2^(attempts-1)`` seconds after a failure, at most ``cap``: 30 s, 1 min,
    2 min, … 1 h, then hourly for as long as the server refuses."""

    base_seconds: float = 30.0
    cap_seconds: float = 3600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Backoff:
        return cls(settings.mail_retry_base_seconds, settings.mail_retry_cap_seconds)

    def delay(self, attempts: int) -> timedelta:
        exponent = min(max(attempts, 1) - 1, 40)  # 2^40 * base is past any cap
        return timedelta(seconds=min(self.base_seconds * 2**exponent, self.cap_seconds))


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)  # "to: error", for the CLI

    @property
    def handled(self) -> int:
        return self.sent + self.failed


def _describe(err: Exception) -> str:
    return f"{type(err).__name__}: {err}".strip()


def _deliver_one(
    engine: Engine, sender: Sender, row: OutboxRow, now: datetime, backoff: Backoff
) -> str | None:
    """Send one claimed row and record the outcome; the error text when it failed."""
    email = OutgoingEmail(row.to_addr, row.subject, row.body, row.message_id)
    try:
        sender.send(email)
    except Exception as err:  # whatever the transport raised, the row is retried later
        error = _describe(err)
        retry_at = now + backoff.delay(row.attempts)
        with engine.begin() as conn:
            store.mark_failed(conn, row.tenant_id, row.pk, error, retry_at)
            note(
                conn,
                row.tenant_id,
                None,
                "mail.failed",
                f"onboarding email to {row.to_addr} not accepted (attempt {row.attempts}): "
                f"{error}; next attempt at {retry_at.isoformat(timespec='seconds')}Z",
                row.employee_id,
                actor="mail",
                status=502,  # the upstream mail server failed us
            )
        log.warning("email %s to %s not sent: %s", row.pk, row.to_addr, error)
        return error
    with engine.begin() as conn:
        store.mark_sent(conn, row.tenant_id, row.pk, now)
        note(
            conn,
            row.tenant_id,
            None,
            "mail.sent",
            f"onboarding email to {row.to_addr} accepted by the mail server "
            f"(attempt {row.attempts}, Message-ID {row.message_id})",
            row.employee_id,
            actor="mail",
        )
    return None


def deliver_due(
    engine: Engine,
    sender: Sender,
    now: datetime,
    *,
    tenant_id: int | None = None,
    backoff: Backoff | None = None,
    lease: timedelta = DEFAULT_LEASE,
    max_emails: int = MAX_PER_PASS,
    elapsed: Callable[[], float] = time.monotonic,
) -> DeliveryReport:
    """One delivery pass: send the pending emails due at ``now`` (only ``tenant_id``'s when
    given), at most ``max_emails``. Takes the engine, not a connection: each claim and
    each outcome must commit on its own, or other workers could not see the leases.

    A pass may last long (up to ``max_emails`` sends, each bounded by the SMTP timeout):
    each batch is leased from the time it is claimed (``now`` plus the seconds ``elapsed``
    since the pass began), not from ``now``, or a late batch's lease would already have
    run out and another worker would send it too."""
    backoff = backoff or Backoff()
    report = DeliveryReport()
    started = elapsed()

    def current() -> datetime:
        return now + timedelta(seconds=max(elapsed() - started, 0.0))

    while report.handled < max_emails:
        claim_at = current()
        with engine.begin() as conn:
            claimed = store.claim_due(
                conn,
                now,
                claim_at + lease,
                limit=min(BATCH, max_emails - report.handled),
                tenant_id=tenant_id,
            )
        if not claimed:
            break
        # A failed row is due again only after ``now``, a sent one never: the loop ends.
        for row in claimed:
            error = _deliver_one(engine, sender, row, now, backoff)
            if error is None:
                report.sent += 1
            else:
                report.failed += 1
                report.failures.append(f"{row.to_addr}: {error}")
    return report


class DeliveryLoop:
    """``roster serve``'s background delivery: a pass every ``interval_seconds`` in a
    daemon thread, until :meth:`stop`. Each worker process runs one; the leases keep them
    from sending the same row."""

    def __init__(
        self,
        engine: Engine,
        sender: Sender,
        interval_seconds: float,
        backoff: Backoff | None = None,
        clock: Callable[[], datetime] = clock_now,
    ) -> None:
        self._engine = engine
        self._sender = sender
        self._interval = interval_seconds
        self._backoff = backoff or Backoff()
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="roster-mail", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        # A send in flight finishes (or times out) first; a thread still stuck after
        # ``timeout`` dies with the process, and its leased rows are sent by a later pass.
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            full = False
            try:
                report = deliver_due(
                    self._engine, self._sender, self._clock(), backoff=self._backoff
                )
                full = report.handled >= MAX_PER_PASS
                if report.handled:
                    log.info("mail pass: %d sent, %d failed", report.sent, report.failed)
            except Exception:
                # The database may be restarting: the loop must outlive it.
                log.exception("mail delivery pass failed; retrying in %.0f s", self._interval)
            if not full:
                self._stop.wait(self._interval)
