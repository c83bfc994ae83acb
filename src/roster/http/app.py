"""The ASGI application: SCIM routes under each connection's base URL, the read API, the
admin console, health and metrics, and the loops a server process runs beside them.

Only assembly: the SCIM routes' adapter is ``http/scim_endpoint.py``, the answers when no
route did ``http/fallbacks.py``, the loops ``http/background.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route

from roster import console
from roster.directory.admission import rate_limit
from roster.directory.admission.rate_limit import Limiter
from roster.directory.journal.read_log import ReadLog
from roster.directory.settings.rate_limits import Limit
from roster.http import api, health
from roster.http.access import AccessMiddleware, ConnectionKinds
from roster.http.background import Background
from roster.http.fallbacks import crashed, not_found
from roster.http.metrics import Metrics
from roster.http.scim_endpoint import ScimEndpoint, other_version
from roster.provisioning.service import ScimService
from roster.settings import Settings
from roster.storage.engine import make_engine

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Starlette:
    settings = settings or Settings()
    engine = engine or make_engine(settings.resolved_database_url())
    metrics = Metrics(engine, settings.prometheus_multiproc_dir)
    limiter = Limiter(
        rate_limit.buckets_for(engine, settings.redis_url),
        Limit(settings.rate_limit, settings.rate_burst),
    )
    read_log = ReadLog(
        engine,
        interval=settings.read_log_flush_seconds,
        capacity=settings.read_log_buffer_entries,
        sources=[lambda everything: limiter.refusals(everything=everything)],
    )
    service = ScimService(settings, engine, read_log, limiter)
    scim = ScimEndpoint(service, settings, metrics, inline=engine.dialect.name == "sqlite")
    routes = [
        Route("/healthz", health.healthz),  # liveness: this process answers
        Route("/readyz", health.readyz(engine)),  # readiness: database up and migrated
        Route("/metrics", metrics.endpoint),  # Prometheus (http/metrics.py)
        Route("/scim/v2/{tenant}/{connection}/{rest:path}", scim.respond, methods=METHODS),
        Route("/scim/v2/{tenant}/{connection}", scim.respond, methods=METHODS),
        Route("/scim/{version}/{tenant}/{connection}/{rest:path}", other_version, methods=METHODS),
        Mount(
            "/api/v1",
            routes=api.routes(
                engine,
                events_retention_days=settings.events_retention_days,
                limiter=limiter,
                on_throttle=lambda: metrics.throttled("api"),
            ),
        ),  # the host app's read API
        # The admin console answers its own errors in HTML (roster/console/app.py).
        Mount("/admin", app=console.build(settings, engine)),
    ]
    background = Background.of(settings, engine, read_log)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        background.start()
        try:
            yield
        finally:
            await background.stop()
            limiter.close()

    app = Starlette(
        routes=routes,
        exception_handlers={404: not_found, 405: not_found, Exception: crashed},
        lifespan=lifespan,
        # One access line and the metrics of every request (http/access.py).
        middleware=[Middleware(AccessMiddleware, metrics, ConnectionKinds(engine))],
    )
    app.state.engine = engine
    app.state.settings = settings
    app.state.mail_loop = background.mail
    app.state.webhook_loop = background.webhooks
    app.state.read_log = read_log
    app.state.metrics = metrics
    app.state.limiter = limiter
    app.state.retention = background.retention
    return app
