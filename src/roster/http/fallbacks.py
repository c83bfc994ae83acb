"""What answers when no route did, or a route crashed: each surface in its own error shape
(SCIM's error body, the read API's ``{"error": …}``), never Starlette's text or a
traceback. The admin console answers its own errors in HTML (console/app.py)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from roster.errors import InternalError, MethodNotAllowed, NotFound
from roster.http import api
from roster.http.responses import error_response, scim_json
from roster.scim.messages import error_body


async def not_found(request: Request, exc: Exception) -> Response:
    """404 and 405 for paths no route (or no method of one) takes."""
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
    # Only what escaped a route's own handling reaches here; Starlette logs the traceback.
    if api.owns(request.url.path):
        return api.error_response(InternalError("internal error"))
    return scim_json(error_body(500, "internal error"), 500)
