"""Documents: normalise (RFC 7643 §2, §3; RFC 7644 §3.3) and project (RFC 7644 §3.4.2.5, §3.9)."""

from __future__ import annotations

from typing import Any

import pytest

from roster.errors import InvalidSyntax, InvalidValue
from roster.scim.document import check_attribute, normalise, project, schemas_of, wants
from roster.scim.schema import CORE_GROUP, CORE_USER, ENTERPRISE_USER, GROUP, USER, Attribute

UNKNOWN_EXT = "urn:example:params:scim:schemas:extension:acme:1.0:User"

RENDERED_USER: dict[str, Any] = {
    "schemas": [CORE_USER, ENTERPRISE_USER],
    "id": "2819c223",
    "externalId": "701984",
    "userName": "bjensen@example.com",
    "name": {"familyName": "Jensen", "givenName": "Barbara", "formatted": "Barbara Jensen"},
    "emails": [
        {"value": "bjensen@example.com", "type": "work", "primary": True},
        {"value": "babs@jensen.org", "type": "home"},
    ],
    "active": True,
    "password": "t1meMa$heen",
    "groups": [{"value": "g1", "display": "Tour Guides"}],
    "meta": {
        "resourceType": "User",
        "created": "2010-01-23T04:56:22Z",
        "lastModified": "2011-05-13T04:42:34Z",
        "version": 'W/"1"',
    },
    ENTERPRISE_USER: {"employeeNumber": "701984", "manager": {"value": "m1"}},
}
RENDERED_GROUP: dict[str, Any] = {
    "schemas": [CORE_GROUP],
    "id": "e9e30dba",
    "displayName": "Tour Guides",
    "members": [{"value": "2819c223", "type": "User"}, {"value": "902c246b", "type": "User"}],
    "meta": {"resourceType": "Group"},
}


def user(**extra: Any) -> dict[str, Any]:
    return normalise(USER, {"schemas": [CORE_USER], "userName": "bjensen", **extra})


# ---- normalise ------------------------------------------------------------------


def test_rfc7644_3_3_read_only_attributes_in_a_body_are_ignored() -> None:
    doc = user(
        id="client-chosen",
        meta={"created": "2000-01-01T00:00:00Z"},
        groups=[{"value": "g1"}],
        Schemas=["x"],
        ID="also-ignored",
    )
    assert doc == {"userName": "bjensen"}


def test_rfc7643_2_1_attribute_names_are_canonicalised() -> None:
    doc = normalise(
        USER,
        {
            "SCHEMAS": [CORE_USER],
            "USERNAME": "bjensen",
            "Name": {"GivenName": "Barbara", "familyNAME": "Jensen"},
            "EMAILS": [{"VALUE": "b@x.org", "Type": "work", "PRIMARY": True}],
            "ExternalID": "701984",
            "urn:ietf:params:scim:schemas:core:2.0:User:DisplayName": "Babs",
            "urn:ietf:params:scim:schemas:extension:ENTERPRISE:2.0:user": {"EmployeeNumber": "7"},
        },
    )
    assert doc == {
        "userName": "bjensen",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": "b@x.org", "type": "work", "primary": True}],
        "externalId": "701984",
        "displayName": "Babs",
        ENTERPRISE_USER: {"employeeNumber": "7"},
    }


def test_rfc7643_3_unknown_extension_urn_is_kept_as_sent() -> None:
    body = {"Badge": "A-1", "nested": {"x": [1, 2]}}
    doc = user(**{UNKNOWN_EXT: body})
    assert doc[UNKNOWN_EXT] == body
    assert schemas_of(USER, doc) == [CORE_USER, UNKNOWN_EXT]


def test_rfc7643_4_1_1_password_is_kept_by_normalise() -> None:
    assert user(password="t1meMa$heen")["password"] == "t1meMa$heen"


def test_normalise_drops_nulls_empties_and_unknown_core_attributes() -> None:
    doc = user(
        title=None, emails=[], name={}, foo="bar", externalId=None, **{ENTERPRISE_USER: None}
    )
    assert doc == {"userName": "bjensen"}


def test_rfc7643_2_2_read_only_sub_attributes_are_ignored() -> None:
    """RFC 7644 §3.3 / §3.5.1: readOnly values a client sends are ignored, at any depth."""
    badge = Attribute(
        "badge",
        type="complex",
        sub_attributes=(Attribute("number"), Attribute("issuedBy", mutability="readOnly")),
    )
    assert check_attribute(badge, {"number": "7", "issuedBy": "me"}, "badge") == {"number": "7"}


def test_manager_display_name_is_kept_for_okta_and_envoy() -> None:
    """A documented deviation from RFC 7643 §4.3 (readOnly there): Okta sends the manager's
    email as manager.displayName ("managerDisplayName") and Envoy resolves managers by it."""
    doc = user(**{ENTERPRISE_USER: {"manager": {"value": "m1", "displayName": "boss@x.org"}}})
    assert doc[ENTERPRISE_USER] == {"manager": {"value": "m1", "displayName": "boss@x.org"}}


def test_rfc7643_4_1_user_name_is_required() -> None:
    with pytest.raises(InvalidValue):
        normalise(USER, {"schemas": [CORE_USER], "displayName": "x"})
    with pytest.raises(InvalidValue):
        normalise(GROUP, {"schemas": [CORE_GROUP], "members": []})


@pytest.mark.parametrize(
    "body",
    [[], "x", None, {"schemas": CORE_USER, "userName": "b"}, {"schemas": [1], "userName": "b"}],
)
def test_rfc7644_3_12_malformed_body_is_invalid_syntax(body: Any) -> None:
    with pytest.raises(InvalidSyntax):
        normalise(USER, body)


@pytest.mark.parametrize(
    "extra",
    [
        {"active": "yes"},
        {"userName": 5},
        {"externalId": 7},
        {"name": "Barbara"},
        {"emails": {"value": "b@x.org"}},
        {"emails": ["b@x.org"]},
        {"emails": [{"value": "a@x", "primary": True}, {"value": "b@x", "primary": True}]},
        {"emails": [{"value": "a@x", "primary": "true"}]},
        {ENTERPRISE_USER: "x"},
        {ENTERPRISE_USER: {"employeeNumber": 42}},
    ],
)
def test_rfc7643_2_3_type_errors_are_invalid_value(extra: dict[str, Any]) -> None:
    with pytest.raises(InvalidValue) as exc:
        user(**extra)
    assert exc.value.scim_type == "invalidValue" and exc.value.status == 400


def test_group_members_are_normalised() -> None:
    doc = normalise(
        GROUP,
        {
            "schemas": [CORE_GROUP],
            "displayName": "G",
            "Members": [{"Value": "u1", "TYPE": "User", "Display": "Ann"}],
        },
    )
    # display is a default sub-attribute (RFC 7643 §2.4), kept as the client sent it.
    assert doc == {
        "displayName": "G",
        "members": [{"value": "u1", "type": "User", "display": "Ann"}],
    }


# ---- project ----------------------------------------------------------------------


def test_rfc7643_4_1_1_password_is_never_returned_by_default() -> None:
    out = project(USER, RENDERED_USER, [], [])
    assert "password" not in out
    assert out["userName"] == "bjensen@example.com" and out["groups"] == RENDERED_USER["groups"]


def test_rfc7643_2_2_returned_never_even_when_requested() -> None:
    """returned "never": not returned even if named in attributes (RFC 7643 §2.2, §7)."""
    assert "password" not in project(USER, RENDERED_USER, ["password"], [])
    assert "password" not in project(USER, RENDERED_USER, ["userName", "PASSWORD"], [])


def test_rfc7644_3_4_2_5_attributes_returns_only_those_plus_id_and_schemas() -> None:
    out = project(USER, RENDERED_USER, ["userName"], [])
    assert out == {
        "schemas": RENDERED_USER["schemas"],
        "id": "2819c223",
        "userName": "bjensen@example.com",
    }


def test_rfc7644_3_4_2_5_attributes_sub_attribute() -> None:
    out = project(USER, RENDERED_USER, ["name.givenName"], [])
    assert out["name"] == {"givenName": "Barbara"}
    out = project(USER, RENDERED_USER, ["emails.value"], [])
    assert out["emails"] == [{"value": "bjensen@example.com"}, {"value": "babs@jensen.org"}]
    assert set(out) == {"schemas", "id", "emails"}


def test_rfc7644_3_4_2_5_attribute_names_are_case_insensitive() -> None:
    out = project(USER, RENDERED_USER, ["USERNAME", "Name.GIVENNAME", "externalid"], [])
    assert out == {
        "schemas": RENDERED_USER["schemas"],
        "id": "2819c223",
        "userName": "bjensen@example.com",
        "name": {"givenName": "Barbara"},
        "externalId": "701984",
    }


def test_rfc7644_3_4_2_5_attributes_meta_sub_attribute_is_case_insensitive() -> None:
    out = project(USER, RENDERED_USER, ["meta.lastmodified"], [])
    assert out["meta"] == {"lastModified": "2011-05-13T04:42:34Z"}


def test_rfc7644_3_4_2_5_excluded_meta_sub_attribute_is_case_insensitive() -> None:
    out = project(USER, RENDERED_USER, [], ["META.VERSION"])
    assert "version" not in out["meta"] and "created" in out["meta"]


def test_rfc7644_3_10_urn_qualified_attributes() -> None:
    names = [f"{CORE_USER}:userName", f"{ENTERPRISE_USER}:manager.value"]
    out = project(USER, RENDERED_USER, names, [])
    assert out["userName"] == "bjensen@example.com"
    assert out[ENTERPRISE_USER] == {"manager": {"value": "m1"}}
    out = project(USER, RENDERED_USER, [ENTERPRISE_USER.lower()], [])
    assert out[ENTERPRISE_USER] == RENDERED_USER[ENTERPRISE_USER]
    assert "userName" not in out


def test_rfc7644_3_4_2_5_excluded_attributes_drops_members() -> None:
    out = project(GROUP, RENDERED_GROUP, [], ["members"])
    assert "members" not in out and out["displayName"] == "Tour Guides"
    assert out["id"] == "e9e30dba" and out["schemas"] == [CORE_GROUP]


def test_rfc7644_3_4_2_5_excluded_attributes_cannot_drop_id_or_schemas() -> None:
    out = project(USER, RENDERED_USER, [], ["id", "schemas", "userName"])
    assert out["id"] == "2819c223" and out["schemas"] == RENDERED_USER["schemas"]
    assert "userName" not in out


def test_rfc7644_3_4_2_5_excluded_sub_attribute_and_extension() -> None:
    out = project(USER, RENDERED_USER, [], ["name.givenName", f"{ENTERPRISE_USER}:manager"])
    assert out["name"] == {"familyName": "Jensen", "formatted": "Barbara Jensen"}
    assert out[ENTERPRISE_USER] == {"employeeNumber": "701984"}
    out = project(USER, RENDERED_USER, [], [ENTERPRISE_USER])
    assert ENTERPRISE_USER not in out


def test_project_does_not_mutate_the_rendered_resource() -> None:
    before = repr(RENDERED_USER)
    project(USER, RENDERED_USER, [], ["name.givenName", "emails.type"])
    project(USER, RENDERED_USER, ["emails.value"], [])
    assert repr(RENDERED_USER) == before


@pytest.mark.parametrize(
    ("attributes", "excluded", "expected"),
    [
        ([], [], True),
        ([], ["members"], False),
        ([], ["MEMBERS"], False),
        ([], ["members.type"], True),
        ([], ["displayName"], True),
        (["members"], [], True),
        (["members.value"], [], True),
        ([f"{CORE_GROUP}:members"], [], True),
        (["displayName"], [], False),
        (["displayName"], ["members"], False),
    ],
)
def test_rfc7644_3_4_2_5_wants_members(
    attributes: list[str], excluded: list[str], expected: bool
) -> None:
    assert wants(GROUP, "members", attributes, excluded) is expected
