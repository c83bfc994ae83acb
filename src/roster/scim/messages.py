"""RFC 7644 message bodies the protocol defines: the error (§3.12) and the ListResponse
(§3.4.2). Every surface that answers SCIM builds them here, and only here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from roster.scim.schema import ERROR, LIST_RESPONSE


def error_body(status: int, detail: str, scim_type: str | None = None) -> dict[str, Any]:
    """RFC 7644 §3.12: ``status`` is a string; ``scimType`` only for a 400 or 409 kind."""
    body: dict[str, Any] = {"schemas": [ERROR], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return body


def list_response(
    resources: Sequence[Any], *, total: int | None = None, start_index: int = 1
) -> dict[str, Any]:
    """RFC 7644 §3.4.2: ``totalResults`` (all matches; the page's length by default),
    ``startIndex`` (1-based) and ``itemsPerPage`` (this page's length)."""
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": len(resources) if total is None else total,
        "startIndex": start_index,
        "itemsPerPage": len(resources),
        "Resources": list(resources),
    }
