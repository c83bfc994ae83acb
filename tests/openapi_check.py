"""A small validator for the JSON Schema subset the read API's OpenAPI document uses
(type, enum, required, properties, items, anyOf, $ref), so every test response of the
read API is checked against the documented contract."""

from __future__ import annotations

from typing import Any

from roster.http.openapi import document

DOC = document("http://testserver")
_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "boolean": bool,
    "null": type(None),
}


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = DOC["components"]["schemas"][name]
    return schema


def errors(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    schema = _resolve(schema)
    if "anyOf" in schema:
        if any(not errors(value, s, where) for s in schema["anyOf"]):
            return []
        return [f"{where}: {value!r} matches none of anyOf"]
    out: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{where}: {value!r} not in {schema['enum']}")
    kind = schema.get("type")
    if kind is not None:
        expected = _TYPES[kind]
        if not isinstance(value, expected) or (kind == "integer" and isinstance(value, bool)):
            return [*out, f"{where}: {value!r} is not {kind}"]
    if isinstance(value, dict):
        out += [f"{where}: missing {k}" for k in schema.get("required", []) if k not in value]
        props = schema.get("properties", {})
        for key, sub in value.items():
            if key in props:
                out += errors(sub, props[key], f"{where}.{key}")
            elif kind == "object" and props and schema.get("additionalProperties") is False:
                out.append(f"{where}: unexpected {key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            out += errors(item, schema["items"], f"{where}[{i}]")
    return out


def check_response(path_template: str, status: int, body: Any) -> None:
    """Assert ``body`` conforms to the documented response of GET ``path_template``."""
    operation = DOC["paths"][path_template]["get"]
    response = operation["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    problems = errors(body, schema)
    assert problems == [], problems
