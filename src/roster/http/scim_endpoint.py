"""The SCIM routes' Starlette adapter: a request under a connection's base URL becomes an
``Incoming`` for ``provisioning.service.ScimService`` (which authenticates, runs it and
logs it), and its ``Reply`` becomes the response."""

from __future__ import annotations

import time
import uuid

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from roster.errors import InvalidVersion
from roster.http.metrics import Metrics
from roster.http.responses import error_response, render
from roster.provisioning.service import Incoming, ScimService
from roster.settings import Settings


class ScimEndpoint:
    """``/scim/v2/{tenant}/{connection}[/{rest}]``, every method: ``respond`` is the
    route's endpoint (a bound method, so Starlette calls it with the request; an object
    it would call as a raw ASGI app)."""

    def __init__(
        self, service: ScimService, settings: Settings, metrics: Metrics, inline: bool
    ) -> None:
        self._service = service
        self._metrics = metrics
        # The largest body any request may have: bigger ones are never buffered.
        self._limit = max(settings.max_body_bytes, settings.bulk_max_payload_bytes)
        # SQLite work is in-process CPU under the GIL, a fraction of a millisecond a
        # request: a thread hop would cost more than it overlaps. PostgreSQL waits on the
        # network and on row locks, so its requests run in the threadpool and never block
        # the event loop.
        self._inline = inline

    async def respond(self, request: Request) -> Response:
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        params = request.path_params
        rest = str(params.get("rest", ""))
        raw, declared = await self._body(request)
        incoming = Incoming(
            tenant=params["tenant"],
            connection=params["connection"],
            method=request.method,
            path="/" + rest,
            segments=[s for s in rest.split("/") if s],
            query=dict(request.query_params),
            headers=_headers(request),
            raw=raw,
            request_id=request_id,
            started=started,
            declared_length=declared,
        )
        if self._inline:
            reply = self._service.handle(incoming)
        else:
            reply = await run_in_threadpool(self._service.handle, incoming)
        if reply.status == 429:
            self._metrics.throttled("scim")
        response = render(reply)
        response.headers["X-Request-Id"] = request_id
        return response

    async def _body(self, request: Request) -> tuple[bytes, int]:
        """The body and its size, never buffering more than we accept, with or without
        Content-Length: an oversized one comes back empty with its size, so the 413 is
        still answered after authentication and logged for the connection."""
        length = request.headers.get("content-length", "")
        declared = int(length) if length.isdigit() else 0
        if declared > self._limit:
            return b"", declared
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self._limit:
                return b"", size
            chunks.append(chunk)
        return b"".join(chunks), declared


def _headers(request: Request) -> dict[str, str]:
    """The request's headers by lower-case name, the first of a repeated one winning (as
    ``dict(request.headers)``, without its lookup of every name in the whole list)."""
    headers: dict[str, str] = {}
    for name, value in request.scope["headers"]:
        headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return headers


async def other_version(request: Request) -> Response:
    # RFC 7644 §3.12 invalidVers: we speak SCIM 2.0 only (base URLs carry /v2).
    version = request.path_params["version"]
    return error_response(
        InvalidVersion(
            f"SCIM protocol version {version!r} is not supported; "
            "use /scim/v2/<tenant>/<connection>"
        )
    )
