"""The host application's read API: ``/api/v1`` (employees, groups, locations, events).

Authenticated by a tenant API key (``roster apikey create``), never by a SCIM token.
Plain JSON; every error under ``/api/v1`` — 400, 401, 404, 405, 500, unknown paths and
methods included — is ``{"error": {"status", "detail"}}`` as ``application/json``: the
host app never sees the SCIM error shape of the rest of the server. Described by the
OpenAPI document at ``/api/v1/openapi.json`` (http/openapi.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from roster.directory.admin import apikeys
from roster.directory.admission import rate_limit
from roster.directory.admission.rate_limit import Limiter, Owner
from roster.directory.reads import feed, read_api
from roster.errors import (
    InternalError,
    InvalidValue,
    MethodNotAllowed,
    NotFound,
    RosterError,
    TooManyRequests,
    UnknownLocation,
)
from roster.http.openapi import document
from roster.scim import limits

log = logging.getLogger("roster.http.api")

PREFIX = "/api/v1"
MAX_LIMIT = 1000
# Every route takes every method, so that a wrong one is answered here, in the API's error
# shape, rather than by Starlette's router (whose 405 the app renders as a SCIM error).
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_READ = ("GET", "HEAD")
# The query parameters each route takes (http/openapi.py documents the same).
PAGE_PARAMS = ("cursor", "limit")
EMPLOYEE_PARAMS = ("status", "email", "location", "source", "updated_since", *PAGE_PARAMS)
EVENT_PARAMS = ("after", "limit", "types")


def _error(err: RosterError, headers: dict[str, str] | None = None) -> JSONResponse:
    """The API's error body: the status, the error's stable ``code`` (errors.py) for
    programs, the ``detail`` for people, and the attribute at fault where one is."""
    if err.status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="roster-api"'}
    body: dict[str, Any] = {"status": err.status, "code": err.code, "detail": err.detail}
    if err.attribute is not None:
        body["attribute"] = err.attribute
    return JSONResponse({"error": body}, err.status, headers)


def owns(path: str) -> bool:
    """Is ``path`` the API's, so that errors the app answers for it take the API's shape?"""
    return path == PREFIX or path.startswith(PREFIX + "/")


def error_response(err: RosterError, headers: dict[str, str] | None = None) -> Response:
    """The API's error shape, for errors the app answers outside the API's own routes."""
    return _error(err, headers)


def _not_allowed(request: Request) -> JSONResponse:
    return _error(
        MethodNotAllowed(
            f"{request.method} is not allowed on {request.url.path}: the API is read-only (GET)"
        ),
        {"Allow": ", ".join(_READ)},
    )


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "100")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4) or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidValue(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


def _check_request(request: Request, known: tuple[str, ...]) -> None:
    """400 for a query parameter the route does not take (naming it: a misspelt filter must
    not silently answer everyone), one given twice, or NUL anywhere in the URL."""
    names = [name for name, _ in request.query_params.multi_items()]
    unknown = sorted({n for n in names if n not in known})
    if unknown:
        takes = f"it takes {', '.join(known)}" if known else "it takes none"
        raise InvalidValue(
            f"unknown query parameter(s) {', '.join(map(repr, unknown))} for "
            f"{request.url.path}; {takes}"
        )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InvalidValue(f"query parameter(s) given more than once: {', '.join(repeated)}")
    for name, value in [*request.query_params.items(), *request.path_params.items()]:
        limits.check_text(f"{name!r}", str(value))


def _page(items: list[dict[str, Any]], cursor: str | None) -> dict[str, Any]:
    return {"items": items, "nextCursor": cursor}


def _key_id(authorization: str | None) -> str:
    """The public id of the API key a request presents (``rk_<id>_<secret>``), unchecked:
    it names the bucket to look at before authentication (directory/admission/rate_limit.py)."""
    _, _, presented = (authorization or "").partition(" ")
    return presented.strip().removeprefix(apikeys.PREFIX).partition("_")[0][:64]


def routes(  # noqa: C901 (one small closure per route, registered in one place)
    engine: Engine,
    *,
    events_retention_days: float = 30.0,
    limiter: Limiter | None = None,
    on_throttle: Callable[[], None] = lambda: None,
) -> list[Route]:
    def endpoint(
        handler: Callable[[Connection, int, Request], Any], params: tuple[str, ...] = ()
    ) -> Callable[[Request], Any]:
        def run(request: Request) -> Response:
            bucket = rate_limit.api_key(_key_id(request.headers.get("authorization")))
            wait = limiter.check(bucket) if limiter is not None else None
            if wait is not None:
                on_throttle()
                detail, headers = rate_limit.refusal(wait)
                return _error(TooManyRequests(detail), headers)
            key = None
            try:
                with engine.begin() as conn:
                    key = apikeys.authenticate(conn, request.headers.get("authorization"))
                    _check_request(request, params)
                    response: Response = JSONResponse(handler(conn, key.tenant_id, request))
            except RosterError as err:
                response = _error(err)
            except Exception:
                log.exception("internal error in %s", request.url.path)
                response = _error(InternalError("internal error"))
            if key is not None and limiter is not None:  # authenticated: the request pays
                owner = Owner(key.tenant_id, None, f"api:{key.id}")
                limiter.spend(bucket, limiter.default, owner)
            return response

        async def call(request: Request) -> Response:
            if request.method not in _READ:
                return _not_allowed(request)
            return await run_in_threadpool(run, request)

        return call

    def employees(conn: Connection, tenant_id: int, request: Request) -> Any:
        q = request.query_params
        try:
            items, cursor = read_api.list_employees(
                conn,
                tenant_id,
                status=q.get("status"),
                email=q.get("email"),
                location=q.get("location"),
                source=q.get("source"),
                updated_since=q.get("updated_since"),
                cursor=q.get("cursor"),
                limit=_limit(request),
            )
        except UnknownLocation as err:
            # A filter value, not the resource asked for: 400, pointing at this API.
            raise InvalidValue(
                f"unknown location {err.name!r}; list them at GET /api/v1/locations"
            ) from None
        return _page(items, cursor)

    def employee(conn: Connection, tenant_id: int, request: Request) -> Any:
        return read_api.get_employee(conn, tenant_id, request.path_params["employee_id"])

    def groups(conn: Connection, tenant_id: int, request: Request) -> Any:
        items, cursor = read_api.list_groups(
            conn, tenant_id, cursor=request.query_params.get("cursor"), limit=_limit(request)
        )
        return _page(items, cursor)

    def locations(conn: Connection, tenant_id: int, request: Request) -> Any:
        return {"items": read_api.list_locations(conn, tenant_id)}

    def events(conn: Connection, tenant_id: int, request: Request) -> Any:
        q = request.query_params
        got = feed.page(
            conn,
            tenant_id,
            after=q.get("after"),
            limit=_limit(request),
            types=feed.parse_types(q.get("types")),
            retention_days=events_retention_days,
        )
        return _page(got.items, got.next_cursor)

    async def openapi(request: Request) -> Response:
        if request.method not in _READ:
            return _not_allowed(request)
        return JSONResponse(document(str(request.base_url).rstrip("/")))

    async def unknown(request: Request) -> Response:
        return _error(
            NotFound(
                f"no such endpoint: {request.url.path}; the API is described at "
                "GET /api/v1/openapi.json"
            )
        )

    return [
        Route("/openapi.json", openapi, methods=_METHODS),
        Route("/employees", endpoint(employees, EMPLOYEE_PARAMS), methods=_METHODS),
        Route("/employees/{employee_id}", endpoint(employee), methods=_METHODS),
        Route("/groups", endpoint(groups, PAGE_PARAMS), methods=_METHODS),
        Route("/locations", endpoint(locations), methods=_METHODS),
        Route("/events", endpoint(events, EVENT_PARAMS), methods=_METHODS),
        Route("/{rest:path}", unknown, methods=_METHODS),
    ]
