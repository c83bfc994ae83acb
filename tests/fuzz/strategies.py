"""Hypothesis strategies for SCIM input: filters, attribute paths, PatchOps and resource
bodies. Mostly drawn from the schemas and the grammar (so the parser, the PATCH engine and
the normaliser get deep, past their first check), the rest arbitrary or mangled (so they
meet what no grammar produces)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from roster.scim.schema import ENTERPRISE_USER, ENVOY_USER, GROUP, PATCH_OP, Attribute, ResourceType


def _paths(rt: ResourceType) -> list[tuple[str, Attribute]]:
    """Every attribute path of ``rt``: core, sub-attributes, extensions (with their URN)."""
    out: list[tuple[str, Attribute]] = []
    schemas = [("", rt.schema)] + [(f"{ext.id}:", ext) for ext, _ in rt.extensions]
    for prefix, schema in schemas:
        for attr in schema.attributes:
            out.append((prefix + attr.name, attr))
            out.extend((f"{prefix}{attr.name}.{sub.name}", sub) for sub in attr.sub_attributes)
    return out


def paths_of(rt: ResourceType) -> list[str]:
    return [p for p, _ in _paths(rt)]


odd_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", "\x00", "é" * 3, "True", "False", "null", '"', "a" * 600, "work"]),
)
scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    odd_text,
    st.sampled_from(["2011-05-13T04:42:34Z", "2011-05-13", "bjensen@example.com"]),
)
json_value = st.recursive(
    scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def typed(attr: Attribute, single: bool = False) -> st.SearchStrategy[Any]:
    """A value of ``attr``'s type (mostly), or anything (sometimes)."""
    if attr.type == "complex":
        subs = {s.name: typed(s) for s in attr.sub_attributes}
        value: st.SearchStrategy[Any] = st.fixed_dictionaries({}, optional=subs)
    elif attr.type == "boolean":
        value = st.one_of(st.booleans(), st.booleans(), st.sampled_from(["True", "false"]))
    elif attr.type == "integer":
        value = st.integers(min_value=-(2**70), max_value=2**70)
    elif attr.type == "decimal":
        value = st.floats(allow_nan=False)
    elif attr.type == "dateTime":
        value = st.sampled_from(["2011-05-13T04:42:34Z", "2011-05-13", "yesterday"])
    elif attr.canonical_values:
        value = st.one_of(st.sampled_from(attr.canonical_values), odd_text)
    else:
        value = st.one_of(st.emails(), st.text(min_size=1, max_size=20), odd_text)
    if attr.multi_valued and not single:
        value = st.lists(value, max_size=3)
    return st.one_of(value, value, value, json_value)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


comparison_value = st.one_of(
    st.text(max_size=20).map(_quoted),
    st.emails().map(_quoted),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=False).map(repr),
    st.sampled_from(["true", "false", "null", '"2011-05-13T04:42:34Z"', "1e999", "bare", '"']),
)
operator = st.sampled_from(
    ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "eq", "EQ", "Co", "xx"]
)


def attr_path(rt: ResourceType) -> st.SearchStrategy[str]:
    known = st.sampled_from(paths_of(rt))
    return st.one_of(known, known, known, known.map(str.upper), st.text(max_size=12), st.just("id"))


@st.composite
def filters(draw: st.DrawFn, rt: ResourceType, depth: int = 0) -> str:
    kind = draw(st.integers(0, 6 if depth < 3 else 1))
    if kind == 0:
        return f"{draw(attr_path(rt))} pr"
    if kind == 1:
        return f"{draw(attr_path(rt))} {draw(operator)} {draw(comparison_value)}"
    if kind == 2:
        return f"not ({draw(filters(rt, depth + 1))})"
    if kind == 3:
        return f"({draw(filters(rt, depth + 1))})"
    if kind == 4:
        multi = [p for p, a in _paths(rt) if a.multi_valued and a.type == "complex"]
        parent = draw(st.one_of(st.sampled_from(multi), attr_path(rt)))
        inner = draw(
            st.one_of(
                st.builds(lambda o, v: f"value {o} {v}", operator, comparison_value),
                st.builds(lambda o, v: f"type {o} {v}", operator, comparison_value),
                filters(rt, depth + 1),
            )
        )
        sub = draw(st.sampled_from(["", ".value", ".type", ".primary", ".nope"]))
        return f"{parent}[{inner}]{sub}"
    joiner = draw(st.sampled_from([" and ", " or ", " AND ", " Or "]))
    return draw(filters(rt, depth + 1)) + joiner + draw(filters(rt, depth + 1))


@st.composite
def mangled(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    """Grammar output with a few characters cut or replaced."""
    text = draw(base)
    for _ in range(draw(st.integers(1, 3))):
        if not text:
            break
        i = draw(st.integers(0, len(text) - 1))
        cut = draw(st.sampled_from(["", '"', "(", ")", "[", "]", " ", "\\", "\x00", "."]))
        text = text[:i] + cut + text[i + 1 :]
    return text


@st.composite
def filter_text(draw: st.DrawFn, rt: ResourceType) -> str:
    roll = draw(st.integers(0, 9))
    if roll == 0:
        return draw(st.text(max_size=60))
    return draw(mangled(filters(rt)) if roll < 3 else filters(rt))


@st.composite
def operations(draw: st.DrawFn, rt: ResourceType) -> dict[str, Any]:
    odd = draw(st.integers(0, 9)) == 0
    op = draw(st.sampled_from(["Add", "REPLACE", "copy"] if odd else ["add", "replace", "remove"]))
    kind = draw(st.integers(0, 4))
    out: dict[str, Any] = {"op": op}
    if kind <= 1:  # a plain path and a value of its attribute's type
        path, attr = draw(st.sampled_from(_paths(rt)))
        out["path"] = path
        if op.lower() != "remove" or draw(st.booleans()):
            out["value"] = draw(typed(attr))
    elif kind == 2:  # a value filter path
        multi = [(p, a) for p, a in _paths(rt) if a.multi_valued and a.type == "complex"]
        path, attr = draw(st.sampled_from(multi))
        inner = draw(st.sampled_from(['type eq "work"', 'value eq "a"', "primary eq true"]))
        inner = draw(st.one_of(st.just(inner), filters(rt, 2)))
        sub = draw(st.sampled_from(["", ".value", ".type", ".primary", ".display"]))
        out["path"] = f"{path}[{inner}]{sub}"
        if op.lower() != "remove" or draw(st.booleans()):
            out["value"] = draw(typed(attr, single=bool(sub)))
    elif kind == 3:  # no path: an object of attributes
        out["value"] = draw(st.dictionaries(st.sampled_from(paths_of(rt)), json_value, max_size=3))
    else:  # anything
        if draw(st.booleans()):
            out["path"] = draw(st.one_of(mangled(attr_path(rt)), st.text(max_size=20)))
        out["value"] = draw(json_value)
    return out


@st.composite
def patch_body(draw: st.DrawFn, rt: ResourceType) -> Any:
    roll = draw(st.integers(0, 9))  # explicit weights: mostly a well-formed envelope
    if roll == 0:
        return draw(json_value)
    schemas = [PATCH_OP] if roll > 1 else draw(st.lists(odd_text, max_size=2))
    ops: Any = draw(st.lists(operations(rt), min_size=1, max_size=3)) if roll > 2 else None
    return {"schemas": schemas, "Operations": ops if roll > 2 else draw(json_value)}


@st.composite
def resource_doc(draw: st.DrawFn, rt: ResourceType) -> dict[str, Any]:
    """A body close to a valid resource: its schemas, its required attributes (mostly), some
    others of the right type (mostly), and now and then a stray key."""
    declared = [rt.schema.id]
    if rt is not GROUP and draw(st.booleans()):
        declared += draw(st.sampled_from([[ENTERPRISE_USER], [ENVOY_USER], ["urn:x:y"]]))
    body: dict[str, Any] = {
        "schemas": draw(st.one_of(st.just(declared), st.just(declared), json_value))
    }
    core = {a.name: a for a in rt.schema.attributes}
    for attr in core.values():
        if attr.required and draw(st.integers(0, 9)):
            body[attr.name] = draw(st.one_of(st.emails(), st.text(min_size=1, max_size=20)))
    for name in draw(st.lists(st.sampled_from(sorted(core)), max_size=5, unique=True)):
        body[name] = draw(typed(core[name]))
    for ext, _ in rt.extensions:
        if draw(st.booleans()):
            attrs = {a.name: typed(a) for a in ext.attributes}
            body[ext.id] = draw(st.one_of(st.fixed_dictionaries({}, optional=attrs), json_value))
    if draw(st.integers(0, 4)) == 0:
        body[draw(st.text(max_size=10))] = draw(json_value)
    return body


@st.composite
def resource_body(draw: st.DrawFn, rt: ResourceType) -> Any:
    return draw(json_value) if draw(st.integers(0, 9)) == 0 else draw(resource_doc(rt))
