"""One unknown member no longer fails a group push (issue 11): POST, PUT and PATCH of a
group skip member values that name no user or group of the connection, apply the rest,
answer the usual success, and the request's log entry names what was skipped. The setting
``strict_members=true`` restores the 400 (and then nothing changes)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from roster.directory.admin import connection_settings, tenancy
from roster.directory.journal import system_log
from roster.directory.settings import registry
from tests.conftest import GROUP_SCHEMA, Scim, new_connection

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def set_strict(engine: Engine, scim: Scim) -> None:
    with engine.begin() as conn:
        row = tenancy.get_connection(conn, scim.connection_id)
        connection_settings.configure(conn, row, ["strict_members=true"], [])


def request_entry(
    engine: Engine, scim: Scim, method: str, actor: str = "scim"
) -> system_log.LogEntry:
    with engine.connect() as conn:
        entries = system_log.recent(conn, scim.tenant_id, limit=50)
    return next(e for e in entries if e.actor == actor and e.method == method)


def member_ids(scim: Scim, gid: str) -> list[str]:
    return sorted(m["value"] for m in scim.get(f"/Groups/{gid}").json().get("members", []))


def body(name: str, members: list[str]) -> dict[str, Any]:
    return {
        "schemas": [GROUP_SCHEMA],
        "displayName": name,
        "members": [{"value": m} for m in members],
    }


def test_a_push_with_one_unknown_member_applies_the_others(engine: Engine, scim: Scim) -> None:
    users = [scim.create_user(f"u{i}")["id"] for i in range(3)]
    nested = scim.create_group("Nested")["id"]
    response = scim.post("/Groups", body("Eng", [users[0], "deleted-meanwhile", nested, users[1]]))
    assert response.status_code == 201, response.text
    gid = response.json()["id"]
    assert sorted(m["value"] for m in response.json()["members"]) == sorted(
        [users[0], users[1], nested]
    )
    assert member_ids(scim, gid) == sorted([users[0], users[1], nested])
    entry = request_entry(engine, scim, "POST")
    assert entry.status == 201 and entry.resource_id == gid
    assert entry.detail is not None and entry.detail.startswith("warning:")
    assert "'deleted-meanwhile'" in entry.detail and users[0] not in entry.detail

    # PUT: the whole member list is replaced by the known ones.
    response = scim.put(f"/Groups/{gid}", body("Eng", [users[2], "gone-1", "gone-2"]))
    assert response.status_code == 200
    assert [m["value"] for m in response.json()["members"]] == [users[2]]
    detail = request_entry(engine, scim, "PUT").detail or ""
    assert "'gone-1'" in detail and "'gone-2'" in detail

    # PATCH add: the unknown value is skipped, the known one joins.
    add = [{"op": "add", "path": "members", "value": [{"value": "nobody"}, {"value": users[0]}]}]
    response = scim.patch(f"/Groups/{gid}", add)
    assert response.status_code == 200
    assert member_ids(scim, gid) == sorted([users[0], users[2]])
    assert "'nobody'" in (request_entry(engine, scim, "PATCH").detail or "")

    # A request that skips nothing has no warning.
    response = scim.patch(f"/Groups/{gid}", [{"op": "add", "path": "members",
                                             "value": [{"value": users[1]}]}])  # fmt: skip
    assert response.status_code == 200
    assert request_entry(engine, scim, "PATCH").detail is None


def test_members_of_another_connection_are_unknown_here(
    engine: Engine, client: TestClient, scim: Scim
) -> None:
    other = new_connection(engine, client, tenant=scim.tenant)
    stranger = other.create_user("stranger")["id"]
    mine = scim.create_user("mine")["id"]
    response = scim.post("/Groups", body("G", [stranger, mine]))
    assert response.status_code == 201
    assert [m["value"] for m in response.json()["members"]] == [mine]
    assert stranger in (request_entry(engine, scim, "POST").detail or "")


def test_on_a_204_profile_the_log_still_names_the_skipped(
    engine: Engine, client: TestClient
) -> None:
    okta = new_connection(engine, client, "okta")
    uid = okta.create_user("u")["id"]
    gid = okta.create_group("G")["id"]
    add = [{"op": "add", "path": "members", "value": [{"value": uid}, {"value": "fake-member-id"}]}]
    assert okta.patch(f"/Groups/{gid}", add).status_code == 204
    assert member_ids(okta, gid) == [uid]
    assert "'fake-member-id'" in (request_entry(engine, okta, "PATCH").detail or "")


def test_bulk_group_operations_skip_too(engine: Engine, scim: Scim) -> None:
    uid = scim.create_user("u")["id"]
    bulk = {
        "schemas": [BULK],
        "Operations": [
            {"method": "POST", "bulkId": "g", "path": "/Groups", "data": body("B", [uid, "x"])}
        ],
    }
    response = scim.post("/Bulk", bulk)
    assert response.status_code == 200
    assert response.json()["Operations"][0]["status"] == "201"
    gid = response.json()["Operations"][0]["location"].rsplit("/", 1)[1]
    assert member_ids(scim, gid) == [uid]
    # The operation's own entry (actor bulk) names it.
    assert "'x'" in (request_entry(engine, scim, "POST", "bulk").detail or "")


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_strict_members_refuses_and_changes_nothing(
    engine: Engine, scim: Scim, method: str
) -> None:
    set_strict(engine, scim)
    users = [scim.create_user(f"s{i}")["id"] for i in range(2)]
    group = scim.create_group("Strict", [users[0]])
    gid = group["id"]
    if method == "POST":
        response = scim.post("/Groups", body("Other", [users[1], "unknown-one"]))
    elif method == "PUT":
        response = scim.put(f"/Groups/{gid}", body("Renamed", [users[1], "unknown-one"]))
    else:
        added = [{"value": users[1]}, {"value": "unknown-one"}]
        ops: list[dict[str, Any]] = [
            {"op": "replace", "path": "displayName", "value": "Renamed"},
            {"op": "add", "path": "members", "value": added},
        ]
        response = scim.patch(f"/Groups/{gid}", ops)
    assert response.status_code == 400, response.text
    assert response.json()["scimType"] == "invalidValue"
    assert "unknown-one" in response.json()["detail"]
    assert "strict_members" in response.json()["detail"]
    listing = scim.get("/Groups").json()
    assert listing["totalResults"] == 1
    after = scim.get(f"/Groups/{gid}").json()
    assert after["displayName"] == "Strict"
    assert after["meta"]["version"] == group["meta"]["version"]
    assert [m["value"] for m in after["members"]] == [users[0]]


def test_the_setting_is_listed_with_its_default(engine: Engine, scim: Scim) -> None:
    with engine.begin() as conn:
        row = tenancy.get_connection(conn, scim.connection_id)
        shown = {e.name: e for e in registry.effective(row)}
    assert (shown["strict_members"].value, shown["strict_members"].source) == (False, "default")
    set_strict(engine, scim)
    with engine.begin() as conn:
        row = tenancy.get_connection(conn, scim.connection_id)
        shown = {e.name: e for e in registry.effective(row)}
    assert (shown["strict_members"].value, shown["strict_members"].source) == (True, "override")
