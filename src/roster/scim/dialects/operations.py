"""Normalisers for PatchOp bodies, and the element a value filter describes (for the
core's PatchOptions)."""

from __future__ import annotations

import json
import re
from typing import Any

from roster.errors import InvalidSyntax, InvalidValue, RosterError
from roster.scim.dialects.profiles import Profile
from roster.scim.dialects.resources import (
    booleans,
    is_manager,
    manager_object,
    member_value,
    normalise_resource,
)
from roster.scim.filter import And, Compare, Filter
from roster.scim.paths import split_urn
from roster.scim.schema import ENTERPRISE_USER, PATCH_OP, Attribute, ResourceType

_REMOVE_CHUNK = 50  # value-filter comparisons per rewritten remove (filters cap at 100)


def normalise_patch(profile: Profile, rt: ResourceType, body: Any, resource_id: str) -> Any:
    """A PatchOp in the profile's dialect -> the RFC 7644 §3.5.2 form the core accepts."""
    if not isinstance(body, dict):
        return body
    if profile.on("op_case"):
        body = _fold(body, ("operations",), "the PATCH body")
        body = {("Operations" if k == "operations" else k): v for k, v in body.items()}
    schemas = body.get("schemas")
    if isinstance(schemas, list) and profile.on("foreign_schema_uris"):
        body = {**body, "schemas": [s for s in schemas if s == PATCH_OP] or schemas}
    ops = body.get("Operations")
    if not isinstance(ops, list):
        return body
    out: list[Any] = []
    for index, raw in enumerate(ops):
        if not isinstance(raw, dict):
            out.append(raw)
            continue
        op = dict(raw)
        if profile.on("op_case"):
            op = _fold(op, ("op", "path", "value"), f"Operations[{index}]")
            if isinstance(op.get("op"), str):
                op["op"] = op["op"].lower()
        out.extend(_operation(profile, rt, op, resource_id))
    return {**body, "Operations": out}


def _fold(obj: dict[str, Any], names: tuple[str, ...], where: str) -> dict[str, Any]:
    """Lower-case the member names in ``names``; two spellings of one name are ambiguous."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        low = key.lower()
        folded = low if low in names else key
        if folded in out:
            raise InvalidSyntax(f"{where} has {low!r} more than once (in different letter cases)")
        out[folded] = value
    return out


def _operation(  # noqa: C901 (one branch per named IdP quirk, each citing its source)
    profile: Profile, rt: ResourceType, op: dict[str, Any], resource_id: str
) -> list[dict[str, Any]]:
    path, value, name = op.get("path"), op.get("value"), op.get("op")
    if path is None and isinstance(value, dict) and name in ("add", "replace"):
        value = dict(value)
        if profile.on("echoed_read_only"):
            # [OKTA-REF]: Okta's group rename sends {"id": <the group's id>, "displayName": …}.
            for key in list(value):
                low = key.lower()
                if low in ("schemas", "meta") or (low == "id" and value[key] == resource_id):
                    del value[key]
        split: list[dict[str, Any]] = []
        if profile.on("dotted_value_keys"):
            split = _split_dotted(rt, name, value)
        rest = normalise_resource(profile, rt, value)
        ops = [{**op, "value": rest}] if rest or not split else []
        return ops + [x for s in split for x in _operation(profile, rt, s, resource_id)]
    if not isinstance(path, str):
        return [op]
    if profile.on("manager_shapes") and path.strip().lower() in ("manager", "manager.value"):
        # [ENTRA-TUT] Example 5 names the enterprise attribute without its URN.
        path = f"{ENTERPRISE_USER}:{path.strip()}"
        op["path"] = path
    attr, sub, schema_id = _target(rt, path)
    if attr is None:
        return [op]
    listed = attr.multi_valued and sub is None and "[" not in path
    members = listed and rt.name == "Group" and attr.name == "members"
    if members and name in ("add", "replace") and profile.on("member_shapes"):
        op["value"] = value = _member_objects(value)
    if name == "remove" and value is not None and listed and profile.on("member_remove_values"):
        return _remove_listed(op, path, value)
    if "value" in op and name in ("add", "replace"):
        leaf = sub or attr
        if profile.on("boolean_strings"):
            value = booleans(leaf, value)
        if profile.on("manager_shapes") and sub is None and is_manager(attr, schema_id):
            value = manager_object(value)
        op["value"] = value
    return [op]


def _member_objects(value: Any) -> Any:
    """[ENTRA-REF] ``"value": "string id 1"`` (or a list of such strings) -> member
    objects, and ``{"displayName": …}`` -> ``{"display": …}`` (the reference server keeps
    and returns it); anything else is left for the core to judge."""
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str | dict) for v in items):
        return value
    return [{"value": v} if isinstance(v, str) else _display_named(v) for v in items]


def _display_named(member: dict[str, Any]) -> dict[str, Any]:
    keys = {k.lower(): k for k in member}
    if "display" in keys or "displayname" not in keys:
        return member
    out = {k: v for k, v in member.items() if k != keys["displayname"]}
    out["display"] = member[keys["displayname"]]
    return out


def _target(rt: ResourceType, path: str) -> tuple[Attribute | None, Attribute | None, str]:
    """The attribute (and sub-attribute) a simple or value-filtered path names, if any."""
    head = re.sub(r"\[.*\]", "", path.strip())
    try:
        schema, _, rest = split_urn(rt, head)
    except RosterError:  # an invalid path is the core's to report, with its own message
        return None, None, ""
    name, _, sub_name = rest.partition(".")
    attr = schema.attribute(name)
    if attr is None:
        return None, None, schema.id
    return attr, (attr.sub(sub_name) if sub_name else None), schema.id


def _remove_listed(op: dict[str, Any], path: str, value: Any) -> list[dict[str, Any]]:
    """[ENTRA-TUT]/[ENTRA-KI]: ``{"op":"Remove","path":"members","value":[{"value":"u1"}]}``
    means remove u1 — never the whole list (segment-docs PR #6726 shows servers that did).
    Rewritten as value-filter removes, which RFC 7644 §3.5.2.2 defines."""
    items = value if isinstance(value, list) else [value]
    ids: list[str] = []
    for i, item in enumerate(items):
        v = member_value(item)
        if not isinstance(v, str) or not v:
            raise InvalidValue(
                f"remove {path}: value[{i}] must be an object with a string value naming the "
                "element to remove (nothing was removed)"
            )
        ids.append(v)
    if not ids:
        raise InvalidValue(f"remove {path}: the value list is empty, so nothing would be removed")
    out = []
    for start in range(0, len(ids), _REMOVE_CHUNK):
        chunk = ids[start : start + _REMOVE_CHUNK]
        where = " or ".join(f"value eq {json.dumps(v)}" for v in chunk)
        out.append({"op": "remove", "path": f"{path.strip()}[{where}]"})
    return out


def _split_dotted(rt: ResourceType, name: str, value: dict[str, Any]) -> list[dict[str, Any]]:
    """[ENTRA-KI] (aadOptscim062020): ``{"name.givenName": …, "urn:…:User:employeeNumber": …}``
    inside a path-less value; each such key becomes its own operation with that path."""
    split = []
    extension_ids = {e.id.lower() for e, _ in rt.extensions}
    for key in list(value):
        low = key.lower()
        if low in extension_ids:
            continue  # a whole extension object is RFC form
        if "." in key or (low.startswith("urn:") and low not in extension_ids):
            split.append({"op": name, "path": key, "value": value.pop(key)})
    return split


# ---- PATCH value-filter upsert (used by the core through PatchOptions) ------------------


def element_from_filter(
    where: Filter, attr: Attribute, current: list[Any]
) -> dict[str, Any] | None:
    """[ENTRA-TUT]: replacing ``emails[type eq "work"].value`` on a user with no work email
    creates ``{"type": "work", "value": …}``. Only filters made of ``eq`` tests on
    sub-attributes describe an element; anything else stays a 400 noTarget.

    Entra creates users with that mapped email as ``"primary": true``; one added later
    through the same mapping takes the same role when no other value is primary.
    """
    made = _eq_element(where)
    if made is None:
        return None
    primary_taken = any(isinstance(v, dict) and v.get("primary") is True for v in current)
    if attr.sub("primary") is not None and "primary" not in made and not primary_taken:
        made["primary"] = True
    return made


def _eq_element(where: Filter) -> dict[str, Any] | None:
    match where:
        case Compare(ref, "eq", value) if ref.sub is not None and value is not None:
            return {ref.sub.name: value}
        case And(left, right):
            a, b = _eq_element(left), _eq_element(right)
            if a is None or b is None or set(a) & set(b):
                return None
            return {**a, **b}
    return None
