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


def _documented(response: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in response:
        response = DOC["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    return response


def check_response(path_template: str, status: int, body: Any) -> None:
    """Assert ``status`` is documented for GET ``path_template`` and ``body`` conforms to
    the response documented for it."""
    operation = DOC["paths"][path_template]["get"]
    assert str(status) in operation["responses"], f"{status} undocumented for {path_template}"
    response = _documented(operation["responses"][str(status)])
    schema = response["content"]["application/json"]["schema"]
    problems = errors(body, schema)
    assert problems == [], problems


# What the document says of every path and method, rather than of one operation.
_ANYWHERE = {404: "NotFound", 405: "MethodNotAllowed", 500: "InternalError"}


def check_http(path_template: str | None, status: int, content_type: str, body: Any) -> None:
    """Check a whole answer of the API: its media type, and its body against the response
    documented for its status — for GET ``path_template``, or (``None``: an unknown path,
    or a method no operation has) against the answers the document gives every path."""
    assert content_type.split(";", maxsplit=1)[0].strip() == "application/json", content_type
    if path_template is not None and (
        status not in _ANYWHERE or str(status) in DOC["paths"][path_template]["get"]["responses"]
    ):
        check_response(path_template, status, body)
        return
    response = DOC["components"]["responses"][_ANYWHERE[status]]
    problems = errors(body, response["content"]["application/json"]["schema"])
    assert problems == [], problems
