"""Compatibility profiles through the API: chosen by the connection's IdP kind, overridable
per connection, each quirk's effect visible in the stored resource."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from roster.directory.admin import connection_settings, tenancy
from tests.conftest import (
    ENTERPRISE,
    GROUP_SCHEMA,
    USER_SCHEMA,
    Scim,
    StatementCounter,
    new_connection,
)


def configure(engine: Engine, scim: Scim, *sets: str, reset: tuple[str, ...] = ()) -> None:
    with engine.begin() as conn:
        row = tenancy.get_connection(conn, scim.connection_id)
        connection_settings.configure(conn, row, list(sets), list(reset))


@pytest.fixture
def entra(engine: Engine, client: TestClient) -> Scim:
    return new_connection(engine, client, "entra")


@pytest.fixture
def okta(engine: Engine, client: TestClient) -> Scim:
    return new_connection(engine, client, "okta")


def members(scim: Scim, gid: str) -> list[str]:
    return sorted(m["value"] for m in scim.get(f"/Groups/{gid}").json().get("members", []))


@pytest.mark.parametrize(("idp", "status"), [("okta", 200), ("entra", 204), ("generic", 200)])
def test_user_patch_answer_follows_the_profile(
    engine: Engine, client: TestClient, idp: str, status: int
) -> None:
    # Entra takes 200 or 204; Microsoft's SCIM test collection expects 204 (README).
    scim = new_connection(engine, client, idp)
    uid = scim.create_user("u")["id"]
    r = scim.patch(f"/Users/{uid}", [{"op": "replace", "path": "title", "value": "Boss"}])
    assert r.status_code == status
    assert r.headers["ETag"] == scim.get(f"/Users/{uid}").headers["ETag"]
    assert (r.content == b"") == (status == 204)
    assert scim.get(f"/Users/{uid}").json()["title"] == "Boss"


@pytest.mark.parametrize(("idp", "status"), [("okta", 204), ("entra", 204), ("generic", 200)])
def test_group_patch_answer_follows_the_profile(
    engine: Engine, client: TestClient, idp: str, status: int
) -> None:
    scim = new_connection(engine, client, idp)
    gid = scim.create_group("G")["id"]
    r = scim.patch(f"/Groups/{gid}", [{"op": "replace", "path": "displayName", "value": "H"}])
    assert r.status_code == status
    assert r.headers["ETag"] == scim.get(f"/Groups/{gid}").headers["ETag"]
    assert (r.content == b"") == (status == 204)
    assert scim.get(f"/Groups/{gid}").json()["displayName"] == "H"


def test_an_override_changes_the_answer_and_reset_restores_it(engine: Engine, okta: Scim) -> None:
    gid = okta.create_group("G")["id"]
    uid = okta.create_user("u")["id"]
    configure(engine, okta, "group_patch_response=resource", "user_patch_response=no_content")
    add = [{"op": "add", "path": "members", "value": [{"value": uid}]}]
    r = okta.patch(f"/Groups/{gid}", add)
    assert r.status_code == 200 and [m["value"] for m in r.json()["members"]] == [uid]
    r = okta.patch(f"/Users/{uid}", [{"op": "replace", "value": {"active": False}}])
    assert r.status_code == 204
    configure(engine, okta, reset=("group_patch_response", "user_patch_response"))
    assert okta.patch(f"/Groups/{gid}", [{"op": "remove", "path": "members"}]).status_code == 204
    assert okta.patch(f"/Users/{uid}", [{"op": "replace", "value": {"active": True}}]).json()[
        "active"
    ]


def test_okta_group_patch_costs_the_same_in_any_group_size(
    okta: Scim, count_statements: Callable[[], StatementCounter]
) -> None:
    # 204 renders nothing, so the member list is never read (RFC 7644 §3.5.2 allows it).
    users = [okta.create_user(f"m{i}")["id"] for i in range(41)]
    small = okta.create_group("small", users[:1])["id"]
    large = okta.create_group("large", users[:40])["id"]

    def cost(gid: str) -> int:
        body: list[dict[str, Any]] = [
            {"op": "remove", "path": f'members[value eq "{users[0]}"]'},
            {"op": "add", "path": "members", "value": [{"value": users[40], "display": "x"}]},
        ]
        with count_statements() as counter:
            assert okta.patch(f"/Groups/{gid}", body).status_code == 204
        return counter.count

    assert cost(small) == cost(large)


def test_entra_upserts_filtered_values_and_generic_answers_no_target(
    engine: Engine, client: TestClient, entra: Scim
) -> None:
    # Primary, so the user keeps a primary email once Entra adds a work one (the directory
    # syncs only users with one: the marked one, else the only one).
    home = {"value": "h@x.org", "type": "home", "primary": True}
    uid = entra.create_user("u", emails=[home])["id"]
    body = [
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "w@x.org"},
        {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555"},
    ]
    assert entra.patch(f"/Users/{uid}", body).status_code == 204  # the entra profile's answer
    got = entra.get(f"/Users/{uid}").json()
    assert got["emails"] == [
        home,
        {"type": "work", "value": "w@x.org"},
    ]
    # The first mobile number is the primary one, as Entra's create would have sent it.
    assert got["phoneNumbers"] == [{"type": "mobile", "value": "+1 555", "primary": True}]
    # In place the second time: no second work email.
    body = [{"op": "Replace", "path": 'emails[type eq "work"].value', "value": "w2@x.org"}]
    assert entra.patch(f"/Users/{uid}", body).status_code == 204
    assert [e["value"] for e in entra.get(f"/Users/{uid}").json()["emails"]] == [
        "h@x.org",
        "w2@x.org",
    ]

    generic = new_connection(engine, client)
    gid = generic.create_user("u")["id"]
    r = generic.patch(
        f"/Users/{gid}", [{"op": "replace", "path": 'emails[type eq "work"].value', "value": "w@x"}]
    )
    assert r.status_code == 400 and r.json()["scimType"] == "noTarget"


def _manager(scim: Scim, uid: str) -> Any:
    return scim.get(f"/Users/{uid}").json()[ENTERPRISE].get("manager")


def test_entra_manager_forms_are_stored_and_returned_as_an_object(entra: Scim) -> None:
    boss = entra.create_user("boss", displayName="The Boss")["id"]
    other = entra.create_user("other")["id"]
    uid = entra.create_user("emp", **{ENTERPRISE: {"department": "Ops"}})["id"]
    ref = f"http://testserver{entra.base}/Users/{boss}"
    path = f"{ENTERPRISE}:manager"

    # Bare string id ([ISSUES] SCIM-SDK #686). User PATCH answers 204 on the entra profile.
    r = entra.patch(f"/Users/{uid}", [{"op": "add", "path": path, "value": boss}])
    assert r.status_code == 204
    assert _manager(entra, uid) == {
        "value": boss,
        "$ref": ref,
        "displayName": "The Boss",
    }
    version = entra.get(f"/Users/{uid}").headers["ETag"]

    # Re-sent unchanged, in each form: harmless, the version does not move.
    for value in (boss, {"value": boss}, [{"$ref": "http://elsewhere/x", "value": boss}]):
        assert (
            entra.patch(
                f"/Users/{uid}", [{"op": "Add", "path": "manager", "value": value}]
            ).status_code
            == 204
        )
        assert _manager(entra, uid) == {"value": boss, "$ref": ref, "displayName": "The Boss"}
        assert entra.get(f"/Users/{uid}").headers["ETag"] == version

    # A new manager: $ref and displayName follow it.
    entra.patch(f"/Users/{uid}", [{"op": "replace", "path": path, "value": {"value": other}}])
    assert _manager(entra, uid) == {
        "value": other,
        "$ref": f"http://testserver{entra.base}/Users/{other}",
    }

    # A manager not provisioned (yet): kept as sent, no $ref.
    entra.patch(f"/Users/{uid}", [{"op": "replace", "path": path, "value": "not-here"}])
    assert _manager(entra, uid) == {"value": "not-here"}

    r = entra.patch(f"/Users/{uid}", [{"op": "replace", "path": path, "value": uid}])
    assert r.status_code == 400 and "own manager" in r.json()["detail"]
    entra.patch(f"/Users/{uid}", [{"op": "Remove", "path": path}])
    assert _manager(entra, uid) is None
    assert entra.get(f"/Users/{uid}").json()[ENTERPRISE] == {"department": "Ops"}


def test_okta_manager_display_name_is_kept(okta: Scim) -> None:
    boss = okta.create_user("boss@x.org", displayName="Boss")["id"]
    body = {ENTERPRISE: {"manager": {"value": boss, "displayName": "boss@x.org"}}}
    uid = okta.create_user("emp@x.org", **body)["id"]
    assert _manager(okta, uid) == {
        "value": boss,
        "displayName": "boss@x.org",
        "$ref": f"http://testserver{okta.base}/Users/{boss}",
    }


def test_case_insensitive_attribute_names_everywhere(entra: Scim) -> None:
    # [ENTRA-REF]: "Department", "Manager": {"Value": …}, "Primary", filter DisplayName.
    boss = entra.create_user("boss")["id"]
    body = {
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "UserName": "cap",
        "Emails": [{"Primary": True, "Type": "work", "Value": "cap@x.org"}],
        ENTERPRISE: {"Department": "Sales", "Manager": {"Value": boss}},
    }
    r = entra.post("/Users", body)
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["userName"] == "cap" and got["emails"] == [
        {"primary": True, "type": "work", "value": "cap@x.org"}
    ]
    assert got[ENTERPRISE]["department"] == "Sales" and got[ENTERPRISE]["manager"]["value"] == boss
    entra.patch(f"/Users/{got['id']}", [{"op": "Replace", "path": "Manager.Value", "value": boss}])
    entra.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Sales Team"})
    found = entra.get("/Groups", params={"filter": 'DisplayName eq "sales team"'}).json()
    assert found["totalResults"] == 1


def test_the_aad_flag_on_the_base_url_is_accepted(entra: Scim) -> None:
    # [ENTRA-KI]: Entra keeps the query flag of the tenant URL on every request.
    entra.create_user("flagged")
    r = entra.get("/Users?aadOptscim062020&filter=userName%20eq%20%22flagged%22")
    assert r.status_code == 200 and r.json()["totalResults"] == 1
    body = {"schemas": [USER_SCHEMA], "userName": "f2", "emails": [{"value": "f2@x.org"}]}
    r = entra.post("/Users?aadOptscim062020", body)
    assert r.status_code == 201


def test_entra_unquoted_external_id_filter(entra: Scim, okta: Scim) -> None:
    # [ENTRA-TUT] Example 1: GET /Users?filter=externalId eq jyoung
    entra.create_user("jy", externalId="jyoung")
    r = entra.get("/Users", params={"filter": "externalId eq jyoung"})
    assert r.status_code == 200 and r.json()["totalResults"] == 1
    r = okta.get("/Users", params={"filter": "externalId eq jyoung"})
    assert r.status_code == 400 and r.json()["scimType"] == "invalidFilter"


def test_okta_manager_display_name_alone_is_accepted(okta: Scim) -> None:
    # Envoy's Okta guide maps only managerDisplayName (the manager's email).
    body = {ENTERPRISE: {"manager": {"displayName": "boss@x.org"}}}
    uid = okta.create_user("emp2@x.org", **body)["id"]
    assert _manager(okta, uid) == {"displayName": "boss@x.org"}
    for bad in ({"displayName": " "}, {"value": ""}, {"value": "", "displayName": "b@x.org"}):
        emails = [{"value": "emp2@x.org", "primary": True}]
        put = {"userName": "emp2@x.org", "emails": emails, ENTERPRISE: {"manager": bad}}
        r = okta.put(f"/Users/{uid}", put)
        assert r.status_code == 400 and r.json()["scimType"] == "invalidValue", bad
        assert "manager" in r.json()["detail"]
    assert _manager(okta, uid) == {"displayName": "boss@x.org"}
