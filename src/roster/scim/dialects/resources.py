"""Normalisers for resource bodies (POST, PUT, and path-less PATCH values)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from roster.errors import InvalidValue
from roster.scim.dialects.profiles import Profile
from roster.scim.schema import ENTERPRISE_USER, Attribute, ResourceType


def booleans(attr: Attribute, value: Any) -> Any:
    """[ENTRA-KI]: without aadOptscim062020 Entra sends "True"/"False" for booleans."""
    if attr.type == "boolean" and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if attr.type == "complex":
        if attr.multi_valued and isinstance(value, list):
            return [_complex_booleans(attr, v) for v in value]
        return _complex_booleans(attr, value)
    return value


def _complex_booleans(attr: Attribute, value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    out = {}
    for key, sub_value in value.items():
        sub = attr.sub(key)
        out[key] = booleans(sub, sub_value) if sub is not None else sub_value
    return out


def manager_object(value: Any) -> Any:
    """[ISSUES] SCIM-SDK #686: Entra sends the manager as a bare id string; [ENTRA-TUT]
    Example 5 as a one-element list of {"$ref", "value"}. RFC 7643 §4.3 wants an object."""
    if isinstance(value, str) and value.strip():
        return {"value": value}
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        inner = member_value(value[0])
        if not isinstance(inner, str) or not inner.strip():
            # Unwrapped, a {"$ref"} alone would merge into the old manager and change
            # nothing while the IdP believes it set one.
            raise InvalidValue("manager: the list element needs a value (the manager's id)")
        return value[0]
    return value  # anything else is left for the core to refuse


def is_manager(attr: Attribute, schema_id: str) -> bool:
    return schema_id == ENTERPRISE_USER and attr.name == "manager"


def _attributes(
    profile: Profile, rt: ResourceType, schema_id: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    schema = next(s for s in rt.schemas() if s.id == schema_id)
    out: dict[str, Any] = {}
    for key, given in body.items():
        value, attr = given, schema.attribute(key)
        if attr is not None:
            if profile.on("boolean_strings"):
                value = booleans(attr, value)
            if profile.on("manager_shapes") and is_manager(attr, schema_id):
                value = manager_object(value)
        out[key] = value
    return out


def normalise_resource(profile: Profile, rt: ResourceType, body: Any) -> Any:
    """A POST or PUT body (or a path-less PATCH value) in the profile's dialect -> RFC form."""
    if not isinstance(body, dict):
        return body
    out = _attributes(profile, rt, rt.schema.id, body)
    for ext, _ in rt.extensions:
        for key, value in body.items():
            if key.lower() == ext.id.lower() and isinstance(value, dict):
                out[key] = _attributes(profile, rt, ext.id, value)
    schemas = out.get("schemas")
    if profile.on("foreign_schema_uris") and isinstance(schemas, list):
        out["schemas"] = _known_schemas(rt, schemas, body)
    return out


def _known_schemas(rt: ResourceType, schemas: list[Any], body: Mapping[str, Any]) -> list[Any]:
    """[ENTRA-TUT]: Entra adds Microsoft's ADSCIM Group URI (and, in Example 2, a misspelt
    enterprise URI) to ``schemas`` without any data under them; drop such URIs."""
    published = {s.id.lower() for s in rt.schemas()}
    used = {k.lower() for k in body}
    return [s for s in schemas if not isinstance(s, str) or s.lower() in published | used]


def member_value(item: Any) -> Any:
    if isinstance(item, dict):
        # RFC 7643 §2.1: sub-attribute names are case-insensitive ("Value" is "value").
        return {str(k).lower(): v for k, v in item.items()}.get("value")
    return item
