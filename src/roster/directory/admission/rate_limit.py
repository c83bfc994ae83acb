"""Rate limits: a token bucket per SCIM connection and per read-API key, shared by every
server process (issue 15).

Okta and Entra back off on ``429`` with ``Retry-After``; Entra's gallery expects an app to
take 25 requests/s per tenant. The default (``ROSTER_RATE_LIMIT`` 50/s, ``ROSTER_RATE_BURST``
100) stays well above that; a connection may override both (``rate_limit``, ``rate_burst``).

The bucket lives in the database (storage/rate_buckets.py: one row, one atomic upsert) or in
Redis when ``ROSTER_REDIS_URL`` is set (storage/redis_buckets.py). It is not touched on
every request:

- **Leases.** A process takes up to ``LEASE`` tokens at once from the shared bucket and
  spends them locally, so the shared store sees one statement per ``LEASE`` requests of a
  connection per process (one per request when the bucket is nearly empty). Tokens a process
  holds are out of the other processes' reach: the burst may reach ``burst + processes *
  (LEASE - 1)``; the sustained rate is exact.
- **Post-paid.** A request is charged after it is answered (on a connection of its own, never
  inside the request's transaction, whose locks it would otherwise hold). It is refused only
  when this process knows the bucket is empty — a lease came back with nothing to spare —
  until the bucket has refilled to one token: the refusal itself costs no statement at all,
  which matters most when a client floods.
- **Authenticated requests pay.** Only a request that authenticated is charged, so nobody
  can drain a connection's bucket without its token; while a bucket is empty, every request
  to that base URL (or with that key id) is refused before authentication.
- **Fails open.** If the store cannot be reached, requests are served and the server log
  says so: a rate limiter must not turn an outage of Redis into an outage of SCIM.

Refusals are counted (metrics) and logged in aggregate: one system-log entry per bucket per
``log_interval`` (a minute) with the count, never one per refused request.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine

from roster.directory.journal.system_log import Outcome, entry
from roster.directory.settings.rate_limits import Limit
from roster.storage import rate_buckets
from roster.storage.engine import LIMITER
from roster.storage.rate_buckets import Lease
from roster.storage.system_log import LogEntry

log = logging.getLogger("roster.rate_limit")

LOG_INTERVAL = 60.0  # seconds: one aggregated log entry per throttled bucket at most this often


def refusal(wait: float) -> tuple[str, dict[str, str]]:
    """The detail and headers of a 429 (RFC 6585 §4; Retry-After in whole seconds, at
    least one, RFC 9110 §10.2.3)."""
    seconds = max(1, math.ceil(wait))
    detail = f"too many requests: the rate limit is reached; retry after {seconds} s"
    return detail, {"Retry-After": str(seconds)}


def scim_key(tenant_slug: str, connection_uid: str) -> str:
    return f"scim:{tenant_slug}/{connection_uid}"


def api_key(key_id: str) -> str:
    return f"api:{key_id}"


# -- the shared stores ------------------------------------------------------------------


class Buckets(Protocol):
    def lease(self, key: str, *, rate: float, burst: float, want: int, now: float) -> Lease: ...

    def close(self) -> None: ...


class DatabaseBuckets:
    """The buckets in Roster's own database, leased on a connection of their own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def lease(self, key: str, *, rate: float, burst: float, want: int, now: float) -> Lease:
        conn = self.engine.connect().execution_options(**{LIMITER: True})
        with conn:
            if conn.dialect.name == "postgresql":
                # One round trip, no transaction around it: the upsert is atomic alone.
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                return rate_buckets.lease(conn, key, rate=rate, burst=burst, want=want, now=now)
            with conn.begin():
                return rate_buckets.lease(conn, key, rate=rate, burst=burst, want=want, now=now)

    def close(self) -> None:
        pass


def buckets_for(engine: Engine, redis_url: str) -> Buckets:
    if redis_url:
        from roster.storage.redis_buckets import RedisBuckets  # noqa: PLC0415 (optional)

        return RedisBuckets(redis_url)
    return DatabaseBuckets(engine)


# -- the limiter ------------------------------------------------------------------------


@dataclass(frozen=True)
class Owner:
    """Whose bucket: named in the aggregated log entry."""

    tenant_id: int
    connection_uid: str | None
    actor: str  # "scim", or "api:<key id>"


@dataclass
class _Bucket:
    held: int = 0  # tokens leased and not yet spent
    blocked_until: float = 0.0  # the shared bucket is empty until then (as last leased)
    owner: Owner | None = None
    limit: Limit | None = None
    refused: int = 0  # since the last log entry
    refused_since: float = 0.0


class Limiter:
    def __init__(
        self,
        buckets: Buckets,
        default: Limit,
        *,
        clock: Callable[[], float] = time.time,
        log_interval: float = LOG_INTERVAL,
    ) -> None:
        self.buckets = buckets
        self.default = default
        self.clock = clock
        self.log_interval = log_interval
        self._state: dict[str, _Bucket] = {}
        self._lock = threading.Lock()  # PostgreSQL requests run in the threadpool

    def check(self, key: str) -> float | None:
        """Before a request: None to serve it, else the seconds until the bucket holds a
        token again (``Retry-After``); the refusal is counted for the log."""
        now = self.clock()
        with self._lock:
            state = self._state.get(key)
            if state is None or now >= state.blocked_until:
                return None
            if state.refused == 0:
                state.refused_since = now
            state.refused += 1
            return state.blocked_until - now

    def spend(self, key: str, limit: Limit, owner: Owner) -> None:
        """After an authenticated request: pay one token, leasing more when none is held."""
        if limit.rate <= 0:
            return
        with self._lock:
            state = self._state.setdefault(key, _Bucket())
            state.owner, state.limit = owner, limit
            if state.held > 0:
                state.held -= 1
                return
        now = self.clock()
        try:
            got = self.buckets.lease(
                key, rate=limit.rate, burst=limit.burst, want=limit.lease_size(), now=now
            )
        except Exception:
            log.warning("rate limit: could not reach the bucket store; serving", exc_info=True)
            return
        with self._lock:
            state.held += got.granted - 1
            if state.held == 0 and got.tokens < 1:
                state.blocked_until = max(state.blocked_until, now + (1 - got.tokens) / limit.rate)
            else:
                state.blocked_until = 0.0

    def refusals(self, *, everything: bool = False) -> list[LogEntry]:
        """The aggregated log entries due: one per bucket whose first uncounted refusal is
        ``log_interval`` old (``everything``: all, at shutdown)."""
        now = self.clock()
        due: list[LogEntry] = []
        with self._lock:
            for state in self._state.values():
                if not state.refused or state.owner is None or state.limit is None:
                    continue
                if not everything and now - state.refused_since < self.log_interval:
                    continue
                due.append(
                    _entry(state.owner, state.limit, state.refused, now - state.refused_since)
                )
                state.refused = 0
        return due

    def close(self) -> None:
        self.buckets.close()


def _entry(owner: Owner, limit: Limit, refused: int, seconds: float) -> LogEntry:
    detail = (
        f"{refused} request{'s' if refused != 1 else ''} refused with 429 in the last "
        f"{max(seconds, 1):.0f} s: over the rate limit of {limit.rate:g}/s "
        f"(burst {limit.burst})"
    )
    return entry(
        tenant_id=owner.tenant_id,
        connection_uid=owner.connection_uid,
        actor=owner.actor,
        method="LIMIT",
        path="rate limit",
        outcome=Outcome(429, None, None, None, detail),
        request_id=str(uuid.uuid4()),
    )
