"""The SCIM request handling, framework-free: one ``Incoming`` request in, one ``Reply``
out. It authenticates, decodes the body within its limits, runs the operation (or a
Bulk's operations, each in its own transaction: RFC 7644 §3.7) and writes the request's
system-log entry: in the request's own transaction for a write, batched for a read, after
the rollback for a refusal. ``http/app.py`` adapts it to Starlette.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from roster.directory.admin.tenancy import authenticate, begin_write
from roster.directory.admission import rate_limit
from roster.directory.admission.rate_limit import Limiter, Owner
from roster.directory.journal import system_log
from roster.directory.journal.read_log import ReadLog
from roster.directory.journal.system_log import Outcome
from roster.directory.settings.context import ConnectionContext
from roster.errors import (
    AuthenticationFailed,
    InternalError,
    MethodNotAllowed,
    NotModified,
    PayloadTooLarge,
    RosterError,
    TooManyRequests,
    UnsupportedMediaType,
)
from roster.provisioning.dispatch import (
    ALLOWED,
    Operation,
    Reply,
    check_method,
    execute,
    route_kind,
)
from roster.scim import limits
from roster.scim.bulk import BulkCall, run_bulk
from roster.scim.messages import error_body
from roster.settings import Settings
from roster.storage.engine import READ_ONLY, relax_durability

log = logging.getLogger("roster.http")


def error_reply(err: RosterError, headers: dict[str, str] | None = None) -> Reply:
    """A refusal as the SCIM client gets it: RFC 7644 §3.12's body; a 304 carries its ETag
    and no body (RFC 7232 §4.1); a 401 names the scheme (RFC 6750 §3), with
    error="invalid_token" only when a token was sent."""
    extra = dict(headers or {})
    if isinstance(err, NotModified):
        return Reply(304, None, {**extra, "ETag": err.etag})
    if err.status == 401:
        sent = getattr(err, "token_sent", True)
        extra["WWW-Authenticate"] = (
            'Bearer realm="roster", error="invalid_token"' if sent else 'Bearer realm="roster"'
        )
    return Reply(err.status, error_body(err.status, err.detail, err.scim_type), extra)


_BODY_METHODS = ("POST", "PUT", "PATCH")
_WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
_JSON_TYPES = ("application/scim+json", "application/json")


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

    def handle(self, req: Incoming) -> Reply:
        key = rate_limit.scim_key(req.tenant, req.connection)
        wait = self.limiter.check(key)
        if wait is not None:
            # RFC 7644 §3.12: the error shape, status "429"; no scimType fits. Counted and
            # logged in aggregate (directory/admission/rate_limit.py), not one entry each.
            detail, headers = rate_limit.refusal(wait)
            return error_reply(TooManyRequests(detail), headers)
        with system_log.correlated(req.request_id):
            reply, ctx = self._handle(req)
        if ctx is not None:  # authenticated: the request pays, after its transaction
            limit = ctx.rate_limit.resolve(self.limiter.default)
            self.limiter.spend(key, limit, Owner(ctx.tenant_id, ctx.connection_uid, "scim"))
        return reply

    def _transaction(self, writes: bool) -> AbstractContextManager[Connection]:
        """A write transaction, or (reads) one that writes nothing: SQLite then begins it
        DEFERRED, beside the writer instead of after it."""
        if writes:
            return self.engine.begin()
        return _read_transaction(self.engine)

    def _handle(self, req: Incoming) -> tuple[Reply, ConnectionContext | None]:
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
            return reply, ctx
        except AuthenticationFailed as err:
            if err.tenant_id is not None and err.connection_uid is not None:
                self._record_failure(err.tenant_id, err.connection_uid, req, err)
            else:
                log.info("unauthenticated request %s %s: %s", req.method, req.path, err.detail)
            return error_reply(err), None
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
            return error_reply(err, headers), ctx
        except Exception:
            log.exception(
                "internal error in %s %s (request id %s)", req.method, req.path, req.request_id
            )
            if ctx is not None:
                internal = InternalError(f"internal error (request id {req.request_id})")
                self._record_failure(ctx.tenant_id, ctx.connection_uid, req, internal)
            internal = InternalError(f"internal error; quote request id {req.request_id}")
            return error_reply(internal), ctx

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
        def run(call: BulkCall) -> Reply | RosterError:
            op = Operation(call.method, call.segments, {}, call.headers, call.body)
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

    def _record(
        self,
        conn: Any,
        tenant_id: int,
        connection_uid: str,
        req: Incoming,
        outcome: Outcome,
        actor: str = "scim",
    ) -> None:
        system_log.record(
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
        """A read's entry: batched off the request path (directory/journal/read_log.py)."""
        self.read_log.add(
            system_log.entry(
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
