"""Groups and membership (RFC 7644 §3.5.2 member operations; RFC 7643 §4.2)."""

from __future__ import annotations

from sqlalchemy import Engine
from starlette.testclient import TestClient

from roster.directory.admin import connection_settings, tenancy
from tests.conftest import (
    GROUP_SCHEMA,
    Scim,
    new_connection,
)


def strict_members(engine: Engine, scim: Scim) -> None:
    with engine.begin() as conn:
        row = tenancy.get_connection(conn, scim.connection_id)
        connection_settings.configure(conn, row, ["strict_members=true"], [])


def _member_ids(scim: Scim, group_id: str) -> list[str]:
    body = scim.get(f"/Groups/{group_id}").json()
    return sorted(m["value"] for m in body.get("members", []))


def test_create_with_members_and_read_back(scim: Scim) -> None:
    a, b = scim.create_user("a"), scim.create_user("b")
    group = scim.create_group("Eng", [a["id"], b["id"]])
    assert sorted(m["value"] for m in group["members"]) == sorted([a["id"], b["id"]])
    member = group["members"][0]
    assert member["type"] == "User"
    assert member["$ref"].endswith(f"/Users/{member['value']}")
    user = scim.get(f"/Users/{a['id']}").json()
    assert user["groups"] == [
        {
            "value": group["id"],
            "$ref": group["meta"]["location"],
            "display": "Eng",
            "type": "direct",
        }
    ]


def test_display_name_unique_per_connection(scim: Scim) -> None:
    scim.create_group("Sales")
    response = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "sales"})
    assert response.status_code == 409
    assert response.json()["scimType"] == "uniqueness"


def test_unknown_member_is_rejected_and_nothing_is_written_when_strict(
    engine: Engine, scim: Scim
) -> None:
    strict_members(engine, scim)
    response = scim.post(
        "/Groups",
        {"schemas": [GROUP_SCHEMA], "displayName": "G", "members": [{"value": "no-such-user"}]},
    )
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
    assert "no-such-user" in response.json()["detail"]
    assert scim.get("/Groups").json()["totalResults"] == 0


def test_patch_add_remove_replace_members(scim: Scim) -> None:
    users = [scim.create_user(f"u{i}")["id"] for i in range(5)]
    group = scim.create_group("G", [])
    gid = group["id"]
    r = scim.patch(
        f"/Groups/{gid}",
        [{"op": "add", "path": "members", "value": [{"value": u} for u in users[:3]]}],
    )
    assert r.status_code == 200
    assert _member_ids(scim, gid) == sorted(users[:3])
    # remove by value filter: only that member
    r = scim.patch(f"/Groups/{gid}", [{"op": "remove", "path": f'members[value eq "{users[0]}"]'}])
    assert r.status_code == 200
    assert _member_ids(scim, gid) == sorted(users[1:3])
    # remove with path "members" plus a value list: only those members
    r = scim.patch(
        f"/Groups/{gid}", [{"op": "remove", "path": "members", "value": [{"value": users[1]}]}]
    )
    assert _member_ids(scim, gid) == [users[2]]
    # add + remove in one request, applied in order
    r = scim.patch(
        f"/Groups/{gid}",
        [
            {"op": "remove", "path": f'members[value eq "{users[2]}"]'},
            {"op": "add", "path": "members", "value": [{"value": users[3]}, {"value": users[4]}]},
        ],
    )
    assert _member_ids(scim, gid) == sorted(users[3:5])
    # replace all
    r = scim.patch(
        f"/Groups/{gid}", [{"op": "replace", "path": "members", "value": [{"value": users[0]}]}]
    )
    assert _member_ids(scim, gid) == [users[0]]
    # remove all
    r = scim.patch(f"/Groups/{gid}", [{"op": "remove", "path": "members"}])
    assert _member_ids(scim, gid) == []


def test_adding_existing_member_is_harmless(scim: Scim) -> None:
    u = scim.create_user("dup")["id"]
    group = scim.create_group("D", [u])
    r = scim.patch(
        f"/Groups/{group['id']}", [{"op": "add", "path": "members", "value": [{"value": u}]}]
    )
    assert r.status_code == 200
    assert _member_ids(scim, group["id"]) == [u]


def test_member_patch_with_rename_is_atomic(engine: Engine, scim: Scim) -> None:
    strict_members(engine, scim)  # so that the unknown member refuses the request
    u = scim.create_user("x")["id"]
    group = scim.create_group("Before", [u])
    r = scim.patch(
        f"/Groups/{group['id']}",
        [
            {"op": "replace", "value": {"id": group["id"], "displayName": "After"}},
            {"op": "remove", "path": "members", "value": [{"value": u}]},
            {"op": "add", "path": "members", "value": [{"value": "missing"}]},
        ],
    )
    assert r.status_code == 400
    after = scim.get(f"/Groups/{group['id']}").json()
    assert after["displayName"] == "Before"
    assert [m["value"] for m in after["members"]] == [u]


def test_excluded_members_and_etag_changes_on_membership(scim: Scim) -> None:
    u = scim.create_user("m")["id"]
    group = scim.create_group("E", [])
    r = scim.patch(
        f"/Groups/{group['id']}?excludedAttributes=members",
        [{"op": "add", "path": "members", "value": [{"value": u}]}],
    )
    assert r.status_code == 200
    assert "members" not in r.json()
    assert r.json()["meta"]["version"] != group["meta"]["version"]
    body = scim.get(f"/Groups/{group['id']}", params={"excludedAttributes": "members"}).json()
    assert "members" not in body and body["displayName"] == "E"


def test_put_replaces_members(scim: Scim) -> None:
    a, b = scim.create_user("pa")["id"], scim.create_user("pb")["id"]
    group = scim.create_group("P", [a])
    r = scim.put(
        f"/Groups/{group['id']}",
        {"schemas": [GROUP_SCHEMA], "displayName": "P2", "members": [{"value": b}]},
    )
    assert r.status_code == 200
    assert [m["value"] for m in r.json()["members"]] == [b]


def test_deleting_user_removes_membership(scim: Scim) -> None:
    u = scim.create_user("leaver")["id"]
    group = scim.create_group("L", [u])
    assert scim.delete(f"/Users/{u}").status_code == 204
    assert _member_ids(scim, group["id"]) == []


def test_filter_groups_by_member_and_display_name(scim: Scim) -> None:
    u = scim.create_user("fm")["id"]
    g1 = scim.create_group("Alpha", [u])
    scim.create_group("Beta", [])
    found = scim.get("/Groups", params={"filter": f'members[value eq "{u}"]'}).json()
    assert [g["id"] for g in found["Resources"]] == [g1["id"]]
    found = scim.get(
        "/Groups", params={"filter": 'displayName eq "alpha"', "excludedAttributes": "members"}
    ).json()
    assert [g["id"] for g in found["Resources"]] == [g1["id"]]
    found = scim.get("/Users", params={"filter": f'groups.value eq "{g1["id"]}"'}).json()
    assert [x["id"] for x in found["Resources"]] == [u]


def test_a_group_cannot_contain_itself(scim: Scim) -> None:
    group = scim.create_group("Loop", [])
    response = scim.patch(
        f"/Groups/{group['id']}",
        [{"op": "add", "path": "members", "value": [{"value": group["id"]}]}],
    )
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"


def test_groups_can_nest(scim: Scim) -> None:
    inner = scim.create_group("Inner", [])
    outer = scim.create_group("Outer", [inner["id"]])
    assert outer["members"][0]["type"] == "Group"
    assert outer["members"][0]["$ref"].endswith(f"/Groups/{inner['id']}")


def test_a_members_display_is_kept_as_sent(scim: Scim) -> None:
    """RFC 7643 §2.4: display is a default sub-attribute, immutable: set with the member."""
    ann = scim.create_user("ann")["id"]
    bob = scim.create_user("bob")["id"]
    group = scim.post(
        "/Groups",
        {
            "schemas": [GROUP_SCHEMA],
            "displayName": "Shown",
            "members": [{"value": ann, "display": "Ann A."}],
        },
    ).json()
    added = scim.patch(
        f"/Groups/{group['id']}",
        [{"op": "add", "path": "members", "value": [{"value": bob, "Display": "Bob B."}]}],
    )
    assert added.status_code == 200, added.text
    members = {
        m["value"]: m.get("display") for m in scim.get(f"/Groups/{group['id']}").json()["members"]
    }
    assert members == {ann: "Ann A.", bob: "Bob B."}
    too_long = scim.patch(
        f"/Groups/{group['id']}",
        [{"op": "add", "path": "members", "value": [{"value": ann, "display": "x" * 257}]}],
    )
    assert too_long.status_code == 400 and "at most 256" in too_long.json()["detail"]


def test_entra_member_shapes_bare_ids_and_display_name(engine: Engine, client: TestClient) -> None:
    """Microsoft's SCIM test collection: members as a bare id string (answered 204, the
    unknown id skipped) and a member's displayName read back as its display."""
    entra = new_connection(engine, client, "entra")
    user = entra.create_user("kim")["id"]
    group = entra.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "E"}).json()
    patch = [{"op": "add", "path": "members", "value": user}]
    assert entra.patch(f"/Groups/{group['id']}", patch).status_code == 204
    assert _member_ids(entra, group["id"]) == [user]
    unknown = [{"op": "add", "path": "members", "value": "string id 1"}]
    assert entra.patch(f"/Groups/{group['id']}", unknown).status_code == 204
    named = [
        {"op": "add", "path": "members", "value": [{"displayName": "new User", "value": user}]}
    ]
    entra.patch(f"/Groups/{group['id']}", [{"op": "remove", "path": "members"}])
    assert entra.patch(f"/Groups/{group['id']}", named).status_code == 204
    [member] = entra.get(f"/Groups/{group['id']}").json()["members"]
    assert member["display"] == "new User"
    # The generic profile keeps RFC 7644's shapes: a bare string is refused.
    generic = new_connection(engine, client)
    g2 = generic.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "G"}).json()
    answer = generic.patch(f"/Groups/{g2['id']}", patch)
    assert answer.status_code == 400 and answer.json()["scimType"] == "invalidValue"


# ---- versions follow membership ----------------------------------------------------------


def test_group_version_changes_when_a_member_is_deleted(scim: Scim) -> None:
    user = scim.create_user("leaver")
    group = scim.create_group("Team", [user["id"]])
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    response = scim.get(
        f"/Groups/{group['id']}", headers={"If-None-Match": group["meta"]["version"]}
    )
    assert response.status_code == 200  # members changed, so the old ETag must not match
    assert response.json()["members"] == []
