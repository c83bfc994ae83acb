"""The host application's read API: ``/api/v1`` (employees, groups, locations).

Authenticated by a tenant API key (``roster apikey create``), never by a SCIM token.
Plain JSON; errors are ``{"error": {"status", "detail"}}``. Described by the OpenAPI
document at ``/api/v1/openapi.json`` (http/openapi.py).
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

from roster.directory import apikeys, queries
from roster.errors import InvalidValue, NotFound, RosterError
from roster.http.openapi import document

log = logging.getLogger("roster.http.api")

MAX_LIMIT = 1000


def _error(status: int, detail: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="roster-api"'} if status == 401 else None
    return JSONResponse({"error": {"status": status, "detail": detail}}, status, headers)


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidValue(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


def _page(items: list[dict[str, Any]], cursor: str | None) -> dict[str, Any]:
    return {"items": items, "nextCursor": cursor}


def routes(engine: Engine) -> list[Route]:
    def endpoint(
        handler: Callable[[Connection, int, Request], Any],
    ) -> Callable[[Request], Any]:
        def run(request: Request) -> Response:
            try:
                with engine.begin() as conn:
                    key = apikeys.authenticate(conn, request.headers.get("authorization"))
                    return JSONResponse(handler(conn, key.tenant_id, request))
            except RosterError as err:
                return _error(err.status, err.detail)
            except Exception:
                log.exception("internal error in %s", request.url.path)
                return _error(500, "internal error")

        async def call(request: Request) -> Response:
            return await run_in_threadpool(run, request)

        return call

    def employees(conn: Connection, tenant_id: int, request: Request) -> Any:
        q = request.query_params
        items, cursor = queries.list_employees(
            conn,
            tenant_id,
            status=q.get("status"),
            location=q.get("location"),
            source=q.get("source"),
            updated_since=q.get("updated_since"),
            cursor=q.get("cursor"),
            limit=_limit(request),
        )
        return _page(items, cursor)

    def employee(conn: Connection, tenant_id: int, request: Request) -> Any:
        return queries.get_employee(conn, tenant_id, request.path_params["employee_id"])

    def groups(conn: Connection, tenant_id: int, request: Request) -> Any:
        items, cursor = queries.list_groups(
            conn, tenant_id, cursor=request.query_params.get("cursor"), limit=_limit(request)
        )
        return _page(items, cursor)

    def locations(conn: Connection, tenant_id: int, request: Request) -> Any:
        return {"items": queries.list_locations(conn, tenant_id)}

    async def openapi(request: Request) -> Response:
        return JSONResponse(document(str(request.base_url).rstrip("/")))

    async def unknown(request: Request) -> Response:
        return _error(404, NotFound(f"no such endpoint: {request.url.path}").detail)

    return [
        Route("/openapi.json", openapi),
        Route("/employees", endpoint(employees)),
        Route("/employees/{employee_id}", endpoint(employee)),
        Route("/groups", endpoint(groups)),
        Route("/locations", endpoint(locations)),
        Route("/{rest:path}", unknown),
    ]
