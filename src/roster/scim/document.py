"""Resource documents: validation of what clients send, and projection of what we return.

A stored document uses canonical attribute names (RFC 7643 §2.1: names are
case-insensitive), core attributes at the top, each extension's attributes under its URN.
``id``, ``meta`` and ``schemas`` are not stored in it; storage renders them.
"""

from __future__ import annotations

import re
from typing import Any

from roster.errors import InvalidSyntax, InvalidValue
from roster.scim.filter import Filter, element_matches, parse_datetime, parse_value_filter
from roster.scim.paths import resolve
from roster.scim.schema import Attribute, ResourceType, Schema, common_attribute

Doc = dict[str, Any]

# RFC 7643 §3.1 common attributes: the server owns them; clients sending them back
# (Okta PUTs the whole object as read) are ignored, as §2.2 says of readOnly values.
_SERVER_OWNED = frozenset({"id", "meta", "schemas"})


def _check_value(attr: Attribute, value: Any, where: str) -> Any:  # noqa: C901 (one branch per RFC 7643 §2.3 attribute type)
    t = attr.type
    if t == "complex":
        if not isinstance(value, dict):
            raise InvalidValue(f"{where} must be an object")
        out: Doc = {}
        for key, sub_value in value.items():
            sub = attr.sub(key)
            # RFC 7643 §2.2: readOnly values a client sends are ignored.
            if sub is None or sub_value is None or sub.mutability == "readOnly":
                continue
            out[sub.name] = _check_value(sub, sub_value, f"{where}.{sub.name}")
        return out
    if t == "boolean":
        if not isinstance(value, bool):
            raise InvalidValue(f"{where} must be true or false, got {value!r}")
        return value
    if t == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidValue(f"{where} must be an integer, got {value!r}")
        return value
    if t == "decimal":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidValue(f"{where} must be a number, got {value!r}")
        return value
    if not isinstance(value, str):
        raise InvalidValue(f"{where} must be a string, got {value!r}")
    if t == "dateTime":
        try:
            parse_datetime(value)
        except ValueError as exc:
            raise InvalidValue(f"{where} must be an xsd:dateTime, got {value!r}") from exc
    return value


def check_attribute(attr: Attribute, value: Any, where: str) -> Any:
    """Validate one attribute value; returns the canonical value or None when unassigned."""
    if value is None:
        return None
    if attr.multi_valued:
        if not isinstance(value, list):
            raise InvalidValue(f"{where} is multi-valued: send a JSON array")
        items = [
            _check_value(attr, v, f"{where}[{i}]") for i, v in enumerate(value) if v is not None
        ]
        items = [i for i in items if i not in ({}, "")]
        if attr.type == "complex" and sum(1 for i in items if i.get("primary") is True) > 1:
            # RFC 7643 §2.4: the primary value "true" MUST appear no more than once.
            raise InvalidValue(f"{where}: at most one value may be primary")
        return items or None
    checked = _check_value(attr, value, where)
    return None if checked in ({}, "") and attr.type == "complex" else checked


def _normalise_attrs(schema: Schema, body: dict[str, Any], out: Doc, prefix: str) -> None:
    for key, value in body.items():
        attr = schema.attribute(key)
        if attr is None or attr.mutability == "readOnly":
            continue
        checked = check_attribute(attr, value, f"{prefix}{attr.name}")
        if checked is not None:
            out[attr.name] = checked


def normalise(rt: ResourceType, body: Any) -> Doc:  # noqa: C901 (RFC 7643 §2 rules applied in one pass over the body)
    """Validate a POST/PUT body into a canonical stored document (password dropped later)."""
    if not isinstance(body, dict):
        raise InvalidSyntax("the request body must be a JSON object")
    declared = body.get("schemas", [])
    if not isinstance(declared, list) or not all(isinstance(s, str) for s in declared):
        raise InvalidSyntax("schemas must be an array of schema URNs")
    _check_declared(rt, declared, body)
    doc: Doc = {}
    core_body: dict[str, Any] = {}
    for key, value in body.items():
        low = key.lower()
        if low in _SERVER_OWNED:
            continue
        if low == "externalid":
            if value is not None:
                if not isinstance(value, str):
                    raise InvalidValue("externalId must be a string")
                doc["externalId"] = value
            continue
        if low.startswith("urn:"):
            ext = rt.extension(key)
            if ext is not None:
                if value is None:
                    continue
                if not isinstance(value, dict):
                    raise InvalidValue(f"{ext.id} must be an object")
                sub: Doc = {}
                _normalise_attrs(ext, value, sub, f"{ext.id}:")
                if sub:
                    doc[ext.id] = sub
            elif low.startswith(rt.schema.id.lower() + ":"):
                core_body[key[len(rt.schema.id) + 1 :]] = value
            elif value is not None:
                # Extension data under a schema we do not publish is kept as sent.
                doc[key] = value
            continue
        core_body[key] = value
    _normalise_attrs(rt.schema, core_body, doc, "")
    for attr in rt.schema.attributes:
        if attr.required and attr.name not in doc:
            raise InvalidValue(f"{attr.name} is required")
    return doc


def _check_declared(rt: ResourceType, declared: list[str], body: dict[str, Any]) -> None:
    """RFC 7643 §3: ``schemas`` names the schemas the body's attributes come from. A URI we
    do not publish is accepted only where the body carries data under it (an extension we
    keep as sent); anything else is a mistake worth telling the client about."""
    published = {s.id.lower() for s in rt.schemas()}
    used = {k.lower() for k in body}
    for uri in declared:
        if uri.lower() not in published and uri.lower() not in used:
            raise InvalidValue(
                f"schemas lists {uri!r}, which is not a schema of {rt.name} here (published: "
                f"{', '.join(s.id for s in rt.schemas())}) and has no data in the body"
            )


def schemas_of(rt: ResourceType, doc: Doc) -> list[str]:
    """The ``schemas`` list of a rendered resource: core first, then extensions present."""
    out = [rt.schema.id]
    out.extend(k for k in doc if k.lower().startswith("urn:") and isinstance(doc[k], dict))
    return out


# ---- projection (RFC 7644 §3.4.2.5, §3.9) -------------------------------------------


_VALUE_FILTER = re.compile(r"^(?P<head>[^\[\]]+)\[(?P<where>.*)\](?P<sub>\.[^\[\]]+)?$", re.S)


def value_filters(rt: ResourceType, names: list[str]) -> dict[str, Filter]:
    """``attributes=emails[type eq "work"]``: the elements a named core multi-valued
    attribute is cut down to. RFC 7644 §3.4.2.5 names attributes only; Microsoft's SCIM
    reference collection sends value filters there, and filtering the elements is what its
    reference server does. A malformed one is a 400 invalidValue naming it."""
    out: dict[str, Filter] = {}
    for raw in names:
        m = _VALUE_FILTER.match(raw.strip())
        if m is None:
            continue
        parent = resolve(rt, m["head"], InvalidValue)
        if not parent.core or not parent.attribute.multi_valued:
            raise InvalidValue(
                f"attributes: {raw.strip()!r}: a value filter applies to a multi-valued "
                "core attribute only"
            )
        out[parent.attribute.name] = parse_value_filter(rt, parent, m["where"], InvalidValue)
    return out


def _without_filter(name: str) -> str:
    m = _VALUE_FILTER.match(name)
    return (m["head"] + (m["sub"] or "")) if m else name


def _requested(rt: ResourceType, names: list[str]) -> dict[str, set[str] | None]:
    """Map top-level keys to the sub-attributes named (None: the whole attribute).

    Keys are canonical: core attribute names, ``URN`` for a whole extension, and
    ``URN:attr`` for one attribute of an extension. A value filter (``emails[type eq
    "work"]``) names its attribute here; ``value_filters`` gives the filter.
    """
    out: dict[str, set[str] | None] = {}
    for raw in names:
        name = _without_filter(raw.strip())
        extension = rt.extension(name)
        if extension is not None:
            out[extension.id] = None
            continue
        container = ""
        for schema in rt.schemas():
            if name.lower().startswith(schema.id.lower() + ":"):
                container = "" if schema is rt.schema else schema.id
                name = name[len(schema.id) + 1 :]
                break
        head, _, sub = name.partition(".")
        owner = rt.extension(container) if container else rt.schema
        attr = owner.attribute(head) if owner is not None else None
        if attr is None and not container:
            attr = common_attribute(head)
        if not head:
            continue
        key = (f"{container}:" if container else "") + (attr.name if attr else head)
        sub_attr = attr.sub(sub) if attr is not None and sub else None
        if sub and (key not in out or out[key] is not None):
            subs = out.get(key) or set()
            subs.add(sub_attr.name if sub_attr else sub)
            out[key] = subs
        else:
            out[key] = None
    return out


def wants(rt: ResourceType, attribute: str, attributes: list[str], excluded: list[str]) -> bool:
    """Whether a response needs ``attribute`` (lets storage skip loading group members)."""
    if attributes:
        return attribute in _requested(rt, attributes)
    return _requested(rt, excluded).get(attribute, {"x"}) is not None


def project(rt: ResourceType, full: Doc, attributes: list[str], excluded: list[str]) -> Doc:  # noqa: C901 (RFC 7644 §3.4.2.5 attributes/excludedAttributes with returned rules, one pass)
    """Apply ``attributes``/``excludedAttributes`` and ``returned`` to a rendered resource."""
    always = {"id", "schemas"}
    never_or_request = {a.name for a in rt.schema.attributes if a.returned in ("never", "request")}
    never = {a.name for a in rt.schema.attributes if a.returned == "never"}
    if attributes:
        req = _requested(rt, attributes)
        wheres = value_filters(rt, attributes) if "[" in "".join(attributes) else {}
        out: Doc = {}
        for key, value in full.items():
            if key in never:
                continue  # RFC 7643 §2.2 returned "never": not even when asked for
            if key in always:
                out[key] = value
                continue
            if ":" in key and key.lower().startswith("urn:") and isinstance(value, dict):
                # An extension: the whole of it, or the attributes of it that were named.
                if key in req:
                    out[key] = value
                    continue
                picked: Doc = {}
                for attr_name, attr_value in value.items():
                    spec_key = f"{key}:{attr_name}"
                    if spec_key in req:
                        picked[attr_name] = _pick(attr_value, req[spec_key])
                if picked:
                    out[key] = picked
                continue
            if key in req:
                kept = value
                if key in wheres and isinstance(value, list):
                    kept = [el for el in value if element_matches(wheres[key], el)]
                out[key] = _pick(kept, req[key])
        return out
    exc = _requested(rt, excluded)
    out = {}
    for key, value in full.items():
        if key in never_or_request and key not in always:
            continue
        if key in always or key not in exc:
            if ":" in key and isinstance(value, dict):
                kept = {k: v for k, v in value.items() if exc.get(f"{key}:{k}", {"x"}) is not None}
                if kept:
                    out[key] = kept
                continue
            out[key] = value
            continue
        subs = exc[key]
        if subs is not None:
            out[key] = _drop(value, subs)
    return out


def _pick(value: Any, subs: set[str] | None) -> Any:
    if subs is None:
        return value
    if isinstance(value, list):
        return [{k: v for k, v in el.items() if k in subs} for el in value if isinstance(el, dict)]
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k in subs}
    return value


def _drop(value: Any, subs: set[str]) -> Any:
    if isinstance(value, list):
        return [
            {k: v for k, v in el.items() if k not in subs} for el in value if isinstance(el, dict)
        ]
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in subs}
    return value
