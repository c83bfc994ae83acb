"""PATCH (RFC 7644 §3.5.2): envelope parsing, application, member changes and errors."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from roster.errors import (
    InvalidPath,
    InvalidSyntax,
    InvalidValue,
    MutabilityViolation,
    NoTarget,
    RosterError,
)
from roster.scim.filter import ValuePath, parse_filter
from roster.scim.patch import (
    MemberChange,
    PatchResult,
    apply_patch,
    member_ids_in,
    parse_operations,
)
from roster.scim.schema import ENTERPRISE_USER, GROUP, PATCH_OP, USER, ResourceType

BABS = "2819c223-7f76-453a-919d-413861904646"
MANDY = "902c246b-6245-4190-8e05-00816be7344a"
JAMES = "08e1d05d-121c-4561-8b96-473d93df9210"

HOLLYWOOD = {"locality": "Hollywood", "region": "CA", "postalCode": "91608", "country": "USA"}
USER_DOC: dict[str, Any] = {
    "userName": "bjensen@example.com",
    "name": {"familyName": "Jensen", "givenName": "Barbara"},
    "nickName": "Babs",
    "active": True,
    "emails": [
        {"value": "bjensen@example.com", "type": "work", "primary": True},
        {"value": "babs@jensen.org", "type": "home"},
    ],
    "addresses": [
        {"type": "work", "streetAddress": "100 Universal City Plaza", "primary": True, **HOLLYWOOD},
        {"type": "home", "streetAddress": "456 Hollywood Blvd", **HOLLYWOOD},
    ],
    ENTERPRISE_USER: {"employeeNumber": "701984", "manager": {"value": "26118915"}},
}
GROUP_DOC: dict[str, Any] = {"displayName": "Tour Guides"}


def op(name: str, path: str | None = None, *value: Any) -> dict[str, Any]:
    """One operation; ``value`` is left out of the operation when not given."""
    out: dict[str, Any] = {"op": name, "path": path} if path is not None else {"op": name}
    return {**out, "value": value[0]} if value else out


def envelope(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(ops)}


def patch(
    *ops: dict[str, Any], rt: ResourceType = USER, doc: dict[str, Any] | None = None
) -> PatchResult:
    base = (USER_DOC if rt is USER else GROUP_DOC) if doc is None else doc
    return apply_patch(rt, base, parse_operations(envelope(*ops)))


def group(*ops: dict[str, Any]) -> PatchResult:
    return patch(*ops, rt=GROUP)


def primaries(items: list[dict[str, Any]]) -> list[str]:
    return [str(i.get("value", i.get("type"))) for i in items if i.get("primary") is True]


# ---- §3.5.2.1 add ---------------------------------------------------------------


def test_rfc7644_3_5_2_1_add_member_becomes_a_member_change() -> None:
    ref = f"https://example.com/v2/Users/{BABS}"
    result = group(op("add", "members", [{"display": "Babs Jensen", "$ref": ref, "value": BABS}]))
    # display (RFC 7643 §2.4, immutable) is kept with the member; $ref is the server's.
    assert result.members == [MemberChange("add", ({"value": BABS, "display": "Babs Jensen"},))]
    assert result.members[0].ids() == [BABS]
    assert result.doc == GROUP_DOC and result.changed


def test_rfc7644_3_5_2_1_add_several_members_keeps_type() -> None:
    values = [{"value": BABS, "type": "User"}, {"value": MANDY}]
    assert group(op("add", "members", values)).members == [MemberChange("add", tuple(values))]


def emails_of(result: PatchResult) -> list[str]:
    return [e["value"] for e in result.doc["emails"]]


def test_rfc7644_3_5_2_1_add_emails_appends() -> None:
    result = patch(op("add", "emails", [{"value": "b@x.org", "type": "other"}]))
    assert emails_of(result) == ["bjensen@example.com", "babs@jensen.org", "b@x.org"]


def test_rfc7644_3_5_2_1_add_without_path_takes_an_object() -> None:
    emails = [{"value": "babs@jensen.org", "type": "home"}, {"value": "b@x.org"}]
    result = patch(op("add", None, {"emails": emails, "nickname": "Babsy"}))
    assert result.doc["nickName"] == "Babsy" and "nickname" not in result.doc
    # a value already there is not added twice (§3.5.2.1 "no changes SHOULD be made")
    assert emails_of(result) == ["bjensen@example.com", "babs@jensen.org", "b@x.org"]


def test_rfc7644_3_5_2_1_add_existing_value_changes_nothing() -> None:
    result = patch(op("add", "emails", [{"value": "babs@jensen.org"}]))
    assert result.doc == USER_DOC and not result.changed


def test_rfc7643_2_4_adding_a_primary_value_demotes_the_old_one() -> None:
    new = {"value": "new@example.com", "type": "other", "primary": True}
    assert primaries(patch(op("add", "emails", [new])).doc["emails"]) == ["new@example.com"]


@pytest.mark.parametrize("promote", ["work", "home"])
def test_rfc7643_2_4_primary_set_through_a_value_filter_wins(promote: str) -> None:
    """The value made primary keeps it and the old primary is demoted, whatever their order."""
    doc = copy.deepcopy(USER_DOC)
    doc["emails"] = [
        {"value": "w@x.org", "type": "work", "primary": promote == "home"},
        {"value": "h@x.org", "type": "home", "primary": promote == "work"},
    ]
    result = patch(op("replace", f'emails[type eq "{promote}"].primary', True), doc=doc)
    assert primaries(result.doc["emails"]) == [f"{promote[0]}@x.org"]


def test_rfc7643_2_4_replace_sub_attribute_on_all_values_cannot_make_two_primaries() -> None:
    """Either refuse, or leave at most one primary value: never two."""
    try:
        result = patch(op("replace", "emails.primary", True))
    except RosterError:
        return
    assert len(primaries(result.doc["emails"])) <= 1


# ---- §3.5.2.2 remove ------------------------------------------------------------


def test_rfc7644_3_5_2_2_remove_member_by_value_filter() -> None:
    [change] = group(op("remove", f'members[value eq "{BABS}"]')).members
    assert change.kind == "remove_where" and change.where is not None
    assert member_ids_in(change.where) == [BABS]


def test_rfc7644_3_5_2_2_remove_two_members_then_add_two() -> None:
    """The RFC example writes `value eq\"…\"` with no space."""
    result = group(
        op("remove", f'members[value eq"{BABS}"]'),
        op("remove", f'members[value eq"{MANDY}"]'),
        op("add", "members", [{"value": JAMES}, {"value": "x-4"}]),
    )
    assert [c.kind for c in result.members] == ["remove_where", "remove_where", "add"]
    assert [member_ids_in(c.where) for c in result.members[:2] if c.where] == [[BABS], [MANDY]]
    assert result.members[2].ids() == [JAMES, "x-4"]


def test_rfc7644_3_5_2_2_remove_all_members() -> None:
    assert group(op("remove", "members")).members == [MemberChange("remove_all")]


def test_rfc7644_3_5_2_2_replace_all_members_by_remove_and_add() -> None:
    result = group(op("remove", "members"), op("add", "members", [{"value": BABS}]))
    assert [c.kind for c in result.members] == ["remove_all", "add"]


def test_remove_members_with_a_value_list_is_refused_not_guessed() -> None:
    # RFC 7644 §3.5.2.2 gives remove no value; reading it as "remove all" would empty the
    # group Entra meant to trim (dialects.member_remove_values rewrites that form).
    with pytest.raises(InvalidValue, match="nothing was changed"):
        group(op("remove", "members", [{"value": BABS}]))
    with pytest.raises(InvalidValue, match="filter path"):
        patch(op("remove", "emails", [{"value": "babs@jensen.org"}]))


def test_rfc7644_3_5_2_2_remove_emails_by_complex_filter() -> None:
    result = patch(op("remove", 'emails[type eq "work" and value ew "example.com"]'))
    assert result.doc["emails"] == [{"value": "babs@jensen.org", "type": "home"}]


def test_rfc7644_3_5_2_2_removing_every_value_unassigns_the_attribute() -> None:
    assert "emails" not in patch(op("remove", 'emails[value co "@"]')).doc
    assert "name" not in patch(op("remove", "name.givenName"), op("remove", "name")).doc


def test_rfc7644_3_5_2_2_remove_without_path_is_no_target() -> None:
    with pytest.raises(NoTarget) as exc:
        patch(op("remove"))
    assert exc.value.scim_type == "noTarget" and exc.value.status == 400


def test_rfc7643_4_1_removing_required_user_name_fails() -> None:
    with pytest.raises(RosterError) as exc:
        patch(op("remove", "userName"))
    assert exc.value.status == 400


def test_remove_whole_extension_by_urn() -> None:
    assert ENTERPRISE_USER not in patch(op("remove", ENTERPRISE_USER)).doc


# ---- §3.5.2.3 replace -----------------------------------------------------------


def test_rfc7644_3_5_2_3_replace_members() -> None:
    values = [{"display": "Babs", "$ref": "x", "value": BABS}, {"value": JAMES}]
    result = group(op("replace", "members", values))
    expected = ({"value": BABS, "display": "Babs"}, {"value": JAMES})
    assert result.members == [MemberChange("replace", expected)]


def test_rfc7644_3_5_2_3_replace_work_address_by_value_filter() -> None:
    new = {
        "type": "work",
        "streetAddress": "911 Universal City Plaza",
        "primary": True,
        "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US",
        **HOLLYWOOD,
    }
    result = patch(op("replace", 'addresses[type eq "work"]', new))
    assert result.doc["addresses"] == [new, USER_DOC["addresses"][1]]


def test_rfc7644_3_5_2_3_replace_work_address_drops_sub_attributes_not_sent() -> None:
    result = patch(op("replace", 'addresses[type eq "work"]', {"type": "work", "locality": "LA"}))
    assert result.doc["addresses"][0] == {"type": "work", "locality": "LA"}


def test_rfc7644_3_5_2_3_replace_sub_attribute_through_value_filter() -> None:
    result = patch(op("replace", 'addresses[type eq "work"].streetAddress', "1010 Broadway Ave"))
    work = result.doc["addresses"][0]
    assert work["streetAddress"] == "1010 Broadway Ave" and work["locality"] == "Hollywood"
    assert result.doc["addresses"][1] == USER_DOC["addresses"][1]


def test_rfc7644_3_5_2_3_replace_without_path() -> None:
    emails = [
        {"value": "bjensen@example.com", "type": "work", "primary": True},
        {"value": "babs@jensen.org", "type": "home"},
    ]
    result = patch(op("replace", None, {"emails": emails, "nickname": "Babs Jr"}))
    assert result.doc["nickName"] == "Babs Jr" and result.doc["emails"] == emails


def test_rfc7644_3_5_2_3_replace_filter_matching_nothing_is_no_target() -> None:
    with pytest.raises(NoTarget) as exc:
        patch(op("replace", 'emails[type eq "pager"].value', "x"))
    assert exc.value.scim_type == "noTarget"


def test_rfc7644_3_5_2_3_replace_complex_keeps_unnamed_sub_attributes() -> None:
    result = patch(op("replace", "name", {"givenName": "Babs"}))
    assert result.doc["name"] == {"familyName": "Jensen", "givenName": "Babs"}


def test_rfc7644_3_5_2_3_replace_multi_valued_replaces_all_values() -> None:
    result = patch(op("replace", "emails", [{"value": "only@x.org"}]))
    assert result.doc["emails"] == [{"value": "only@x.org"}]


def test_group_replace_without_path_splits_members_from_document() -> None:
    result = group(op("replace", None, {"displayName": "Guides", "members": [{"value": BABS}]}))
    assert result.doc == {"displayName": "Guides"}
    assert result.members == [MemberChange("replace", ({"value": BABS},))]


# ---- names, paths, extensions ----------------------------------------------------


def test_rfc7644_3_5_2_op_names_are_as_the_rfc_spells_them() -> None:
    # Capitalised names are Entra's dialect (dialects.op_case), not the core's.
    with pytest.raises(InvalidSyntax, match="add, replace or remove"):
        patch(op("Replace", "nickName", "B"))


def test_rfc7643_2_1_paths_are_case_insensitive_and_stored_canonically() -> None:
    result = patch(op("replace", "NAME.GIVENNAME", "B"), op("add", "USERTYPE", "Employee"))
    assert result.doc["name"]["givenName"] == "B" and result.doc["userType"] == "Employee"


@pytest.mark.parametrize(
    "key", ["name.givenName", f"{ENTERPRISE_USER}:employeeNumber", 'emails[type eq "work"]']
)
def test_no_path_value_keys_are_attribute_names_not_paths(key: str) -> None:
    # Dotted and URN-qualified keys are Entra's dialect (dialects.dotted_value_keys).
    with pytest.raises(InvalidPath, match="not an attribute name"):
        patch(op("replace", None, {key: "x"}))


def test_no_path_value_with_extension_object() -> None:
    result = patch(op("replace", None, {ENTERPRISE_USER: {"department": "Tours"}}))
    assert result.doc[ENTERPRISE_USER] == {**USER_DOC[ENTERPRISE_USER], "department": "Tours"}


@pytest.mark.parametrize("key", ["id", "meta"])
def test_no_path_value_may_not_carry_read_only_attributes(key: str) -> None:
    # Okta's echo of the resource's own id is dropped by dialects.echoed_read_only first.
    with pytest.raises(MutabilityViolation):
        patch(op("replace", None, {key: "x", "title": "T"}))


def test_rfc7644_3_5_2_bare_extension_urn_path() -> None:
    value = {"schemas": [ENTERPRISE_USER], "costCenter": "4130"}
    result = patch(op("add", ENTERPRISE_USER, value), doc={"userName": "b"})
    assert result.doc == {"userName": "b", ENTERPRISE_USER: {"costCenter": "4130"}}


# ---- errors ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["id", "meta", "meta.lastModified", "groups", "ID"])
@pytest.mark.parametrize("name", ["add", "replace", "remove"])
def test_rfc7643_2_2_read_only_attributes_are_a_mutability_error(name: str, path: str) -> None:
    with pytest.raises(MutabilityViolation) as exc:
        patch(op(name, path, [{"value": "x"}] if path == "groups" else "x"))
    assert exc.value.scim_type == "mutability" and exc.value.status == 400


def test_rfc7643_2_2_no_path_groups_is_a_mutability_error() -> None:
    with pytest.raises(MutabilityViolation):
        patch(op("replace", None, {"groups": [{"value": "g"}]}))


BAD_PATHS = """foo
name.foo
name.givenName.x
urn:example:unknown:1.0:User:x
emails[type eq]
emails[type eq "work"
emails[type eq "work"]x
emails[type eq "work"].foo
emails[foo eq "x"]
userName[value eq "x"]
name[givenName eq "x"]""".splitlines()


@pytest.mark.parametrize("path", [*BAD_PATHS, "", "   "])
def test_rfc7644_3_5_2_invalid_path(path: str) -> None:
    with pytest.raises(InvalidPath) as exc:
        patch(op("replace", path, "x"))
    assert exc.value.scim_type == "invalidPath"


def test_member_sub_attribute_paths_are_invalid() -> None:
    with pytest.raises(InvalidPath):
        group(op("remove", f'members[value eq "{BABS}"].type'))
    with pytest.raises(InvalidPath):
        group(op("replace", f'members[value eq "{BABS}"]', {"value": "x"}))


ADD_TITLE = [op("add", "title", "x")]


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"Operations": ADD_TITLE},
        {"schemas": ["urn:other"], "Operations": ADD_TITLE},
        {"schemas": PATCH_OP, "Operations": ADD_TITLE},
        {"schemas": [PATCH_OP], "Operations": []},
        {"schemas": [PATCH_OP]},
        {"schemas": [PATCH_OP], "Operations": {"op": "add"}},
        {"schemas": [PATCH_OP], "Operations": ["add"]},
        envelope(op("move", "title", "x")),
        envelope({"path": "title", "value": "x"}),
        envelope(op("add", "title")),
        envelope(op("replace", "title")),
    ],
)
def test_rfc7644_3_5_2_bad_envelope_is_invalid_syntax(body: Any) -> None:
    with pytest.raises(InvalidSyntax) as exc:
        parse_operations(body)
    assert exc.value.scim_type == "invalidSyntax"


def test_parse_operations_reads_the_rfc_member_names() -> None:
    [parsed] = parse_operations(envelope({"op": "replace", "path": " title ", "value": "x"}))
    assert (parsed.op, parsed.path, parsed.value) == ("replace", "title", "x")
    with pytest.raises(InvalidSyntax):
        parse_operations({"schemas": [PATCH_OP], "operations": [op("add", "title", "x")]})


TWO_PRIMARIES = [{"value": "a@x", "primary": True}, {"value": "b@x", "primary": True}]


@pytest.mark.parametrize(
    "bad",
    [
        op("replace", "active", "yes"),
        op("replace", None, {"active": "true"}),
        op("replace", "name.givenName", 5),
        op("replace", "name", "Babs"),
        op("add", "emails", "b@x.org"),
        op("add", "emails", TWO_PRIMARIES),
        op("replace", "title", None),
        op("replace", None, ["not", "an", "object"]),
        op("replace", ENTERPRISE_USER, "x"),
        op("replace", 'emails[type eq "work"]', "x"),
    ],
)
def test_rfc7644_3_12_type_errors_are_invalid_value(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidValue) as exc:
        patch(bad)
    assert exc.value.scim_type == "invalidValue"


@pytest.mark.parametrize("value", [[{"display": "x"}], [{"value": ""}], [{"value": 5}], ["id"]])
def test_member_values_need_a_string_id(value: Any) -> None:
    with pytest.raises(InvalidValue):
        group(op("add", "members", value))


def test_rfc7644_3_5_2_request_is_atomic() -> None:
    doc = copy.deepcopy(USER_DOC)
    snapshot = copy.deepcopy(doc)
    first = [op("replace", "nickName", "changed"), op("remove", 'emails[type eq "work"]')]
    with pytest.raises(InvalidValue):
        patch(*first, op("replace", "active", "yes"), doc=doc)
    assert doc == snapshot
    result = patch(*first, op("replace", "name.givenName", "B"), doc=doc)
    assert doc == snapshot and result.doc != snapshot and result.changed


# ---- member_ids_in ----------------------------------------------------------------


def test_member_ids_in_recognises_value_eq_disjunctions() -> None:
    def ids(text: str) -> list[str] | None:
        node = parse_filter(GROUP, f"members[{text}]")
        assert isinstance(node, ValuePath)
        return member_ids_in(node.inner)

    assert ids('value eq "a"') == ["a"]
    assert ids('value eq "a" or value eq "b" or VALUE EQ "c"') == ["a", "b", "c"]
    for other in (
        'value ne "a"',
        'type eq "User"',
        'value eq "a" and type eq "User"',
        'value eq "a" or type eq "User"',
        'value co "a"',
        "value pr",
    ):
        assert ids(other) is None, other
