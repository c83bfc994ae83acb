"""Discovery documents (RFC 7644 §4, RFC 7643 §5-§7)."""

from __future__ import annotations

from typing import Any

from roster.scim.schema import RESOURCE_TYPES, SCHEMAS, SPC


def service_provider_config(
    base_url: str, *, max_results: int, bulk_max_operations: int, bulk_max_payload: int
) -> dict[str, Any]:
    return {
        "schemas": [SPC],
        "documentationUri": "https://github.com/roster-scim/roster#readme",
        "patch": {"supported": True},
        "bulk": {
            "supported": True,
            "maxOperations": bulk_max_operations,
            "maxPayloadSize": bulk_max_payload,
        },
        "filter": {"supported": True, "maxResults": max_results},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "The connection's token in Authorization: Bearer <token>",
                "specUri": "https://www.rfc-editor.org/info/rfc6750",
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base_url}/ServiceProviderConfig",
        },
    }


def resource_types(base_url: str) -> list[dict[str, Any]]:
    return [rt.to_json(base_url) for rt in RESOURCE_TYPES.values()]


def resource_type(base_url: str, name: str) -> dict[str, Any] | None:
    for rt in RESOURCE_TYPES.values():
        if rt.name.lower() == name.lower():
            return rt.to_json(base_url)
    return None


def schemas(base_url: str) -> list[dict[str, Any]]:
    return [s.to_json(base_url) for s in SCHEMAS.values()]


def schema(base_url: str, schema_id: str) -> dict[str, Any] | None:
    for s in SCHEMAS.values():
        if s.id.lower() == schema_id.lower():
            return s.to_json(base_url)
    return None
