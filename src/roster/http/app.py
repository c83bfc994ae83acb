"""The ASGI application: SCIM routes under each connection's base URL, the read API, the
admin console, health and metrics.

Thin: a SCIM request becomes an ``Incoming`` for ``provisioning.service.ScimService`` (which
authenticates, runs it and logs it) and its ``Reply`` becomes Starlette's response.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from roster import console
from roster.directory.admission import rate_limit
from roster.directory.admission.rate_limit import Limiter
from roster.directory.journal.read_log import ReadLog
from roster.directory.journal.retention import RetentionLoop
from roster.directory.messaging.mail import Backoff, DeliveryLoop
from roster.directory.messaging.smtp import SmtpSender
from roster.directory.outbound.webhook_delivery import Config as WebhookConfig
from roster.directory.outbound.webhook_delivery import WebhookLoop
from roster.directory.settings.rate_limits import Limit
from roster.errors import (
    InternalError,
    InvalidVersion,
    MethodNotAllowed,
    NotFound,
)
from roster.http import api, health
from roster.http.access import AccessMiddleware, ConnectionKinds
from roster.http.metrics import Metrics
from roster.http.responses import error_response, render, scim_json
from roster.provisioning.service import Incoming, ScimService
from roster.scim.messages import error_body
from roster.settings import Settings
from roster.storage.engine import make_engine

log = logging.getLogger("roster.http")


def mail_loop(settings: Settings, engine: Engine) -> DeliveryLoop | None:
    """The onboarding-mail delivery loop, when an SMTP server is configured."""
    if not settings.smtp_host:
        return None
    # Built here, not at the first pass, so bad SMTP settings stop the server at start.
    sender = SmtpSender.from_settings(settings)
    backoff = Backoff(settings.mail_retry_base_seconds, settings.mail_retry_cap_seconds)
    return DeliveryLoop(engine, sender, settings.mail_poll_seconds, backoff)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Starlette:  # noqa: C901 (the app's routes and lifespan as closures over one engine)
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
    # SQLite work is in-process CPU under the GIL, a fraction of a millisecond a request:
    # a thread hop would cost more than it overlaps. PostgreSQL waits on the network and
    # on row locks, so its requests run in the threadpool and never block the loop.
    inline = engine.dialect.name == "sqlite"

    async def scim_endpoint(request: Request) -> Response:
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        params = request.path_params
        rest = str(params.get("rest", ""))
        length = request.headers.get("content-length", "")
        declared = int(length) if length.isdigit() else 0
        limit = max(settings.max_body_bytes, settings.bulk_max_payload_bytes)
        # Never buffer more than we accept, with or without Content-Length; the 413 is
        # still answered after authentication, so it is logged for the connection.
        raw = b""
        if declared <= limit:
            chunks: list[bytes] = []
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    declared, chunks = size, []
                    break
                chunks.append(chunk)
            raw = b"".join(chunks)
        incoming = Incoming(
            tenant=params["tenant"],
            connection=params["connection"],
            method=request.method,
            path="/" + rest,
            segments=[s for s in rest.split("/") if s],
            query=dict(request.query_params),
            headers=dict(request.headers),
            raw=raw,
            request_id=request_id,
            started=started,
            declared_length=declared,
        )
        if inline:
            reply = service.handle(incoming)
        else:
            reply = await run_in_threadpool(service.handle, incoming)
        if reply.status == 429:
            metrics.throttled("scim")
        response = render(reply)
        response.headers["X-Request-Id"] = request_id
        return response

    async def other_version(request: Request) -> Response:
        # RFC 7644 §3.12 invalidVers: we speak SCIM 2.0 only (base URLs carry /v2).
        version = request.path_params["version"]
        return error_response(
            InvalidVersion(
                f"SCIM protocol version {version!r} is not supported; "
                "use /scim/v2/<tenant>/<connection>"
            )
        )

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        if api.owns(request.url.path):  # the read API's routes answer these themselves
            headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else None
            what = f"no such endpoint: {request.url.path}"
            missing = MethodNotAllowed(what) if status == 405 else NotFound(what)
            return api.error_response(missing, headers)
        if status == 405:
            return error_response(MethodNotAllowed("method not allowed"))
        return error_response(
            NotFound("no such endpoint; SCIM base URLs look like /scim/v2/<tenant>/<connection-id>")
        )

    async def crashed(request: Request, exc: Exception) -> Response:
        # Only what escaped a route's own handling reaches here; Starlette logs the
        # traceback. Each surface still answers in its own error shape, never a traceback.
        if api.owns(request.url.path):
            return api.error_response(InternalError("internal error"))
        return scim_json(error_body(500, "internal error"), 500)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    routes = [
        Route("/healthz", health.healthz),  # liveness: this process answers
        Route("/readyz", health.readyz(engine)),  # readiness: database up and migrated
        Route("/metrics", metrics.endpoint),  # Prometheus (http/metrics.py)
        Route("/scim/v2/{tenant}/{connection}/{rest:path}", scim_endpoint, methods=methods),
        Route("/scim/v2/{tenant}/{connection}", scim_endpoint, methods=methods),
        Route("/scim/{version}/{tenant}/{connection}/{rest:path}", other_version, methods=methods),
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
    loop = mail_loop(settings, engine)
    # Webhook delivery in every server process, unless `roster worker`s do it.
    hooks = (
        WebhookLoop(engine, WebhookConfig.from_settings(settings))
        if settings.webhook_delivery
        else None
    )
    # System-log retention (directory/journal/retention.py); 0 days keeps everything.
    retention = (
        RetentionLoop(engine, settings.log_retention_days)
        if settings.log_retention_days > 0
        else None
    )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        read_log.start()
        if loop is not None:
            loop.start()
        if hooks is not None:
            hooks.start()
        if retention is not None:
            retention.start()
        try:
            yield
        finally:
            if retention is not None:
                await run_in_threadpool(retention.stop)
            if hooks is not None:
                await run_in_threadpool(hooks.stop)
            if loop is not None:
                await run_in_threadpool(loop.stop)
            await run_in_threadpool(read_log.stop)
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
    app.state.mail_loop = loop
    app.state.webhook_loop = hooks
    app.state.read_log = read_log
    app.state.metrics = metrics
    app.state.limiter = limiter
    app.state.retention = retention
    return app
