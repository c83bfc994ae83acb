"""The ASGI application: SCIM routes under each connection's base URL.

Thin: authenticate, parse, call the action, render; and one system-log entry per request,
written in the request's own transaction (or, for a rejection, after the rollback).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from roster import console
from roster.directory import audit, rate_limit
from roster.directory.audit import Outcome
from roster.directory.context import ConnectionContext
from roster.directory.mail import Backoff, DeliveryLoop
from roster.directory.rate_limit import Limit, Limiter, Owner
from roster.directory.read_log import ReadLog
from roster.directory.retention import RetentionLoop
from roster.directory.smtp import SmtpSender
from roster.directory.tenancy import AuthenticationFailed, authenticate, begin_write
from roster.directory.webhook_delivery import Config as WebhookConfig
from roster.directory.webhook_delivery import WebhookLoop
from roster.errors import (
    InvalidVersion,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RosterError,
)
from roster.http import api, health
from roster.http.access import AccessMiddleware, ConnectionKinds
from roster.http.bulk import run_bulk
from roster.http.dispatch import ALLOWED, Operation, Reply, check_method, execute, route_kind
from roster.http.metrics import Metrics
from roster.http.responses import error_body, error_response, scim_json
from roster.scim import limits
from roster.settings import Settings
from roster.storage.engine import READ_ONLY, make_engine, relax_durability

log = logging.getLogger("roster.http")

_BODY_METHODS = ("POST", "PUT", "PATCH")
_WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
_JSON_TYPES = ("application/scim+json", "application/json")


class UnsupportedMediaType(RosterError):
    status = 415


class InternalError(RosterError):
    status = 500


@dataclass(frozen=True)
class Incoming:
    tenant: str
    connection: str
    method: str
    path: str
    segments: list[str]
    query: dict[str, Any]
    headers: dict[str, str]
    raw: bytes
    request_id: str
    started: float
    declared_length: int = 0  # Content-Length, when too large to read at all


def _writes(method: str, segments: list[str]) -> bool:
    """Whether a request may change state (and so opens a write transaction): POST, PUT,
    PATCH and DELETE, but not a search (POST /.search) or Bulk (each of its operations
    is a write transaction of its own)."""
    lowered = [s.lower() for s in segments]
    return method in _WRITE_METHODS and lowered[-1:] != [".search"] and lowered != ["bulk"]


class ScimService:
    def __init__(
        self, settings: Settings, engine: Engine, read_log: ReadLog, limiter: Limiter
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.read_log = read_log
        self.limiter = limiter

    # -- one request -----------------------------------------------------------------

    def handle(self, req: Incoming) -> Response:
        key = rate_limit.scim_key(req.tenant, req.connection)
        wait = self.limiter.check(key)
        if wait is not None:
            # RFC 7644 §3.12: the error shape, status "429"; no scimType fits. Counted and
            # logged in aggregate (directory/rate_limit.py), not one entry per refusal.
            detail, headers = rate_limit.refusal(wait)
            return scim_json(error_body(429, detail), 429, headers)
        with audit.correlated(req.request_id):
            response, ctx = self._handle(req)
        if ctx is not None:  # authenticated: the request pays, after its transaction
            limit = ctx.rate_limit.resolve(self.limiter.default)
            self.limiter.spend(key, limit, Owner(ctx.tenant_id, ctx.connection_uid, "scim"))
        return response

    def _transaction(self, writes: bool) -> AbstractContextManager[Connection]:
        """A write transaction, or (reads) one that writes nothing: SQLite then begins it
        DEFERRED, beside the writer instead of after it."""
        if writes:
            return self.engine.begin()
        return _read_transaction(self.engine)

    def _handle(self, req: Incoming) -> tuple[Response, ConnectionContext | None]:
        ctx: ConnectionContext | None = None
        writes = _writes(req.method, req.segments)
        try:
            base_url = self.settings.base_url(req.tenant, req.connection)
            with self._transaction(writes) as conn:
                ctx = authenticate(
                    conn,
                    req.tenant,
                    req.connection,
                    req.headers.get("authorization"),
                    base_url,
                    writes=writes,
                )
                kind, _ = route_kind(req.segments)
                check_method(kind, req.method)
                body = self._decode(req)
                if kind == "bulk":
                    reply = None
                else:
                    reply = execute(conn, ctx, self._op(req, body), self.settings)
                    if writes:  # the entry commits with the change it records
                        self._record(conn, ctx.tenant_id, ctx.connection_uid, req, reply.outcome)
            if reply is not None and not writes:
                self._record_read(ctx.tenant_id, ctx.connection_uid, req, reply.outcome)
            if reply is None:
                reply = self._bulk(ctx, req, body)
            return self._render(reply), ctx
        except AuthenticationFailed as err:
            if err.connection is not None:
                self._record_failure(err.connection.tenant_id, err.connection.uid, req, err)
            else:
                log.info("unauthenticated request %s %s: %s", req.method, req.path, err.detail)
            return error_response(err), None
        except RosterError as err:
            if ctx is not None:
                self._record_failure(ctx.tenant_id, ctx.connection_uid, req, err)
            else:
                log.info("rejected %s %s: %s", req.method, req.path, err.detail)
            headers = (
                {"Allow": ", ".join(_allowed(req.segments))}
                if isinstance(err, MethodNotAllowed)
                else None
            )
            return error_response(err, headers), ctx
        except Exception:
            log.exception(
                "internal error in %s %s (request id %s)", req.method, req.path, req.request_id
            )
            if ctx is not None:
                internal = InternalError(f"internal error (request id {req.request_id})")
                self._record_failure(ctx.tenant_id, ctx.connection_uid, req, internal)
            return scim_json(
                error_body(500, f"internal error; quote request id {req.request_id}"), 500
            ), ctx

    def _op(self, req: Incoming, body: Any) -> Operation:
        return Operation(req.method, req.segments, req.query, req.headers, body)

    def _decode(self, req: Incoming) -> Any:
        if req.method not in _BODY_METHODS:
            return None
        ctype = req.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype and ctype not in _JSON_TYPES:
            raise UnsupportedMediaType(f"send the body as application/scim+json, not {ctype}")
        is_bulk = [s.lower() for s in req.segments] == ["bulk"]
        limit = self.settings.bulk_max_payload_bytes if is_bulk else self.settings.max_body_bytes
        size = max(len(req.raw), req.declared_length)
        if size > limit:
            raise PayloadTooLarge(f"the request body is {size} bytes; the limit is {limit}")
        return limits.parse_json(req.raw)  # JSON within the limits (scim/limits.py)

    def _bulk(self, ctx: ConnectionContext, req: Incoming, body: Any) -> Reply:
        def run(op: Operation) -> Reply | RosterError:
            started = time.perf_counter()
            path = "/" + "/".join(op.segments)
            sub = Incoming(
                req.tenant,
                req.connection,
                op.method,
                path,
                op.segments,
                {},
                {},
                b"",
                req.request_id,
                started,
            )
            try:
                with self.engine.begin() as conn:
                    op_ctx = begin_write(conn, ctx)
                    reply = execute(conn, op_ctx, op, self.settings)
                    self._record(
                        conn, ctx.tenant_id, ctx.connection_uid, sub, reply.outcome, "bulk"
                    )
                return reply
            except RosterError as err:
                self._record_failure(ctx.tenant_id, ctx.connection_uid, sub, err, "bulk")
                return err
            except Exception:
                # One broken operation must not hide the results of those already done.
                log.exception("internal error in bulk operation (request id %s)", req.request_id)
                internal = InternalError(f"internal error; quote request id {req.request_id}")
                self._record_failure(ctx.tenant_id, ctx.connection_uid, sub, internal, "bulk")
                return internal

        result = run_bulk(body, max_operations=self.settings.bulk_max_operations, run=run)
        failed = sum(1 for o in result["Operations"] if int(o["status"]) >= 400)
        outcome = Outcome(
            200,
            None,
            None,
            None,
            f"{len(result['Operations'])} operations, {failed} failed" if failed else None,
        )
        with self.engine.begin() as conn:
            self._record(conn, ctx.tenant_id, ctx.connection_uid, req, outcome)
        return Reply(200, result, {}, outcome)

    def _render(self, reply: Reply) -> Response:
        if reply.status == 204:
            return Response(status_code=204, headers=reply.headers)
        return scim_json(reply.body, reply.status, reply.headers)

    def _record(
        self,
        conn: Any,
        tenant_id: int,
        connection_uid: str,
        req: Incoming,
        outcome: Outcome,
        actor: str = "scim",
    ) -> None:
        audit.record(
            conn,
            tenant_id=tenant_id,
            connection_uid=connection_uid,
            actor=actor,
            method=req.method,
            path=req.path,
            outcome=outcome,
            request_id=req.request_id,
            duration_ms=(time.perf_counter() - req.started) * 1000,
        )

    def _record_read(
        self, tenant_id: int, connection_uid: str, req: Incoming, outcome: Outcome
    ) -> None:
        """A read's entry: batched off the request path (directory/read_log.py)."""
        self.read_log.add(
            audit.entry(
                tenant_id=tenant_id,
                connection_uid=connection_uid,
                actor="scim",
                method=req.method,
                path=req.path,
                outcome=outcome,
                request_id=req.request_id,
                duration_ms=(time.perf_counter() - req.started) * 1000,
            )
        )

    def _record_failure(
        self,
        tenant_id: int,
        connection_uid: str,
        req: Incoming,
        err: RosterError,
        actor: str = "scim",
    ) -> None:
        rt_name, resource_id = _resource_of(req.segments)
        outcome = Outcome(err.status, rt_name, resource_id, err.scim_type, err.detail)
        if not _writes(req.method, req.segments) and actor == "scim":
            self._record_read(tenant_id, connection_uid, req, outcome)
            return
        try:
            with self.engine.begin() as conn:
                relax_durability(conn)  # the request changed nothing
                self._record(conn, tenant_id, connection_uid, req, outcome, actor)
        except Exception:
            log.exception("could not write the system log for request %s", req.request_id)


@contextmanager
def _read_transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect().execution_options(**{READ_ONLY: True}) as conn, conn.begin():
        yield conn


def _resource_of(segments: list[str]) -> tuple[str | None, str | None]:
    if not segments:
        return None, None
    head = segments[0].lower()
    rt_name = {"users": "User", "groups": "Group"}.get(head)
    resource_id = (
        segments[1] if rt_name and len(segments) == 2 and segments[1] != ".search" else None
    )
    return rt_name, resource_id


def _allowed(segments: list[str]) -> tuple[str, ...]:
    try:
        return ALLOWED[route_kind(segments)[0]]
    except RosterError:
        return ()


def mail_loop(settings: Settings, engine: Engine) -> DeliveryLoop | None:
    """The onboarding-mail delivery loop, when an SMTP server is configured."""
    if not settings.smtp_host:
        return None
    # Built here, not at the first pass, so bad SMTP settings stop the server at start.
    sender = SmtpSender.from_settings(settings)
    backoff = Backoff(settings.mail_retry_base_seconds, settings.mail_retry_cap_seconds)
    return DeliveryLoop(engine, sender, settings.mail_poll_seconds, backoff)


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
            response = service.handle(incoming)
        else:
            response = await run_in_threadpool(service.handle, incoming)
        if response.status_code == 429:
            metrics.throttled("scim")
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
            return api.error_response(status, f"no such endpoint: {request.url.path}", headers)
        if status == 405:
            return error_response(MethodNotAllowed("method not allowed"))
        return error_response(
            NotFound("no such endpoint; SCIM base URLs look like /scim/v2/<tenant>/<connection-id>")
        )

    async def crashed(request: Request, exc: Exception) -> Response:
        # Only what escaped a route's own handling reaches here; Starlette logs the
        # traceback. Each surface still answers in its own error shape, never a traceback.
        if api.owns(request.url.path):
            return api.error_response(500, "internal error")
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
    # System-log retention (directory/retention.py); 0 days keeps everything.
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
