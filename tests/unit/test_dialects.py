"""IdP dialects: each normaliser rewrites one documented quirk into RFC form, and only
when the connection's profile enables it. Bodies are the ones in the cited sources."""

from __future__ import annotations

from typing import Any

import pytest

from roster.errors import InvalidValue
from roster.scim import dialects
from roster.scim.dialects import normalise_filter, normalise_patch, normalise_resource, profile_for
from roster.scim.filter import matches, parse_filter, parse_value_filter
from roster.scim.patch import apply_patch, parse_operations
from roster.scim.paths import resolve
from roster.scim.schema import ENTERPRISE_USER, GROUP, PATCH_OP, USER

ENTRA = profile_for("entra")
OKTA = profile_for("okta")
GENERIC = profile_for("generic")
GID = "abf4dd94-a4c0-4f67-89c9-76b03340cb9b"


def ops(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def test_every_quirk_has_a_default_in_every_profile() -> None:
    for name, defaults in dialects.PROFILE_DEFAULTS.items():
        assert set(defaults) == set(dialects.QUIRKS), name
        for quirk, value in defaults.items():
            assert value in dialects.QUIRKS[quirk].choices


def test_overrides_win_and_invalid_ones_are_ignored() -> None:
    p = profile_for("okta", {"boolean_strings": True, "op_case": "maybe", "gone": True})
    assert p.on("boolean_strings") and p.on("op_case")
    assert p.overrides == {"boolean_strings": True}
    assert profile_for("unknown-kind").settings == dialects.PROFILE_DEFAULTS["generic"]


@pytest.mark.parametrize(
    ("text", "value"), [("on", True), ("FALSE", False), ("no_content", "no_content")]
)
def test_parse_setting(text: str, value: Any) -> None:
    name = "group_patch_response" if value == "no_content" else "boolean_strings"
    assert dialects.parse_setting(name, text) == value


def test_parse_setting_refuses_unknown_names_and_values() -> None:
    with pytest.raises(InvalidValue, match="unknown quirk"):
        dialects.parse_setting("nope", "true")
    with pytest.raises(InvalidValue, match="takes one of"):
        dialects.parse_setting("user_patch_response", "maybe")


# ---- op_case -------------------------------------------------------------------------


def test_op_case_lowercases_entra_op_names_and_member_keys() -> None:
    # [ENTRA-TUT]: Entra emits Add, Replace, Remove.
    body = {"schemas": [PATCH_OP], "operations": [{"OP": "Replace", "Path": "title", "Value": "x"}]}
    out = normalise_patch(GENERIC, USER, body, "u1")
    assert out["Operations"] == [{"op": "replace", "path": "title", "value": "x"}]
    assert [o.op for o in parse_operations(out)] == ["replace"]


def test_without_op_case_the_core_sees_the_names_as_sent() -> None:
    strict = profile_for("generic", {"op_case": False})
    out = normalise_patch(strict, USER, ops({"op": "Replace", "path": "title", "value": "x"}), "u")
    assert out["Operations"][0]["op"] == "Replace"


# ---- boolean_strings ---------------------------------------------------------------


@pytest.mark.parametrize("text", ["False", "false", "FALSE"])
def test_boolean_strings_in_patch_path_and_no_path_values(text: str) -> None:
    # [ENTRA-KI]: {"op":"Replace","path":"active","value":"False"} without aadOptscim062020.
    out = normalise_patch(ENTRA, USER, ops({"op": "Replace", "path": "active", "value": text}), "u")
    assert out["Operations"][0]["value"] is False
    out = normalise_patch(ENTRA, USER, ops({"op": "replace", "value": {"active": text}}), "u")
    assert out["Operations"][0]["value"] == {"active": False}


def test_boolean_strings_in_bodies_and_sub_attributes() -> None:
    # [ENTRA-REF] "User tests with garbage": POST with "active": "True".
    body = {"userName": "a", "active": "True", "emails": [{"value": "a@x", "Primary": "true"}]}
    out = normalise_resource(ENTRA, USER, body)
    assert out["active"] is True and out["emails"][0]["Primary"] is True


def test_boolean_strings_leave_other_strings_for_the_core_to_refuse() -> None:
    out = normalise_resource(ENTRA, USER, {"active": "yes", "title": "True"})
    assert out == {"active": "yes", "title": "True"}
    assert normalise_resource(OKTA, USER, {"active": "True"}) == {"active": "True"}


# ---- manager_shapes ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2c2f6fb8-254f-492e-b7fe-c09c5a61c8a2",  # [ISSUES] SCIM-SDK #686
        [
            {
                "$ref": "http://x/Users/2c2f6fb8-254f-492e-b7fe-c09c5a61c8a2",
                "value": "2c2f6fb8-254f-492e-b7fe-c09c5a61c8a2",
            }
        ],  # [ENTRA-TUT] Example 5
    ],
)
def test_manager_shapes_become_an_object(value: Any) -> None:
    for path in (f"{ENTERPRISE_USER}:manager", "manager"):
        out = normalise_patch(ENTRA, USER, ops({"op": "Add", "path": path, "value": value}), "u")
        [op] = out["Operations"]
        assert op["path"].endswith(":manager") and op["path"].startswith(ENTERPRISE_USER)
        assert op["value"]["value"] == "2c2f6fb8-254f-492e-b7fe-c09c5a61c8a2"
    body = {ENTERPRISE_USER: {"manager": value}}
    assert normalise_resource(ENTRA, USER, body)[ENTERPRISE_USER]["manager"]["value"].startswith(
        "2c2f"
    )


@pytest.mark.parametrize("value", [7, ["a", "b"], [{"value": "a"}, {"value": "b"}], "", ["a"]])
def test_manager_shapes_leave_malformed_values_alone(value: Any) -> None:
    out = normalise_resource(ENTRA, USER, {ENTERPRISE_USER: {"manager": value}})
    assert out[ENTERPRISE_USER]["manager"] == value


# ---- member_remove_values ------------------------------------------------------------


def test_value_list_remove_becomes_value_filter_removes() -> None:
    # [ENTRA-TUT] / [ENTRA-KI] without the flag.
    body = ops(
        {
            "op": "Remove",
            "path": "members",
            "value": [{"$ref": None, "value": "u1"}, {"value": 'q"2'}],
        }
    )
    out = normalise_patch(ENTRA, GROUP, body, GID)
    assert out["Operations"] == [
        {"op": "remove", "path": 'members[value eq "u1" or value eq "q\\"2"]'}
    ]
    result = apply_patch(GROUP, {"displayName": "G"}, parse_operations(out))
    [change] = result.members
    assert change.kind == "remove_where"


def test_value_list_remove_is_chunked_under_the_filter_comparison_cap() -> None:
    values = [{"value": f"u{i}"} for i in range(120)]
    out = normalise_patch(
        GENERIC, GROUP, ops({"op": "remove", "path": "members", "value": values}), GID
    )
    assert len(out["Operations"]) == 3
    parse_operations(out)
    assert all(apply_patch(GROUP, {"displayName": "G"}, parse_operations(out)).members)


@pytest.mark.parametrize("value", [[], [{"display": "x"}], [{"value": 5}], [{"value": ""}], [7]])
def test_value_list_remove_refuses_lists_that_name_nothing(value: Any) -> None:
    body = ops({"op": "remove", "path": "members", "value": value})
    with pytest.raises(InvalidValue):
        normalise_patch(ENTRA, GROUP, body, GID)


# ---- echoed_read_only ----------------------------------------------------------------


def test_okta_rename_drops_the_echoed_own_id_only() -> None:
    # [OKTA-REF] group rename.
    body = ops({"op": "replace", "value": {"id": GID, "displayName": "Test SCIMv2"}})
    out = normalise_patch(OKTA, GROUP, body, GID)
    assert out["Operations"][0]["value"] == {"displayName": "Test SCIMv2"}
    other = normalise_patch(OKTA, GROUP, ops({"op": "replace", "value": {"id": "x"}}), GID)
    assert other["Operations"][0]["value"] == {"id": "x"}  # the core refuses: mutability


# ---- dotted_value_keys ---------------------------------------------------------------


def test_dotted_and_urn_keys_become_operations_with_paths() -> None:
    # [ENTRA-KI] with aadOptscim062020.
    value = {
        "displayName": "Bjfe",
        "name.givenName": "Kkom",
        "name.familyName": "Unua",
        f"{ENTERPRISE_USER}:employeeNumber": "Aklq",
    }
    out = normalise_patch(ENTRA, USER, ops({"op": "replace", "value": value}), "u")
    assert out["Operations"] == [
        {"op": "replace", "value": {"displayName": "Bjfe"}},
        {"op": "replace", "path": "name.givenName", "value": "Kkom"},
        {"op": "replace", "path": "name.familyName", "value": "Unua"},
        {"op": "replace", "path": f"{ENTERPRISE_USER}:employeeNumber", "value": "Aklq"},
    ]
    doc = apply_patch(USER, {"userName": "u"}, parse_operations(out)).doc
    assert doc["name"] == {"givenName": "Kkom", "familyName": "Unua"}
    assert doc[ENTERPRISE_USER] == {"employeeNumber": "Aklq"}


def test_dotted_keys_of_booleans_are_converted_too() -> None:
    out = normalise_patch(ENTRA, USER, ops({"op": "replace", "value": {"active": "False"}}), "u")
    assert out["Operations"] == [{"op": "replace", "value": {"active": False}}]


def test_dotted_keys_stay_put_where_the_profile_does_not_split_them() -> None:
    value = {"name.givenName": "K"}
    out = normalise_patch(OKTA, USER, ops({"op": "replace", "value": value}), "u")
    assert out["Operations"] == [{"op": "replace", "value": value}]


# ---- upsert_filtered_values ----------------------------------------------------------


def test_element_from_an_eq_filter() -> None:
    ref = resolve(USER, "emails")
    where = parse_value_filter(USER, ref, 'type eq "work"', InvalidValue)
    emails = ref.attribute
    assert dialects.element_from_filter(where, emails, []) == {"type": "work", "primary": True}
    home = [{"value": "h@x", "type": "home", "primary": True}]
    assert dialects.element_from_filter(where, emails, home) == {"type": "work"}
    both = parse_value_filter(USER, ref, 'type eq "work" and primary eq false', InvalidValue)
    assert dialects.element_from_filter(both, emails, []) == {"type": "work", "primary": False}
    for text in (
        'type ne "work"',
        'value co "x"',
        'type eq "a" or type eq "b"',
        'type eq "a" and type eq "b"',
    ):
        assert (
            dialects.element_from_filter(
                parse_value_filter(USER, ref, text, InvalidValue), emails, []
            )
            is None
        )


# ---- bare_filter_values --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("externalId eq jyoung", 'externalId eq "jyoung"'),
        (
            'userName eq "a eq b" and externalId eq x1',
            'userName eq "a eq b" and externalId eq "x1"',
        ),
        ("active eq true", "active eq true"),
        ("meta.version eq 3", "meta.version eq 3"),
        ('emails[type eq work].value eq "a@x"', 'emails[type eq "work"].value eq "a@x"'),
    ],
)
def test_bare_filter_values_are_quoted(text: str, expected: str) -> None:
    # [ENTRA-TUT] Example 1: GET /Users?filter=externalId eq jyoung
    assert normalise_filter(ENTRA, text) == expected
    parse_filter(USER, expected)
    assert normalise_filter(OKTA, text) == text


# ---- foreign_schema_uris -------------------------------------------------------------


def test_microsoft_group_schema_uri_is_dropped() -> None:
    # [ENTRA-TUT] group create.
    ms = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", ms], "displayName": "G"}
    assert normalise_resource(ENTRA, GROUP, body)["schemas"] == [
        "urn:ietf:params:scim:schemas:core:2.0:Group"
    ]
    assert ms in normalise_resource(OKTA, GROUP, body)["schemas"]


def test_schema_uris_with_data_under_them_are_kept() -> None:
    custom = "urn:example:custom:1.0:User"
    body = {"schemas": [custom], custom: {"x": 1}}
    assert normalise_resource(ENTRA, USER, body)["schemas"] == [custom]


def test_unqualified_manager_in_a_filter_means_the_enterprise_manager_value() -> None:
    # [ENTRA-TUT] Example 4.
    text = 'id eq abc and manager eq xyz and title eq "manager eq x"'
    assert normalise_filter(ENTRA, text) == (
        f'id eq "abc" and {ENTERPRISE_USER}:manager.value eq "xyz" and title eq "manager eq x"'
    )
    assert normalise_filter(ENTRA, f"{ENTERPRISE_USER}:manager.value pr") == (
        f"{ENTERPRISE_USER}:manager.value pr"
    )
    parse_filter(USER, normalise_filter(ENTRA, text))
    assert normalise_filter(OKTA, text) == text


def test_email_identifier_reads_the_email_attribute_as_the_primary_email() -> None:
    text = 'email eq "a@x" and title eq "email eq b"'
    rewritten = normalise_filter(GENERIC, text, email_identifier=True)
    assert rewritten == (
        '(emails[primary eq true and value eq "a@x"] or '
        '(emails.value eq "a@x" and not (emails.primary eq true))) and title eq "email eq b"'
    )
    node = parse_filter(USER, rewritten)
    primary = {"emails": [{"value": "a@x", "primary": True}], "title": "email eq b"}
    secondary = {
        "emails": [{"value": "p@x", "primary": True}, {"value": "a@x"}],
        "title": "email eq b",
    }
    only = {"emails": [{"value": "A@X"}], "title": "email eq b"}
    assert matches(node, primary) and matches(node, only) and not matches(node, secondary)
    assert normalise_filter(GENERIC, text) == text
