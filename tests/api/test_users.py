"""Users over HTTP (RFC 7644 §3.3, §3.4.1, §3.5.1, §3.5.2, §3.6), on the configured database."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine

from roster.directory.settings.context import ConnectionContext
from roster.provisioning import resources as actions
from roster.scim.dialects import profile_for
from roster.scim.schema import USER
from tests.conftest import (
    ENTERPRISE,
    PATCH_OP,
    USER_SCHEMA,
    Scim,
    wait_for_lock_waiter,
)


def test_create_returns_201_with_location_etag_and_no_password(scim: Scim) -> None:
    response = scim.post(
        "/Users",
        {
            "schemas": [USER_SCHEMA, ENTERPRISE],
            "userName": "bjensen@example.com",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
            "password": "t1meMa$heen",
            ENTERPRISE: {"employeeNumber": "701984", "department": "Tour Operations"},
        },
    )
    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/scim+json")
    body = response.json()
    assert response.headers["Location"] == body["meta"]["location"]
    assert response.headers["ETag"] == body["meta"]["version"]
    assert body["meta"]["resourceType"] == "User"
    assert "password" not in body
    assert body[ENTERPRISE]["employeeNumber"] == "701984"
    assert body["schemas"] == [USER_SCHEMA, ENTERPRISE]
    fetched = scim.get(f"/Users/{body['id']}").json()
    assert fetched == body
    assert "password" not in scim.get(f"/Users/{body['id']}?attributes=password").json()


def test_read_only_attributes_in_body_are_ignored(scim: Scim) -> None:
    body = scim.create_user("ro", id="forged", meta={"version": "x"}, groups=[{"value": "g"}])
    assert body["id"] != "forged"
    assert body["groups"] == []


def test_attribute_names_are_case_insensitive_and_stored_canonically(scim: Scim) -> None:
    body = scim.create_user(
        "ci", NAME={"GivenName": "Ann"}, Emails=[{"Value": "a@x.org", "TYPE": "work"}]
    )
    assert body["name"] == {"givenName": "Ann"}
    assert body["emails"] == [{"value": "a@x.org", "type": "work"}]


def test_unknown_declared_extension_is_kept_losslessly(scim: Scim) -> None:
    ext = "urn:example:params:scim:schemas:extension:acme:1.0:User"
    data = {"badge": {"number": 7, "colours": ["red", None]}, "flag": True}
    body = scim.create_user("ext", schemas=[USER_SCHEMA, ext], **{ext: data})
    assert body[ext] == data
    assert ext in body["schemas"]
    assert scim.get(f"/Users/{body['id']}").json()[ext] == data


def test_username_is_unique_case_insensitively_per_connection(scim: Scim) -> None:
    scim.create_user("Alice@Example.com")
    response = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "alice@example.COM"})
    assert response.status_code == 409
    assert response.json()["scimType"] == "uniqueness"
    assert response.json()["status"] == "409"


def test_missing_username_is_invalid_value(scim: Scim) -> None:
    response = scim.post("/Users", {"schemas": [USER_SCHEMA], "displayName": "x"})
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
    assert "userName" in response.json()["detail"]


def test_wrong_type_is_invalid_value_and_changes_nothing(scim: Scim) -> None:
    response = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "t", "active": "yes"})
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
    assert scim.get("/Users").json()["totalResults"] == 0


def test_put_replaces_and_ignores_id_meta_groups(scim: Scim) -> None:
    user = scim.create_user("put", title="Engineer", displayName="P")
    sent = {**user, "title": None, "nickName": "Pat", "id": "other", "groups": [{"value": "g"}]}
    sent.pop("displayName")
    response = scim.put(f"/Users/{user['id']}", sent)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == user["id"]
    assert body["nickName"] == "Pat"
    assert "title" not in body and "displayName" not in body
    assert body["meta"]["version"] != user["meta"]["version"]
    assert body["meta"]["created"] == user["meta"]["created"]


def test_put_to_taken_username_conflicts(scim: Scim) -> None:
    scim.create_user("one")
    two = scim.create_user("two")
    response = scim.put(f"/Users/{two['id']}", {"schemas": [USER_SCHEMA], "userName": "ONE"})
    assert response.status_code == 409
    assert scim.get(f"/Users/{two['id']}").json()["userName"] == "two"


def test_patch_answers_200_with_resource(scim: Scim) -> None:
    user = scim.create_user("patchme", emails=[{"value": "w@x.org", "type": "work"}])
    response = scim.patch(
        f"/Users/{user['id']}",
        [
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "new@x.org"},
            {"op": "add", "path": "name.givenName", "value": "Pat"},
            {"op": "add", "value": {"title": "Boss", ENTERPRISE: {"department": "Ops"}}},
        ],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["emails"] == [{"value": "new@x.org", "type": "work"}]
    assert body["name"] == {"givenName": "Pat"}
    assert body["title"] == "Boss"
    assert body[ENTERPRISE] == {"department": "Ops"}
    assert response.headers["ETag"] == body["meta"]["version"]


def test_patch_is_atomic(scim: Scim) -> None:
    user = scim.create_user("atomic", title="Before")
    response = scim.patch(
        f"/Users/{user['id']}",
        [
            {"op": "replace", "path": "title", "value": "After"},
            {"op": "replace", "path": 'emails[type eq "home"].value', "value": "x@y.z"},
        ],
    )
    assert response.status_code == 400
    assert response.json()["scimType"] == "noTarget"
    after = scim.get(f"/Users/{user['id']}").json()
    assert after["title"] == "Before"
    assert after["meta"]["version"] == user["meta"]["version"]


def test_patch_mutability(scim: Scim) -> None:
    user = scim.create_user("mut")
    for path in ("id", "meta.created", "groups"):
        response = scim.patch(
            f"/Users/{user['id']}", [{"op": "replace", "path": path, "value": "x"}]
        )
        assert response.status_code == 400, path
        assert response.json()["scimType"] == "mutability", path


def test_patch_invalid_path_and_syntax(scim: Scim) -> None:
    user = scim.create_user("bad")
    response = scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "nope", "value": 1}])
    assert (response.status_code, response.json()["scimType"]) == (400, "invalidPath")
    response = scim.patch(f"/Users/{user['id']}", [{"op": "jump", "path": "title", "value": 1}])
    assert (response.status_code, response.json()["scimType"]) == (400, "invalidSyntax")
    response = scim.patch(f"/Users/{user['id']}", [{"op": "remove"}])
    assert (response.status_code, response.json()["scimType"]) == (400, "noTarget")


def test_deactivated_user_stays_readable_and_findable(scim: Scim) -> None:
    user = scim.create_user("sleepy", active=True)
    assert (
        scim.patch(
            f"/Users/{user['id']}", [{"op": "replace", "value": {"active": False}}]
        ).status_code
        == 200
    )
    assert scim.get(f"/Users/{user['id']}").json()["active"] is False
    found = scim.get("/Users", params={"filter": "active eq false"}).json()
    assert [r["id"] for r in found["Resources"]] == [user["id"]]


def test_delete_then_404(scim: Scim) -> None:
    user = scim.create_user("gone")
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    response = scim.get(f"/Users/{user['id']}")
    assert response.status_code == 404
    assert response.json()["status"] == "404"
    assert scim.delete(f"/Users/{user['id']}").status_code == 404


def test_etags(scim: Scim) -> None:
    user = scim.create_user("etag")
    version = user["meta"]["version"]
    assert scim.get(f"/Users/{user['id']}", headers={"If-None-Match": version}).status_code == 304
    assert scim.get(f"/Users/{user['id']}", headers={"If-None-Match": 'W/"999"'}).status_code == 200
    stale = scim.patch(
        f"/Users/{user['id']}",
        [{"op": "replace", "path": "title", "value": "x"}],
        headers={"If-Match": 'W/"999"'},
    )
    assert stale.status_code == 412
    fresh = scim.patch(
        f"/Users/{user['id']}",
        [{"op": "replace", "path": "title", "value": "x"}],
        headers={"If-Match": version},
    )
    assert fresh.status_code == 200
    assert scim.delete(f"/Users/{user['id']}", headers={"If-Match": version}).status_code == 412
    assert scim.get(f"/Users/{user['id']}").json()["title"] == "x"


def test_attributes_and_excluded_attributes_on_reads(scim: Scim) -> None:
    user = scim.create_user(
        "proj",
        name={"givenName": "A", "familyName": "B"},
        title="T",
        **{ENTERPRISE: {"department": "D", "costCenter": "C"}},
    )
    only = scim.get(
        f"/Users/{user['id']}",
        params={
            "attributes": f"name.givenName,{ENTERPRISE}:department",
        },
    ).json()
    assert set(only) == {"schemas", "id", "name", ENTERPRISE}
    assert only["name"] == {"givenName": "A"}
    assert only[ENTERPRISE] == {"department": "D"}
    without = scim.get(
        f"/Users/{user['id']}", params={"excludedAttributes": "title,meta,id"}
    ).json()
    assert "title" not in without and "meta" not in without
    assert without["id"] == user["id"]  # returned "always"
    listed = scim.get("/Users", params={"attributes": "userName"}).json()["Resources"][0]
    assert set(listed) == {"schemas", "id", "userName"}


def test_a_value_filter_in_attributes_returns_the_matching_elements(scim: Scim) -> None:
    """Microsoft's SCIM test collection asks ``attributes=emails[type eq "work"]``."""
    emails = [
        {"value": "work@corp.test", "type": "work", "primary": True},
        {"value": "home@example.test", "type": "home"},
    ]
    user = scim.create_user("filtered", emails=emails)
    work = scim.get(f"/Users/{user['id']}", params={"attributes": 'emails[type eq "work"]'})
    assert work.status_code == 200, work.text
    assert work.json()["emails"] == [emails[0]]
    by_value = scim.get("/Users", params={"attributes": 'emails[value eq "home@example.test"]'})
    [listed] = by_value.json()["Resources"]
    assert set(listed) == {"schemas", "id", "emails"} and listed["emails"] == [emails[1]]
    subs = scim.get(f"/Users/{user['id']}", params={"attributes": 'emails[type eq "home"].value'})
    assert subs.json()["emails"] == [{"value": "home@example.test"}]
    for bad in ("emails[type eq]", 'userName[type eq "x"]'):
        refused = scim.get(f"/Users/{user['id']}", params={"attributes": bad})
        assert refused.status_code == 400, bad
        assert refused.json()["scimType"] == "invalidValue"


# ---- versions, ETags and concurrent PATCHes ----------------------------------------------


def test_user_version_changes_when_its_groups_change(scim: Scim) -> None:
    user = scim.create_user("joiner")
    group = scim.create_group("Team")
    response = scim.patch(
        f"/Groups/{group['id']}",
        [{"op": "add", "path": "members", "value": [{"value": user["id"]}]}],
    )
    assert response.status_code == 200
    response = scim.get(f"/Users/{user['id']}", headers={"If-None-Match": user["meta"]["version"]})
    assert response.status_code == 200  # groups changed, so the old ETag must not match


def test_not_modified_response_carries_the_etag(scim: Scim) -> None:
    # RFC 7232 §4.1: a 304 MUST carry the ETag a 200 would have carried.
    user = scim.create_user("cached")
    response = scim.get(f"/Users/{user['id']}", headers={"If-None-Match": user["meta"]["version"]})
    assert response.status_code == 304
    assert response.headers.get("ETag") == user["meta"]["version"]


def _patch_body(path: str, value: Any) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": path, "value": value}]}


def test_concurrent_patches_do_not_lose_updates(scim: Scim, engine: Engine) -> None:
    # PostgreSQL (READ COMMITTED): patch() reads the document without a row lock and
    # update_resource() writes version = read_version + 1 without checking it, so two
    # overlapping PATCHes (two server processes) lose one change and share one ETag.
    user = scim.create_user("racer")
    ctx = ConnectionContext(
        scim.tenant_id,
        "t",
        scim.connection_pk,
        scim.connection_id,
        "generic",
        "http://testserver",
        profile_for("generic"),
    )
    first = engine.connect()
    tx = first.begin()
    a = actions.patch(first, ctx, USER, user["id"], _patch_body("title", "A"), None, [], [])
    results: dict[str, actions.Result] = {}

    def second() -> None:
        with engine.begin() as conn:
            results["b"] = actions.patch(
                conn, ctx, USER, user["id"], _patch_body("nickName", "B"), None, [], []
            )

    thread = threading.Thread(target=second)
    thread.start()
    if engine.dialect.name == "postgresql":
        # Wait (bounded) until the second transaction is blocked on our row, so the race
        # really happens; SQLite's BEGIN IMMEDIATE serialises the two whatever the timing.
        wait_for_lock_waiter(engine)
    tx.commit()
    first.close()
    thread.join(timeout=30)
    assert not thread.is_alive()
    final = scim.get(f"/Users/{user['id']}").json()
    assert (final.get("title"), final.get("nickName")) == ("A", "B")
    assert a.etag != results["b"].etag
