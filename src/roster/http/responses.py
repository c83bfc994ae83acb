"""SCIM responses: ``application/scim+json`` bodies and the RFC 7644 §3.12 error shape."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from roster.errors import NotModified, RosterError
from roster.scim.schema import ERROR

SCIM_MEDIA_TYPE = "application/scim+json"


def scim_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type=SCIM_MEDIA_TYPE
    )


def error_body(status: int, detail: str, scim_type: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [ERROR], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return body


def error_response(err: RosterError, headers: dict[str, str] | None = None) -> Response:
    if isinstance(err, NotModified):
        return Response(status_code=304, headers={**(headers or {}), "ETag": err.etag})
    extra = dict(headers or {})
    if err.status == 401:
        # RFC 6750 §3: name the scheme; error="invalid_token" only when a token was sent.
        sent = getattr(err, "token_sent", True)
        extra["WWW-Authenticate"] = (
            'Bearer realm="roster", error="invalid_token"' if sent else 'Bearer realm="roster"'
        )
    return scim_json(error_body(err.status, err.detail, err.scim_type), err.status, extra)
