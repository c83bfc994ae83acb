"""Quirks and profiles: which named IdP quirks a connection accepts (see the package)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from pydantic import TypeAdapter, ValidationError

from roster.errors import InvalidValue
from roster.scim.schema import ResourceType

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
            "member_shapes",
            'group PATCH add/replace of members given as bare id strings ("value": "id") '
            'instead of objects ({"value": "id"})',
            "[ENTRA-REF] 'Group tests with garbage': PATCH add members \"string id 1\"",
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
    "member_shapes": False,
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
    "member_shapes",
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
        # Microsoft's SCIM test collection expects 204 for user PATCH too; Entra takes both.
        "user_patch_response": NO_CONTENT,
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
    """An override as typed by an admin (``true``, ``on``, ``no_content``) -> its value,
    validated by pydantic against the quirk's choices."""
    quirk = QUIRKS.get(name)
    if quirk is None:
        raise InvalidValue(f"unknown quirk {name!r}; known: {', '.join(QUIRKS)}")
    try:
        return _adapter(quirk.choices).validate_python(text.strip().lower())
    except ValidationError:
        allowed = ", ".join(str(c).lower() for c in quirk.choices)
        raise InvalidValue(f"{name} takes one of {allowed}, got {text!r}") from None


@functools.cache
def _adapter(choices: tuple[Any, ...]) -> TypeAdapter[Any]:
    if set(choices) == {False, True}:
        return TypeAdapter(bool)
    return TypeAdapter(cast(Any, Literal)[choices])
