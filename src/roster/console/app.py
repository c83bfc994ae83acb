"""The admin console as its own Starlette app, mounted at /admin by http/app.py.

Its own exception handlers answer in HTML (the SCIM routes answer in SCIM errors), and
every response carries headers that keep it out of frames and caches and keep its links
(setup and set-password tokens are in URLs) out of Referer headers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

import httpx
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from roster.console import (
    auth_views,
    connection_views,
    directory_views,
    job_views,
    location_views,
    log_views,
    mail_views,
    manual_views,
    role_views,
    rule_views,
    webhook_views,
)
from roster.console.web import Console, Redirect, Refused, redirect, utcnow
from roster.errors import RosterError
from roster.settings import Settings

log = logging.getLogger("roster.console")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class _Headers(BaseHTTPMiddleware):
    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/admin/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
            response.headers.setdefault("Vary", "HX-Request")  # fragments and pages differ
        return response


def build(
    settings: Settings,
    engine: Engine,
    *,
    clock: Callable[[], datetime] = utcnow,
    webhook_client: httpx.Client | None = None,
) -> Starlette:
    console = Console(settings, engine, clock)
    if webhook_client is not None:
        console.webhook_client = webhook_client

    async def on_redirect(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Redirect)
        return redirect(exc.url)

    def page(request: Request, status: int, message: str) -> Response:
        heading = {403: "Not allowed", 404: "Not found", 429: "Too many attempts"}.get(
            status, "Refused" if status < 500 else "Something went wrong"
        )
        return console.render(
            request, "message.html", status, title=heading, heading=heading, message=message
        )

    async def on_refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        return page(request, exc.status, exc.message)

    async def on_roster_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RosterError)
        return page(request, exc.status, exc.detail)

    async def on_http(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        return page(request, status, "No such page." if status == 404 else "Not allowed here.")

    async def on_crash(request: Request, exc: Exception) -> Response:
        log.error("console error on %s", request.url.path, exc_info=exc)
        return page(request, 500, "Internal error; the server log has the details.")

    routes = [
        *auth_views.routes(console),
        *connection_views.routes(console),
        # Before the employee page: /employees/new and /employees/import are no ids.
        *manual_views.routes(console),
        *directory_views.routes(console),
        *location_views.routes(console),
        *role_views.routes(console),
        *mail_views.routes(console),
        *webhook_views.routes(console),
        *rule_views.routes(console),
        *job_views.routes(console),
        *log_views.routes(console),
        Mount("/static", app=StaticFiles(packages=[("roster.console", "static")]), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(_Headers)],
        exception_handlers={
            Redirect: on_redirect,
            Refused: on_refused,
            RosterError: on_roster_error,
            HTTPException: on_http,
            Exception: on_crash,
        },
    )
    app.state.console = console
    return app
