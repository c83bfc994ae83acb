"""PATCH (RFC 7644 §3.5.2): PatchOp body -> new document + member changes.

Operations apply in order to a copy of the document; any failure raises and the caller
keeps the original, so a request applies atomically or not at all. Group ``members`` are
not in the document: operations on them become ``MemberChange`` records that storage
applies as row inserts and deletes, so a one-member change costs the same in a group of
ten as in a group of 100,000.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from roster.errors import InvalidPath, InvalidSyntax, InvalidValue, MutabilityViolation, NoTarget
from roster.scim.document import Doc, check_attribute
from roster.scim.filter import Compare, Filter, Or, element_matches, parse_value_filter
from roster.scim.paths import AttrRef, resolve
from roster.scim.schema import PATCH_OP, Attribute, ResourceType


@dataclass(frozen=True)
class Operation:
    op: str  # "add" | "replace" | "remove"
    path: str | None
    value: Any


@dataclass(frozen=True)
class MemberChange:
    """``add`` of listed ids, ``replace`` of the whole list, ``remove_all``, or
    ``remove_where`` with a value filter over member elements."""

    kind: str
    values: tuple[dict[str, Any], ...] = ()
    where: Filter | None = None

    def ids(self) -> list[str]:
        return [str(v["value"]) for v in self.values]


@dataclass(frozen=True)
class PatchOptions:
    """Choices a connection's dialect makes where RFC 7644 says "error" and an IdP relies on
    something else (see scim/dialects/)."""

    # Builds the element a value filter describes, for add/replace when none matches;
    # None keeps RFC 7644 §3.5.2.3's 400 noTarget.
    # (filter, the attribute, its current values) -> the element to add.
    element_from_filter: Callable[[Filter, Attribute, list[Any]], dict[str, Any] | None] | None = (
        None
    )


@dataclass
class PatchResult:
    doc: Doc
    members: list[MemberChange] = field(default_factory=list)
    changed: bool = False


def parse_operations(body: Any) -> list[Operation]:
    """Validate the PatchOp envelope (RFC 7644 §3.5.2)."""
    if not isinstance(body, dict):
        raise InvalidSyntax("the PATCH body must be a JSON object")
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or PATCH_OP not in schemas:
        raise InvalidSyntax(f"a PATCH body must declare the schema {PATCH_OP}")
    ops = body.get("Operations")
    if not isinstance(ops, list) or not ops:
        raise InvalidSyntax("a PATCH body needs a non-empty Operations array")
    out = []
    for i, raw in enumerate(ops):
        if not isinstance(raw, dict):
            raise InvalidSyntax(f"Operations[{i}] must be an object")
        op = raw.get("op")
        if op not in ("add", "replace", "remove"):
            raise InvalidSyntax(f"Operations[{i}].op must be add, replace or remove, got {op!r}")
        path = raw.get("path")
        if path is not None and (not isinstance(path, str) or not path.strip()):
            raise InvalidPath(f"Operations[{i}].path must be a non-empty string")
        if op != "remove" and "value" not in raw:
            raise InvalidSyntax(f"Operations[{i}] ({op}) needs a value")
        out.append(Operation(op, path.strip() if path else None, raw.get("value")))
    return out


@dataclass(frozen=True)
class _Target:
    ref: AttrRef  # attribute, with .sub set when the path names a sub-attribute
    where: Filter | None = None  # value filter on a multi-valued complex attribute
    whole_extension: str | None = None  # path was a bare extension URN


def parse_path(rt: ResourceType, text: str) -> _Target:
    """``attr``, ``attr.sub``, ``attr[filter]``, ``attr[filter].sub``, URN-prefixed forms."""
    bracket = text.find("[")
    if bracket < 0:
        ext = rt.extension(text)
        if ext is not None:
            # The whole extension object, e.g. path "urn:…:enterprise:2.0:User".
            return _Target(AttrRef(ext, ext.attributes[0], None, False), None, ext.id)
        return _Target(resolve(rt, text))
    close = text.rfind("]")
    if close < bracket:
        raise InvalidPath(f"unbalanced brackets in path {text!r}")
    ref = resolve(rt, text[:bracket])
    if ref.sub is not None or not ref.attribute.multi_valued or ref.attribute.type != "complex":
        raise InvalidPath(f"{text[:bracket]!r} is not a multi-valued complex attribute")
    where = parse_value_filter(rt, ref, text[bracket + 1 : close], InvalidPath)
    tail = text[close + 1 :]
    if tail:
        if not tail.startswith(".") or len(tail) < 2:
            raise InvalidPath(f"bad text after the value filter in path {text!r}")
        sub = ref.attribute.sub(tail[1:])
        if sub is None:
            raise InvalidPath(f"unknown sub-attribute {tail[1:]!r} in path {text!r}")
        ref = ref.with_sub(sub)
    return _Target(ref, where)


def _container(doc: Doc, ref: AttrRef, create: bool) -> dict[str, Any] | None:
    if ref.core:
        return doc
    ext = doc.get(ref.schema.id)
    if ext is None and create:
        ext = doc[ref.schema.id] = {}
    return ext if isinstance(ext, dict) else None


def _check_mutability(op: str, ref: AttrRef, current: Any) -> None:
    for attr in (ref.attribute, ref.sub):
        if attr is None:
            continue
        if attr.mutability == "readOnly":
            raise MutabilityViolation(f"{ref.display()} is read-only")
        if attr.mutability == "immutable" and (op != "add" or current is not None):
            raise MutabilityViolation(f"{ref.display()} is immutable once set")


def _primaries(items: Any) -> set[int]:
    return {id(i) for i in items or [] if isinstance(i, dict) and i.get("primary") is True}


def _settle_primary(items: list[Any], before: set[int], where: str) -> None:
    """RFC 7643 §2.4: "primary": true appears at most once; the value just made primary
    wins over the old one, and making several primary in one operation is an error."""
    primaries = [i for i in items if isinstance(i, dict) and i.get("primary") is True]
    if len(primaries) <= 1:
        return
    new = [i for i in primaries if id(i) not in before]
    if len(new) > 1:
        raise InvalidValue(f"{where}: at most one value may be primary")
    keep = new[0] if new else primaries[-1]
    for item in primaries:
        if item is not keep:
            item["primary"] = False


def _apply(  # noqa: C901 (RFC 7644 §3.5.2's add, remove, replace over each path form, read against the RFC)
    rt: ResourceType, doc: Doc, op: str, target: _Target, value: Any, options: PatchOptions
) -> None:
    ref = target.ref
    if target.whole_extension:
        if op == "remove":
            doc.pop(target.whole_extension, None)
            return
        if not isinstance(value, dict):
            raise InvalidValue(f"the value for {target.whole_extension} must be an object")
        for key, v in value.items():
            if key.lower() != "schemas":  # clients serialise the extension model whole
                _apply(rt, doc, op, parse_path(rt, f"{target.whole_extension}:{key}"), v, options)
        return
    attr = ref.attribute
    container = _container(doc, ref, create=op != "remove")
    current = container.get(attr.name) if container is not None else None
    _check_mutability(op, ref, current)
    where = ref.display()

    if op == "remove":
        if container is None or current is None:
            return
        if attr.required and ref.sub is None and target.where is None:
            raise InvalidValue(f"{attr.name} is required and cannot be removed")
        if target.where is None and ref.sub is None:
            if attr.multi_valued and value is not None:
                raise _remove_with_value(where)
            container.pop(attr.name, None)
        elif target.where is None:
            assert ref.sub is not None
            items = current if isinstance(current, list) else [current]
            for el in items:
                if isinstance(el, dict):
                    el.pop(ref.sub.name, None)
            _store(
                container,
                attr.name,
                [e for e in items if e] if attr.multi_valued else (items[0] or None),
            )
        elif ref.sub is None:
            kept = [el for el in current if not element_matches(target.where, el)]
            _store(container, attr.name, kept or None)
        else:
            for el in current:
                if element_matches(target.where, el):
                    el.pop(ref.sub.name, None)
            _store(container, attr.name, [e for e in current if e] or None)
        return

    assert container is not None
    if value is None:
        raise InvalidValue(f"{op} on {where} needs a non-null value (use remove to unassign)")

    before = _primaries(current) if attr.multi_valued else set()
    if target.where is not None:
        matched = [el for el in (current or []) if element_matches(target.where, el)]
        made = None
        if not matched and options.element_from_filter is not None:
            made = options.element_from_filter(target.where, attr, list(current or []))
        if made is not None:
            current = container[attr.name] = [*(current or []), made]
            matched = [made]
        if not matched:
            # RFC 7644 §3.5.2.3: no record matched a value filter -> 400 noTarget.
            raise NoTarget(f"no value of {attr.name} matches the filter in the path")
        for el in matched:
            if ref.sub is not None:
                el[ref.sub.name] = check_attribute(ref.sub, value, where)
            else:
                patch = check_attribute(_single(attr), value, where)
                if op == "replace" and isinstance(patch, dict):
                    el.clear()
                el.update(patch)
        _settle_primary(current or [], before, where)
        return

    if ref.sub is not None:
        sub_value = check_attribute(ref.sub, value, where)
        if attr.multi_valued:
            items = current or []
            if not items:
                raise NoTarget(f"{attr.name} has no values to set {ref.sub.name} on")
            for el in items:
                el[ref.sub.name] = sub_value
            _settle_primary(items, before, where)
        else:
            merged = dict(current or {})
            merged[ref.sub.name] = sub_value
            container[attr.name] = merged
        return

    if attr.multi_valued:
        new = check_attribute(attr, value if isinstance(value, list) else [value], where) or []
        if op == "add":
            items = list(current or [])
            items.extend(v for v in new if not any(_same(v, old) for old in items))
        else:
            items = new
        _settle_primary(items, before, where)
        _store(container, attr.name, items or None)
        return
    checked = check_attribute(attr, value, where)
    if attr.type == "complex" and isinstance(current, dict):
        # §3.5.2.1 / §3.5.2.3: sub-attributes not named in the value stay as they were.
        merged = dict(current)
        merged.update(checked or {})
        checked = merged
    _store(container, attr.name, checked)


def _remove_with_value(where: str) -> InvalidValue:
    """RFC 7644 §3.5.2.2 gives remove no value: ``path: "members"`` alone removes them all.
    A value list says the client meant only those, so guessing either way could empty the
    attribute by mistake; refuse, and say how to name the values (scim/dialects/ rewrites the
    Entra form when the connection's profile allows it)."""
    return InvalidValue(
        f"remove on {where} carries a value, which RFC 7644 §3.5.2.2 does not define; to remove "
        f'some values use a filter path such as {where}[value eq "…"], to remove all omit the '
        "value (nothing was changed)"
    )


def _single(attr: Attribute) -> Attribute:
    """One element of a multi-valued attribute, for validating a value-filter replace."""
    return replace(attr, multi_valued=False, _index={})


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict) and "value" in a and "value" in b:
        return bool(a["value"] == b["value"])
    return bool(a == b)


def _store(container: dict[str, Any], name: str, value: Any) -> None:
    if value in (None, [], {}):
        container.pop(name, None)
    else:
        container[name] = value


def _member_values(value: Any) -> tuple[dict[str, Any], ...]:
    items = value if isinstance(value, list) else [value]
    out = []
    for i, raw in enumerate(items):
        # RFC 7643 §2.1: sub-attribute names are case-insensitive ("Value" is "value").
        item = {str(k).lower(): v for k, v in raw.items()} if isinstance(raw, dict) else None
        if item is None or not isinstance(item.get("value"), str) or not item["value"]:
            raise InvalidValue(f"members[{i}] must be an object with a string value (a member id)")
        kept: dict[str, Any] = {k: item[k] for k in ("type", "display") if k in item}
        out.append({"value": item["value"], **kept})
    return tuple(out)


def _member_change(op: Operation, target: _Target) -> MemberChange:
    if target.ref.sub is not None:
        raise InvalidPath("change group members as whole values, not by sub-attribute")
    if op.op == "remove":
        if target.where is not None:
            return MemberChange("remove_where", where=target.where)
        if op.value is not None:
            raise _remove_with_value("members")
        return MemberChange("remove_all")
    if target.where is not None:
        raise InvalidPath("members cannot be replaced through a value filter; remove and add")
    values = _member_values(op.value)
    return MemberChange("add" if op.op == "add" else "replace", values)


def _plain_key(rt: ResourceType, key: str, op: str) -> None:
    """RFC 7644 §3.5.2.1/§3.5.2.3: a path-less value holds attributes by name (extension
    attributes inside their URN object), not paths."""
    if rt.extension(key) is not None:
        return  # a whole extension object: {"urn:…:enterprise:2.0:User": {…}}
    if "." in key or "[" in key or key.lower().startswith("urn:"):
        raise InvalidPath(
            f"{key!r} in a path-less {op} value is a path, not an attribute name; nest "
            'sub-attributes in their attribute ({"name": {"givenName": …}}) or send an '
            "operation with that path"
        )


def apply_patch(
    rt: ResourceType, doc: Doc, operations: list[Operation], options: PatchOptions | None = None
) -> PatchResult:
    """Apply ``operations`` to a copy of ``doc``; raises on the first failing operation."""
    options = options or PatchOptions()
    result = PatchResult(copy.deepcopy(doc))
    members_attr = rt.schema.attribute("members")
    for op in operations:
        if op.path is None:
            if op.op == "remove":
                # RFC 7644 §3.5.2.2: remove without a path is an error.
                raise NoTarget("remove needs a path")
            if not isinstance(op.value, dict):
                raise InvalidValue(f"{op.op} without a path needs an object value")
            for key, value in op.value.items():
                _plain_key(rt, key, op.op)
                sub_op = Operation(op.op, key, value)
                target = parse_path(rt, key)
                if members_attr is not None and target.ref.attribute is members_attr:
                    result.members.append(_member_change(sub_op, target))
                else:
                    _apply(rt, result.doc, op.op, target, value, options)
            continue
        target = parse_path(rt, op.path)
        if members_attr is not None and target.ref.attribute is members_attr:
            result.members.append(_member_change(op, target))
            continue
        _apply(rt, result.doc, op.op, target, op.value, options)
    for attr in rt.schema.attributes:
        if attr.required and attr.name not in result.doc:
            raise InvalidValue(f"{attr.name} is required")
    result.changed = result.doc != doc or bool(result.members)
    return result


def member_ids_in(where: Filter) -> list[str] | None:
    """``value eq "a" or value eq "b"`` -> ["a", "b"]; None when the filter is anything else.

    Lets storage delete by id instead of loading the whole member list.
    """
    match where:
        case Compare(ref, "eq", str(value)) if ref.sub is not None and ref.sub.name == "value":
            return [value]
        case Or(left, right):
            a, b = member_ids_in(left), member_ids_in(right)
            return a + b if a is not None and b is not None else None
    return None


_FILTER_VALUE = re.compile(r'value\s+eq\s+"((?:[^"\\]|\\.)*)"', re.IGNORECASE)


def ids_named(operations: list[Operation]) -> list[str]:
    """Every id a PatchOp may name as a member: ``value`` strings of the objects in its
    values (one level into a path-less value's attributes) and the ids of a
    ``members[value eq "…"]`` path. A server locks these rows, with the resource, before
    it applies the operations (locks first, in one order); naming more is harmless."""
    found: list[str] = []

    def collect(value: Any, depth: int) -> None:
        if isinstance(value, list):
            for item in value:
                collect(item, depth)
        elif isinstance(value, dict):
            # Sub-attribute names match case-insensitively (RFC 7643 §2.1): {"Value": …}.
            found.extend(v for k, v in value.items() if k.lower() == "value" and isinstance(v, str))
            if depth > 0:
                for inner in value.values():
                    if isinstance(inner, list | dict):
                        collect(inner, depth - 1)

    for operation in operations:
        collect(operation.value, 1)
        if operation.path is not None and "[" in operation.path:
            found.extend(_FILTER_VALUE.findall(operation.path))
    return list(dict.fromkeys(found))
