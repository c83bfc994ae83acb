"""IdP dialects: the named quirks real SCIM clients need, and the profiles that enable them.

The SCIM core (document, patch, filter) implements RFC 7643/7644 as written. Each quirk
below is one normaliser that rewrites what an IdP sends into the RFC form before the core
sees it, or picks among answers the RFC allows; a profile is the set a connection uses,
chosen by its IdP kind and overridable per connection. docs/compatibility.md is the
reader's version of this module; the source keys ([ENTRA-TUT] …) are in docs/idp/sources.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from roster.errors import InvalidSyntax, InvalidValue, RosterError
from roster.scim.filter import And, Compare, Filter
from roster.scim.paths import split_urn
from roster.scim.schema import ENTERPRISE_USER, PATCH_OP, Attribute, ResourceType

NO_CONTENT = "no_content"
RESOURCE = "resource"


@dataclass(frozen=True)
class Quirk:
    name: str
    summary: str
    source: str
    choices: tuple[Any, ...] = (False, True)


QUIRKS: dict[str, Quirk] = {
    q.name: q
    for q in (
        Quirk(
            "op_case",
            "PATCH op names and the Operations key in any letter case (Add, Replace, Remove)",
            "[ENTRA-TUT] don't require a case-sensitive match on structural elements",
        ),
        Quirk(
            "member_remove_values",
            "remove on a multi-valued attribute with a value list removes only those values "
            "(off: refused; never empties the attribute)",
            "[ENTRA-TUT] groups, [ENTRA-KI]; segmentio/segment-docs PR #6726",
        ),
        Quirk(
            "echoed_read_only",
            "a path-less replace may echo schemas, meta and the resource's own id",
            "[OKTA-REF] group rename",
        ),
        Quirk(
            "boolean_strings",
            '"True"/"False" strings wherever a boolean is expected',
            "[ENTRA-KI] disable user without aadOptscim062020; [ENTRA-REF] garbage tests",
        ),
        Quirk(
            "manager_shapes",
            "enterprise manager as a bare id string or a one-element list, and 'manager' "
            "without its schema URN in paths and filters",
            "[ISSUES] SCIM-SDK #686, directory-scimple #1242; [ENTRA-TUT] Examples 4, 5",
        ),
        Quirk(
            "dotted_value_keys",
            "path-less add/replace whose value keys are paths (name.givenName, "
            "urn:…:enterprise:2.0:User:employeeNumber)",
            "[ENTRA-KI] multi-attribute replace with aadOptscim062020",
        ),
        Quirk(
            "upsert_filtered_values",
            'add/replace on emails[type eq "work"].value creates the element when none matches',
            "[ENTRA-TUT] attribute mapping mail, mobile",
        ),
        Quirk(
            "bare_filter_values",
            "unquoted filter comparison values (externalId eq jyoung) read as strings",
            "[ENTRA-TUT] Example 1",
        ),
        Quirk(
            "foreign_schema_uris",
            "schema URIs Roster does not publish, and the body does not use, are dropped",
            "[ENTRA-TUT] group create (Microsoft ADSCIM URI); Example 2 (enterprise:2.0User)",
        ),
        Quirk(
            "group_patch_response",
            "no_content: group PATCH answers 204; resource: 200 with the group",
            "[ENTRA-TUT] 'should yield an HTTP 204'; [OKTA-REF] '200 … or 204'",
            (NO_CONTENT, RESOURCE),
        ),
        Quirk(
            "user_patch_response",
            "no_content: user PATCH answers 204; resource: 200 with the user",
            "[OKTA-REF] deactivate '200 with the user, or 204'; [ENTRA-TUT]",
            (NO_CONTENT, RESOURCE),
        ),
    )
}

_GENERIC: dict[str, Any] = {
    "op_case": True,
    "member_remove_values": True,
    "echoed_read_only": True,
    "boolean_strings": False,
    "manager_shapes": False,
    "dotted_value_keys": False,
    "upsert_filtered_values": False,
    "bare_filter_values": False,
    "foreign_schema_uris": False,
    "group_patch_response": RESOURCE,
    "user_patch_response": RESOURCE,
}
_ENTRA_ONLY = (
    "boolean_strings",
    "manager_shapes",
    "dotted_value_keys",
    "upsert_filtered_values",
    "bare_filter_values",
    "foreign_schema_uris",
)

# Okta, OneLogin and JumpCloud accept 204 for group PATCH; answering it keeps a membership
# change O(1) in group size instead of rendering every member.
PROFILE_DEFAULTS: dict[str, dict[str, Any]] = {
    "generic": _GENERIC,
    "okta": {**_GENERIC, "group_patch_response": NO_CONTENT},
    "entra": {
        **_GENERIC,
        **dict.fromkeys(_ENTRA_ONLY, True),
        "group_patch_response": NO_CONTENT,
    },
    "onelogin": {**_GENERIC, "group_patch_response": NO_CONTENT},
    "jumpcloud": {**_GENERIC, "group_patch_response": NO_CONTENT},
}


@dataclass(frozen=True)
class Profile:
    name: str
    settings: Mapping[str, Any]
    overrides: Mapping[str, Any]

    def on(self, quirk: str) -> bool:
        return bool(self.settings[quirk] is True)

    def patch_answer(self, rt: ResourceType) -> str:
        return str(
            self.settings["group_patch_response" if rt.name == "Group" else "user_patch_response"]
        )


_PROFILE_CACHE: dict[tuple[str, str], Profile] = {}


def profile_for(idp: str, overrides: Mapping[str, Any] | None = None) -> Profile:
    """The profile of IdP kind ``idp`` with a connection's overrides applied.

    Overrides were validated when set; unknown or stale keys are ignored here, so a
    renamed quirk never locks a connection out.
    """
    valid = {k: v for k, v in (overrides or {}).items() if k in QUIRKS and v in QUIRKS[k].choices}
    key = (idp, json.dumps(valid, sort_keys=True))
    cached = _PROFILE_CACHE.get(key)
    if cached is None:
        base = PROFILE_DEFAULTS.get(idp, _GENERIC)
        cached = _PROFILE_CACHE[key] = Profile(idp, {**base, **valid}, valid)
    return cached


def parse_setting(name: str, text: str) -> Any:
    """An override as typed by an admin (``true``, ``no_content``) -> its value."""
    quirk = QUIRKS.get(name)
    if quirk is None:
        raise InvalidValue(f"unknown quirk {name!r}; known: {', '.join(QUIRKS)}")
    lowered = text.strip().lower()
    for choice in quirk.choices:
        if lowered == str(choice).lower() or (
            isinstance(choice, bool)
            and lowered in (("on", "yes", "1") if choice else ("off", "no", "0"))
        ):
            return choice
    allowed = ", ".join(str(c).lower() for c in quirk.choices)
    raise InvalidValue(f"{name} takes one of {allowed}, got {text!r}")


# ---- request normalisers ------------------------------------------------------------


def _booleans(attr: Attribute, value: Any) -> Any:
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
        out[key] = _booleans(sub, sub_value) if sub is not None else sub_value
    return out


def _manager(value: Any) -> Any:
    """[ISSUES] SCIM-SDK #686: Entra sends the manager as a bare id string; [ENTRA-TUT]
    Example 5 as a one-element list of {"$ref", "value"}. RFC 7643 §4.3 wants an object."""
    if isinstance(value, str) and value.strip():
        return {"value": value}
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        inner = _member_value(value[0])
        if not isinstance(inner, str) or not inner.strip():
            # Unwrapped, a {"$ref"} alone would merge into the old manager and change
            # nothing while the IdP believes it set one.
            raise InvalidValue("manager: the list element needs a value (the manager's id)")
        return value[0]
    return value  # anything else is left for the core to refuse


def _is_manager(attr: Attribute, schema_id: str) -> bool:
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
                value = _booleans(attr, value)
            if profile.on("manager_shapes") and _is_manager(attr, schema_id):
                value = _manager(value)
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


_BARE = re.compile(
    r"(?P<op>\s(?:eq|ne|co|sw|ew|gt|lt|ge|le)\s+)(?P<value>[^\s\"()\[\]]+)", re.IGNORECASE
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_LITERAL = re.compile(r"^(true|false|null|-?\d+(\.\d+)?([eE][+-]?\d+)?)$", re.IGNORECASE)


_MANAGER_IN_FILTER = re.compile(r"(?<![\w:.$-])manager(?:\.value)?(?=\s)", re.IGNORECASE)


_EMAIL_COMPARISON = re.compile(
    r'(?P<string>"(?:[^"\\]|\\.)*")'
    r"|(?<![\w:.$-])email\s+(?P<op>eq|ne|co|sw|ew|gt|ge|lt|le)\s+"
    r'(?P<value>"(?:[^"\\]|\\.)*"|[^\s()\[\]"]+)',
    re.IGNORECASE,
)


def _primary_email(m: re.Match[str]) -> str:
    """``email eq "x"`` -> the primary email compares (the one marked primary, else the
    only one: the directory refuses users with several emails and none marked)."""
    if m.group("string") is not None:
        return m.group(0)
    op, value = m.group("op"), m.group("value")
    return (
        f"(emails[primary eq true and value {op} {value}] or "
        f"(emails.value {op} {value} and not (emails.primary eq true)))"
    )


def normalise_filter(profile: Profile, text: str, *, email_identifier: bool = False) -> str:
    """Filter text in the profile's dialect -> RFC 7644 §3.4.2.2. Quoted strings are left
    alone; only the text between them is rewritten.

    ``email_identifier``: the connection identifies users by email, as Okta's "Unique
    identifier field for users: email" does (the Engagedly guide); Okta then looks users
    up with ``email eq "…"``, which names no SCIM attribute: read it as the primary email.
    """
    bare, manager = profile.on("bare_filter_values"), profile.on("manager_shapes")
    if not bare and not manager and not email_identifier:
        return text
    if email_identifier:
        text = _EMAIL_COMPARISON.sub(_primary_email, text)

    def quote(m: re.Match[str]) -> str:
        # [ENTRA-TUT] Example 1: ``externalId eq jyoung``; quote bare words that are not
        # JSON literals.
        value = m.group("value")
        if _JSON_LITERAL.match(value):
            return m.group(0)
        return m.group("op") + json.dumps(value)

    def rewrite(part: str) -> str:
        if manager:
            # [ENTRA-TUT] Example 4: ``id eq … and manager eq …`` names the enterprise
            # manager without its URN and compares the object itself: its value is meant.
            part = _MANAGER_IN_FILTER.sub(f"{ENTERPRISE_USER}:manager.value", part)
        return _BARE.sub(quote, part) if bare else part

    out, last = [], 0
    for m in _STRING.finditer(text):
        out.append(rewrite(text[last : m.start()]))
        out.append(m.group(0))
        last = m.end()
    out.append(rewrite(text[last:]))
    return "".join(out)


# PATCH ----------------------------------------------------------------------------------

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


def _member_value(item: Any) -> Any:
    if isinstance(item, dict):
        # RFC 7643 §2.1: sub-attribute names are case-insensitive ("Value" is "value").
        return {str(k).lower(): v for k, v in item.items()}.get("value")
    return item


def _operation(
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
    if name == "remove" and value is not None and listed and profile.on("member_remove_values"):
        return _remove_listed(op, path, value)
    if "value" in op and name in ("add", "replace"):
        leaf = sub or attr
        if profile.on("boolean_strings"):
            value = _booleans(leaf, value)
        if profile.on("manager_shapes") and sub is None and _is_manager(attr, schema_id):
            value = _manager(value)
        op["value"] = value
    return [op]


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
        v = _member_value(item)
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
