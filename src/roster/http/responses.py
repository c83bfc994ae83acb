"""SCIM responses: ``application/scim+json`` bodies and the RFC 7644 §3.12 error shape."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from roster.errors import RosterError
from roster.provisioning.dispatch import Reply
from roster.provisioning.service import error_reply

SCIM_MEDIA_TYPE = "application/scim+json"


def scim_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type=SCIM_MEDIA_TYPE
    )


def render(reply: Reply) -> Response:
    """A SCIM reply as Starlette's response: no body for 204 and 304."""
    if reply.status in (204, 304):
        return Response(status_code=reply.status, headers=reply.headers)
    return scim_json(reply.body, reply.status, reply.headers)


def error_response(err: RosterError, headers: dict[str, str] | None = None) -> Response:
    return render(error_reply(err, headers))
