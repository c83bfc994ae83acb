"""One access line per request, and the request metrics: an ASGI middleware around the app.

The line carries the request id (the SCIM endpoint's own, so it matches ``roster log``),
the tenant slug and connection id of a SCIM base URL, the route template, the method, the
status and the duration; uvicorn's access log is off (``roster serve``). Health probes and
scrapes are counted but logged at DEBUG only, so a load balancer polling every second does
not bury the requests that matter.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import orjson
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from roster.http.metrics import Metrics
from roster.storage.engine import READ_ONLY
from roster.storage.tenancy import connection_for_url

access_log = logging.getLogger("roster.access")

SCIM_PREFIX = "/scim/v2/{tenant}/{connection}"
_QUIET = frozenset({"/healthz", "/readyz", "/metrics"})
_SNIFF_LIMIT = 65_536  # SCIM error bodies are small; never buffer a large one to label it
UNKNOWN = "unknown"  # no connection, or an unknown one
NONE = "none"  # a route that is not a connection's (read API, probes)

_SCIM_NAMES = {
    "users": "Users",
    "groups": "Groups",
    "serviceproviderconfig": "ServiceProviderConfig",
    "resourcetypes": "ResourceTypes",
    "schemas": "Schemas",
    "bulk": "Bulk",
    ".search": ".search",
    "me": "Me",
}
_ITEM = {"Users": "{id}", "Groups": "{id}", "ResourceTypes": "{name}", "Schemas": "{id}"}


def scim_route(rest: str) -> str:
    """The template of a path under a SCIM base URL: ids become placeholders, names take
    their canonical case, anything else is ``{unknown}`` (labels stay bounded)."""
    segments = [s for s in rest.split("/") if s]
    if not segments:
        return ""
    head = _SCIM_NAMES.get(segments[0].lower())
    if head is None:
        return "/{unknown}"
    if len(segments) == 1:
        return f"/{head}"
    if len(segments) == 2:
        if segments[1] == ".search" and head in ("Users", "Groups"):
            return f"/{head}/.search"
        if head in _ITEM:
            return f"/{head}/{_ITEM[head]}"
    return f"/{head}/{{unknown}}"


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "{unmatched}"
    # Inside a Mount, root_path has grown by the mount's own path.
    root = str(scope.get("root_path", ""))
    prefix = root[len(str(scope.get("app_root_path", ""))) :]
    template = prefix + str(path)
    if template.startswith(SCIM_PREFIX):
        rest = str(scope.get("path_params", {}).get("rest", ""))
        return SCIM_PREFIX + scim_route(rest)
    return template


class ConnectionKinds:
    """A connection's IdP kind, read once per process: it never changes after creation."""

    def __init__(self, engine: Engine, limit: int = 10_000) -> None:
        self.engine = engine
        self.limit = limit
        self.known: dict[tuple[str, str], str] = {}
        self.inline = engine.dialect.name == "sqlite"

    def cached(self, slug: str, uid: str) -> str | None:
        return self.known.get((slug, uid))

    def read(self, slug: str, uid: str) -> str:
        try:
            with self.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
                row = connection_for_url(conn, slug, uid)
        except Exception:
            access_log.debug("could not read the IdP kind of %s/%s", slug, uid, exc_info=True)
            return UNKNOWN
        if row is None:
            return UNKNOWN  # not cached: the URL may name a connection created later
        if len(self.known) >= self.limit:
            self.known.clear()
        self.known[(slug, uid)] = row.idp
        return row.idp

    async def kind(self, slug: str, uid: str) -> str:
        found = self.cached(slug, uid)
        if found is not None:
            return found
        if self.inline:  # SQLite: an in-process read, cheaper than a thread hop
            return self.read(slug, uid)
        return await run_in_threadpool(self.read, slug, uid)


class AccessMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, kinds: ConnectionKinds) -> None:
        self.app = app
        self.metrics = metrics
        self.kinds = kinds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # The request id is the SCIM endpoint's when its response has one (as in `roster
        # log`); only the others get a new one, so a SCIM request draws a single uuid4.
        state: dict[str, Any] = {"status": 500, "request_id": None, "body": None}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                _started(message, state)
            elif message["type"] == "http.response.body" and state["body"] is not None:
                body: bytearray = state["body"]
                if len(body) < _SNIFF_LIMIT:
                    body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            state["status"] = 500
            raise
        finally:
            seconds = time.perf_counter() - started
            if state["request_id"] is None:  # no response started: the app raised
                state["request_id"] = str(uuid.uuid4())
            await self._record(scope, state, seconds)

    async def _record(self, scope: Scope, state: dict[str, Any], seconds: float) -> None:
        status: int = state["status"]
        route = route_template(scope)
        params = scope.get("path_params", {})
        tenant = connection = None
        idp = NONE
        if route.startswith(SCIM_PREFIX):
            tenant, connection = str(params.get("tenant")), str(params.get("connection"))
            idp = await self.kinds.kind(tenant, connection)
        elif route.startswith("/scim/") or route == "{unmatched}":
            idp = UNKNOWN
        method = str(scope.get("method", ""))
        try:
            self.metrics.observe(idp, route, method, status, seconds)
            if state["body"] is not None:
                self.metrics.rejected(idp, _scim_type(bytes(state["body"])), status)
        except Exception:
            access_log.warning("could not update the request metrics", exc_info=True)
        client = scope.get("client")
        quiet = route in _QUIET and status < 400
        access_log.log(
            logging.DEBUG if quiet else logging.INFO,
            "request",
            extra={
                "request_id": state["request_id"],
                "method": method,
                "route": route,
                "path": scope.get("path"),
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "tenant": tenant,
                "connection": connection,
                "idp": idp,
                "client": client[0] if client else None,
            },
        )


def _started(message: Message, state: dict[str, Any]) -> None:
    """Read the status, request id and content type off ``http.response.start``, adding an
    ``X-Request-Id`` when the response has none. One pass over the raw header list: this
    runs for every request."""
    status = int(message["status"])
    state["status"] = status
    raw = message.get("headers") or []
    if not isinstance(raw, list):  # ASGI allows any iterable: read it once
        raw = message["headers"] = list(raw)
    request_id = content_type = None
    for name, value in raw:
        lowered = name.lower()
        if lowered == b"x-request-id" and request_id is None:
            request_id = value.decode("latin-1")
        elif lowered == b"content-type" and content_type is None:
            content_type = value
    if request_id is None:
        request_id = str(uuid.uuid4())
        message["headers"] = [*raw, (b"x-request-id", request_id.encode("latin-1"))]
    state["request_id"] = request_id
    if (
        status >= 400
        and content_type is not None
        and content_type.startswith(b"application/scim+json")
    ):
        state["body"] = bytearray()


def _scim_type(body: bytes) -> str | None:
    try:
        value = orjson.loads(body).get("scimType")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return str(value) if value else None
