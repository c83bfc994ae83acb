"""Flattening a resource document into ``resource_values`` rows (the filter index)."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from roster.scim.filter import parse_datetime
from roster.scim.schema import Attribute, ResourceType, Schema

# Longer strings are indexed by their prefix (a PostgreSQL B-tree entry must stay small).
INDEXED_CHARS = 512


def scalar_columns(attr: Attribute, value: Any) -> tuple[str | None, str | None, float | None]:
    """(v, vl, vn) for one scalar: the exact text, its lower-case form, its number."""
    if isinstance(value, bool):
        text = "true" if value else "false"
        return text, text, None
    if isinstance(value, int | float):
        return str(value), str(value), float(value)
    if not isinstance(value, str):
        return None, None, None
    if attr.type == "dateTime":
        with suppress(ValueError):  # stored as sent if it is no dateTime
            value = parse_datetime(value).isoformat()
    return value[:INDEXED_CHARS], value.lower()[:INDEXED_CHARS], None


def _attribute_rows(
    prefix: str, attr: Attribute, value: Any
) -> list[tuple[str, int, Any, Attribute]]:
    out: list[tuple[str, int, Any, Attribute]] = []
    items = value if attr.multi_valued and isinstance(value, list) else [value]
    for idx, item in enumerate(items):
        if attr.type == "complex":
            if not isinstance(item, dict):
                continue
            for sub_name, sub_value in item.items():
                sub = attr.sub(sub_name)
                if sub is not None and sub_value is not None:
                    out.append((f"{prefix}.{sub.name.lower()}", idx, sub_value, sub))
        elif item is not None:
            out.append((prefix, idx, item, attr))
    return out


def _schema_rows(
    schema: Schema, body: dict[str, Any], prefix: str, skip: frozenset[str]
) -> list[tuple[str, int, Any, Attribute]]:
    rows = []
    for name, value in body.items():
        attr = schema.attribute(name)
        if attr is None or name in skip:
            continue
        rows.extend(_attribute_rows(f"{prefix}{attr.name.lower()}", attr, value))
    return rows


# Attributes with columns of their own in ``resources`` (or rows in ``memberships``).
COLUMN_ATTRIBUTES = frozenset({"userName", "displayName", "members", "groups", "password"})


def flatten(rt: ResourceType, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows (path, idx, v, vl, vn) for every indexed scalar in ``doc``."""
    skip = COLUMN_ATTRIBUTES if rt.name == "Group" else COLUMN_ATTRIBUTES - {"displayName"}
    rows = _schema_rows(rt.schema, doc, "", skip)
    for ext, _ in rt.extensions:
        body = doc.get(ext.id)
        if isinstance(body, dict):
            rows.extend(_schema_rows(ext, body, f"{ext.id.lower()}:", frozenset()))
    out = []
    for path, idx, value, attr in rows:
        v, vl, vn = scalar_columns(attr, value)
        if v is not None:
            out.append({"path": path, "idx": idx, "v": v, "vl": vl, "vn": vn})
    return out
