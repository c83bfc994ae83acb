"""Prometheus metrics, served at ``/metrics``.

Under ``roster serve --workers N`` each worker is its own process with its own counters;
``roster serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder, every worker writes
its values there (prometheus-client's multiprocess mode), and a scrape answered by any one
worker adds up all of them. Without it (tests, an app mounted by hand) the counters are this
process's own.

Labels never carry ids: the route is its template (``/scim/v2/{tenant}/{connection}/Users/{id}``)
and a connection is named by its IdP kind, so the number of series stays bounded however
many tenants, connections and users there are.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from roster.directory.journal.system_log import now
from roster.storage import outbox, webhooks
from roster.storage.engine import READ_ONLY

log = logging.getLogger("roster.http.metrics")

# SCIM calls are a few milliseconds; bulk requests and lock waits reach seconds.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class OutboxCollector(Collector):
    """The depth of the mail outbox and of the webhook deliveries, and the age of the
    oldest pending item of each, read at scrape time: the database is shared by every
    worker, so one read is the whole truth."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> Iterable[Metric]:
        return []  # computed at scrape time; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        try:
            with self.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
                pending, oldest = outbox.backlog(conn)
                hooks_pending, hooks_oldest = webhooks.backlog(conn)
        except Exception:
            # A scrape still answers (request counters matter most when the database is
            # down); the gap in these series, and /readyz, say why.
            log.warning("metrics: could not read the outboxes", exc_info=True)
            return
        yield GaugeMetricFamily(
            "roster_mail_outbox_pending", "Onboarding emails queued and not yet sent", pending
        )
        yield GaugeMetricFamily(
            "roster_mail_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending onboarding email (0 when none is pending)",
            _age(oldest),
        )
        yield GaugeMetricFamily(
            "roster_webhook_deliveries_pending",
            "Webhook deliveries queued and not yet acknowledged by their endpoint",
            hooks_pending,
        )
        yield GaugeMetricFamily(
            "roster_webhook_deliveries_oldest_pending_age_seconds",
            "Age of the oldest pending webhook delivery (0 when none is pending)",
            _age(hooks_oldest),
        )


def _age(oldest: datetime | None) -> float:
    # Rows queued "in the future" (a clock ahead of ours) count as new, not negative.
    return 0.0 if oldest is None else max(0.0, (now() - oldest).total_seconds())


class Metrics:
    def __init__(self, engine: Engine, multiproc_dir: str = "") -> None:
        self.multiproc_dir = multiproc_dir
        self.registry = CollectorRegistry()
        self.outbox = OutboxCollector(engine)
        self.requests = Counter(
            "roster_http_requests",
            "HTTP requests answered, by the connection's IdP kind, route template and status",
            ["idp", "route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "roster_http_request_duration_seconds",
            "Time from the request's arrival to its response, by route template",
            ["idp", "route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rejections = Counter(
            "roster_scim_rejections",
            "SCIM error responses, by scimType (RFC 7644 §3.12; 'none' when it has none)",
            ["idp", "scim_type", "status"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "roster_rate_limited",
            "Requests refused with 429 by the rate limit, by surface (scim, api)",
            ["surface"],
            registry=self.registry,
        )
        if not multiproc_dir:
            self.registry.register(self.outbox)

    def observe(self, idp: str, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(idp, route, method, str(status)).inc()
        self.latency.labels(idp, route, method).observe(seconds)

    def rejected(self, idp: str, scim_type: str | None, status: int) -> None:
        self.rejections.labels(idp, scim_type or "none", str(status)).inc()

    def throttled(self, surface: str) -> None:
        self.rate_limited.labels(surface).inc()

    def exposition(self) -> bytes:
        if not self.multiproc_dir:
            return generate_latest(self.registry)
        # Every worker's files, added up (counters and histograms are summed).
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiproc_dir)  # type: ignore[no-untyped-call]
        registry.register(self.outbox)
        return generate_latest(registry)

    async def endpoint(self, _: Request) -> Response:
        body = await run_in_threadpool(self.exposition)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
