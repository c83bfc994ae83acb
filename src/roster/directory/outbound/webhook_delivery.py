"""Delivering webhooks: queue each endpoint's new events, claim due deliveries, send them
signed, record every attempt (docs/events.md, "Webhooks").

* **Queueing** (``dispatch``) follows each endpoint's position in the event feed,
  as a feed consumer would: only events ordered before the write horizon (PostgreSQL),
  so an event committed late by a long transaction is never passed over. Endpoints
  are locked while queued for (``SKIP LOCKED``), so two workers never queue one twice
  (a unique key would drop the copy anyway).
* **Delivery** is at-least-once: a delivery is leased in a committed transaction before
  it is sent, and marked delivered after a 2xx; a worker that dies in between leaves a
  lease that runs out, and the delivery is sent again under the same webhook-id. A
  failure is retried with exponential backoff and jitter until it succeeds or its
  endpoint is disabled: an endpoint that has failed without a single success for
  ``webhook_disable_after_seconds`` (3 days) is disabled, and the tenant's log says so.
* **Order**: per endpoint and resource, a delivery is claimed only when no earlier one
  of the same resource is pending (storage/webhooks.claim_due), so a later event never
  overtakes an earlier one that has not succeeded yet; other resources go on.

Each attempt is recorded with the event's correlation id: ``roster log --request ID``
shows it in the request's trail.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Connection, Engine

from roster.directory.journal.change import open_change, request_id
from roster.directory.outbound import webhooks
from roster.directory.outbound.webhook_signature import headers
from roster.directory.outbound.webhook_urls import UrlPolicy, check
from roster.errors import RosterError
from roster.settings import Settings
from roster.storage import events as event_store
from roster.storage import wakeups
from roster.storage import webhooks as store
from roster.storage.engine import READ_ONLY
from roster.storage.read_api import write_horizon
from roster.storage.webhooks import Attempt, Delivery, Endpoint

log = logging.getLogger("roster.webhooks")

QUEUE_BATCH = 1000  # events queued per endpoint per pass
SNIPPET = 500  # characters of a response body kept with its attempt


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Retry:
    """After the n-th failed attempt, wait ``base * 2^(n-1)`` seconds (at most ``cap``),
    of which a random 50-100 % (jitter, so endpoints coming back are not hit by every
    retry at once). With the defaults: 5 s, 10 s, 20 s, … about an hour, then hourly
    until the endpoint is disabled after 3 days of failures."""

    base_seconds: float = 5.0
    cap_seconds: float = 3600.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempts: int) -> timedelta:
        exponent = min(max(attempts, 1) - 1, 40)
        full = min(self.base_seconds * 2**exponent, self.cap_seconds)
        return timedelta(seconds=full * (0.5 + 0.5 * self.rng.random()))


@dataclass(frozen=True)
class Config:
    policy: UrlPolicy = field(default_factory=UrlPolicy)
    retry: Retry = field(default_factory=Retry)
    timeout_seconds: float = 10.0
    lease: timedelta = timedelta(minutes=5)
    disable_after: timedelta = timedelta(days=3)
    concurrency: int = 8
    poll_seconds: float = 1.0

    @classmethod
    def from_settings(cls, s: Settings) -> Config:
        return cls(
            policy=UrlPolicy(s.webhook_allow_http, s.webhook_allow_private),
            retry=Retry(s.webhook_retry_base_seconds, s.webhook_retry_cap_seconds),
            timeout_seconds=s.webhook_timeout_seconds,
            lease=timedelta(seconds=s.webhook_lease_seconds),
            disable_after=timedelta(seconds=s.webhook_disable_after_seconds),
            concurrency=max(1, s.webhook_concurrency),
            poll_seconds=s.webhook_poll_seconds,
        )


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: float
    error: str | None
    snippet: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


def _describe(err: Exception) -> str:
    return f"{type(err).__name__}: {err}".strip().rstrip(":")


def send(
    client: httpx.Client,
    endpoint: Endpoint,
    message_id: str,
    body: str,
    config: Config,
) -> Outcome:
    """One signed POST; any 2xx is a success, anything else (or no answer) a failure."""
    started = time.perf_counter()
    try:
        check(endpoint.url, config.policy)  # the name may resolve elsewhere by now
        # The real clock, whatever time the pass runs at: receivers reject a timestamp
        # too far from theirs (Standard Webhooks: replay protection).
        sent = headers(endpoint.secret, message_id, int(time.time()), body)
        response = client.post(
            endpoint.url, content=body.encode(), headers=sent, timeout=config.timeout_seconds
        )
    except (httpx.HTTPError, RosterError, OSError) as err:
        return Outcome(None, (time.perf_counter() - started) * 1000, _describe(err), None)
    latency = (time.perf_counter() - started) * 1000
    snippet = response.text[:SNIPPET] if response.content else None
    if 200 <= response.status_code < 300:
        return Outcome(response.status_code, latency, None, snippet)
    return Outcome(response.status_code, latency, f"HTTP {response.status_code}", snippet)


# ---- queueing ---------------------------------------------------------------------------


def dispatch(engine: Engine, at: datetime) -> int:
    """Queue every endpoint's new events, due at ``at``; returns how many."""
    return _dispatch(engine, at)[0]


def _dispatch(engine: Engine, at: datetime) -> tuple[int, bool]:
    """Queue every endpoint's new events, due at ``at``: how many, and whether committed
    events were held back by the write horizon (a transaction in flight that began
    before them; PostgreSQL): the loop looks again soon rather than at its next poll,
    since that transaction's commit may notify nobody (a read, a rollback)."""
    queued = 0
    with engine.begin() as conn:
        # On PostgreSQL events ordered before the horizon have all committed; on SQLite
        # this transaction holds the write lock, so every event written so far has.
        postgres = conn.dialect.name == "postgresql"
        before = write_horizon(conn) if postgres else utcnow()
        locked = store.lock_for_dispatch(conn)
        for endpoint in locked:
            rows = event_store.page(
                conn,
                endpoint.tenant_id,
                after=(endpoint.cursor_at, endpoint.cursor_uid),
                before=before,
                types=endpoint.event_types or [],
                limit=QUEUE_BATCH,
            )
            store.queue(
                conn,
                endpoint.tenant_id,
                endpoint.pk,
                [webhooks.new_delivery(r) for r in rows],
                at,
            )
            queued += len(rows)
            if len(rows) == QUEUE_BATCH:
                last = rows[-1]
                assert last.ordered_at is not None
                store.advance_cursor(conn, endpoint.pk, last.ordered_at, last.uid)
            elif before is not None and before > endpoint.cursor_at:
                # Everything before ``before`` has been seen (of other types too): move
                # past it, so the next pass does not read the skipped events again.
                store.advance_cursor(conn, endpoint.pk, before, "")
            elif rows:
                last = rows[-1]
                assert last.ordered_at is not None
                store.advance_cursor(conn, endpoint.pk, last.ordered_at, last.uid)
        held = (
            postgres
            and before is not None
            and event_store.any_at_or_after(conn, [e.tenant_id for e in locked], before)
        )
    return queued, held


# ---- delivery ---------------------------------------------------------------------------


@dataclass
class Report:
    queued: int = 0
    delivered: int = 0
    failed: int = 0
    held_back: bool = False  # committed events wait behind the write horizon
    disabled: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.delivered + self.failed


@dataclass(frozen=True)
class Sent:
    delivery: Delivery
    endpoint: Endpoint
    outcome: Outcome
    at: datetime


def _attempt_of(sent: Sent) -> Attempt:
    d, o = sent.delivery, sent.outcome
    return Attempt(
        d.tenant_id,
        sent.endpoint.pk,
        d.message_id,
        d.event_type,
        d.request_id,
        d.attempts,
        sent.at,
        o.status_code,
        o.latency_ms,
        o.error,
        o.snippet,
    )


def _record(engine: Engine, batch: list[Sent], config: Config) -> list[str]:
    """Record a batch's outcomes in one transaction; the endpoints it disabled."""
    disabled: list[str] = []
    with engine.begin() as conn:
        store.record_attempts(conn, [_attempt_of(s) for s in batch])
        ok = [s for s in batch if s.outcome.ok]
        if ok:
            store.mark_delivered(conn, [s.delivery.pk for s in ok], max(s.at for s in ok))
            store.note_success(conn, sorted({s.endpoint.pk for s in ok}))
        failing: dict[int, Sent] = {}
        for s in batch:
            if s.outcome.ok:
                continue
            retry_at = s.at + config.retry.delay(s.delivery.attempts)
            store.mark_failed(conn, s.delivery.pk, s.outcome.error or "failed", retry_at)
            failing[s.endpoint.pk] = s
        for pk in sorted(failing):
            if _disable_if_failing_too_long(conn, failing[pk], config):
                disabled.append(failing[pk].endpoint.uid)
    return disabled


def _disable_if_failing_too_long(conn: Connection, sent: Sent, config: Config) -> bool:
    endpoint, at = sent.endpoint, sent.at
    since = store.note_failure(conn, endpoint.pk, at)
    if since is None or at - since < config.disable_after:
        return False
    hours = (at - since).total_seconds() / 3600
    first = since.isoformat(timespec="seconds")
    reason = f"every attempt failed for {hours:.0f} h (since {first}Z); last: {sent.outcome.error}"
    if not store.set_status(conn, endpoint.tenant_id, endpoint.pk, store.DISABLED, reason):
        return False
    change = open_change(conn, endpoint.tenant_id, correlation_id=sent.delivery.request_id)
    change.note(
        "webhook.disabled",
        f"webhook endpoint {endpoint.uid} ({endpoint.url}) disabled: {reason}. Events "
        "are still queued for it; `roster webhook enable` sends them, in order",
        actor="webhooks",
        status=502,  # the endpoint failed us
    )
    log.warning("webhook endpoint %s disabled: %s", endpoint.uid, reason)
    return True


def deliver_due(
    engine: Engine,
    client: httpx.Client,
    config: Config,
    *,
    clock: Callable[[], datetime] = utcnow,
    max_deliveries: int = 1000,
    pool: ThreadPoolExecutor | None = None,
    stopping: Callable[[], bool] = lambda: False,
) -> Report:
    """One pass: queue new events, then send the deliveries due — a batch at a time,
    ``config.concurrency`` at once (a batch holds one delivery per resource and
    endpoint), its outcomes recorded together — at most ``max_deliveries``."""
    # A read first: a deployment without webhooks never takes SQLite's write lock here.
    with engine.connect().execution_options(**{READ_ONLY: True}) as conn, conn.begin():
        if not store.any_endpoint(conn):
            return Report()
    queued, held = _dispatch(engine, clock())
    report = Report(queued=queued, held_back=held)
    endpoints: dict[int, Endpoint | None] = {}
    batch_size = config.concurrency * 4
    while report.handled < max_deliveries and not stopping():
        claim_at = clock()
        with engine.begin() as conn:
            claimed = store.claim_due(
                conn,
                claim_at,
                claim_at + config.lease,
                limit=min(batch_size, max_deliveries - report.handled),
            )
            for d in claimed:
                if d.endpoint_pk not in endpoints:
                    endpoints[d.endpoint_pk] = store.get_endpoint_by_pk(conn, d.endpoint_pk)
        if not claimed:
            break

        def attempt(d: Delivery) -> Sent | None:
            endpoint = endpoints[d.endpoint_pk]
            if endpoint is None:  # removed meanwhile: its deliveries went with it
                return None
            outcome = send(client, endpoint, d.message_id, d.body, config)
            return Sent(d, endpoint, outcome, clock())

        if pool is None or len(claimed) == 1:
            results = [attempt(d) for d in claimed]
        else:
            results = list(pool.map(attempt, claimed))
        batch = [s for s in results if s is not None]
        disabled = _record(engine, batch, config)
        report.delivered += sum(1 for s in batch if s.outcome.ok)
        report.failed += sum(1 for s in batch if not s.outcome.ok)
        report.disabled += disabled
        if disabled or len(batch) < len(claimed):
            endpoints.clear()
        if len(batch) < len(claimed):
            break  # an endpoint was removed: no endless reclaiming of nothing
    return report


def ping(engine: Engine, client: httpx.Client, tenant_id: int, uid: str, config: Config) -> Outcome:
    """``roster webhook test``: send a signed ``ping`` now and record the attempt."""
    with engine.begin() as conn:
        endpoint = webhooks.get(conn, tenant_id, uid)
    message_id = str(uuid.uuid4())
    correlation = request_id()
    at = utcnow()
    stamp = f"{at.isoformat(timespec='milliseconds')}Z"
    body = json.dumps(
        {"id": message_id, "type": "ping", "timestamp": stamp, "data": {"endpoint": endpoint.uid}},
        separators=(",", ":"),
    )
    outcome = send(client, endpoint, message_id, body, config)
    attempt = Attempt(
        tenant_id,
        endpoint.pk,
        message_id,
        "ping",
        correlation,
        1,
        at,
        outcome.status_code,
        outcome.latency_ms,
        outcome.error,
        outcome.snippet,
    )
    with engine.begin() as conn:
        store.record_attempts(conn, [attempt])
    return outcome


class WebhookLoop:
    """Delivery in a daemon thread: a pass, then another at once while there was work,
    else when woken (storage/wakeups.py: a commit that wrote events — PostgreSQL's
    NOTIFY from any process, or this process's own writes) or after ``poll_seconds``,
    whichever comes first; until :meth:`stop`. ``roster serve`` (each worker process)
    and ``roster worker`` run one; leases keep them from sending one delivery at once."""

    # While committed events wait behind the write horizon (a transaction in flight
    # began before them, and its end may notify nobody), look again after 50 ms, then
    # twice as long each time, up to the poll interval.
    RECHECK_SECONDS = 0.05
    # After a wake-up, gather the commits that follow it into the same pass: under load
    # every write wakes the loop, and a pass per commit takes the CPU the requests need
    # (measured: bench.webhooks, delivery inside `roster serve` on PostgreSQL).
    GATHER_SECONDS = 0.02

    def __init__(
        self,
        engine: Engine,
        config: Config,
        client: httpx.Client | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._config = config
        # No redirects: a 3xx is a failure (a redirect could lead past the URL checks).
        self._client = client or httpx.Client(follow_redirects=False)
        self._clock = clock
        self._stop = threading.Event()
        self._wake = threading.Event()
        # Set while the loop has nothing to do but wait for a wake-up or its poll.
        self.idle = threading.Event()
        self._pool = ThreadPoolExecutor(config.concurrency, thread_name_prefix="roster-webhook")
        self._thread = threading.Thread(target=self._run, name="roster-webhooks", daemon=True)
        self.listener: wakeups.Listener | None = None
        if engine.dialect.name == "postgresql":
            self.listener = wakeups.Listener(engine, self._wake, config.poll_seconds)

    def start(self) -> None:
        wakeups.subscribe(self._wake)
        if self.listener is not None:
            self.listener.start()
        self._thread.start()

    def request_stop(self) -> None:
        """Stop after the batch in flight (a signal handler's part of :meth:`stop`)."""
        self._stop.set()
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self.request_stop()
        wakeups.unsubscribe(self._wake)
        if self.listener is not None:
            self.listener.stop()
        # Attempts in flight finish (or time out); a delivery still leased when the
        # process ends is sent again by another pass once its lease runs out.
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self) -> None:
        """Block until stopped (``roster worker``)."""
        while self._thread.is_alive():
            self._thread.join(0.5)

    def _pass(self) -> Report:
        try:
            report = deliver_due(
                self._engine,
                self._client,
                self._config,
                clock=self._clock,
                pool=self._pool,
                stopping=self._stop.is_set,
            )
        except Exception:
            # The database may be restarting: the loop must outlive it.
            log.exception("webhook pass failed; retrying in %.1f s", self._config.poll_seconds)
            return Report()
        if report.handled:
            log.info("webhook pass: %d delivered, %d failed", report.delivered, report.failed)
        return report

    def _run(self) -> None:
        held = 0  # passes in a row that found events held back
        while not self._stop.is_set():
            # Cleared before the pass: a wake-up during it makes the next wait return.
            self._wake.clear()
            report = self._pass()
            if report.handled > 0 or report.queued > 0:
                continue  # there may be more: another pass at once
            delay = self._config.poll_seconds
            if report.held_back:
                delay = min(self.RECHECK_SECONDS * 2 ** min(held, 16), delay)
                held += 1
            else:
                held = 0
                self.idle.set()
            woken = self._wake.wait(delay)
            self.idle.clear()
            if woken:
                self._stop.wait(self.GATHER_SECONDS)
