"""The host app's read API: API keys, pagination, filters, groups, the OpenAPI document."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from roster.directory import apikeys, employees, locations
from roster.directory.employees import ManualEmployee
from tests.conftest import Scim, new_connection
from tests.directory.conftest import Api, api_for, create, user_body
from tests.openapi_check import DOC, check_response


def test_only_a_valid_api_key_reads(engine: Engine, client: TestClient, scim: Scim) -> None:
    create(scim, "a", "a@corp.test")
    with engine.begin() as conn:
        issued = apikeys.create(conn, scim.tenant_id, "reader")
    assert issued.key.startswith("rk_")
    good = {"Authorization": f"Bearer {issued.key}"}
    assert client.get("/api/v1/employees", headers=good).status_code == 200
    for header in (
        None,
        f"Bearer {scim.token}",  # a SCIM token is no API key
        f"Bearer {issued.key}x",
        f"Bearer rk_{issued.row.id}_",
        "Basic abc",
    ):
        response = client.get(
            "/api/v1/employees", headers={"Authorization": header} if header else {}
        )
        assert response.status_code == 401
        check_response("/employees", 401, response.json())
    with engine.begin() as conn:
        apikeys.revoke(conn, scim.tenant_id, issued.row.id)
    assert client.get("/api/v1/employees", headers=good).status_code == 401


def test_a_key_reads_its_own_tenant_only(engine: Engine, client: TestClient, scim: Scim) -> None:
    create(scim, "mine", "mine@corp.test")
    other = new_connection(engine, client)
    create(other, "theirs", "theirs@corp.test")
    mine, theirs = api_for(engine, client, scim.tenant), api_for(engine, client, other.tenant)
    assert [e["email"] for e in mine.employees()] == ["mine@corp.test"]
    assert [e["email"] for e in theirs.employees()] == ["theirs@corp.test"]
    their_id = theirs.employees()[0]["id"]
    assert mine.employee(their_id) is None


def test_cursor_pages_and_filters(engine: Engine, scim: Scim, api: Api) -> None:
    for i in range(5):
        create(scim, f"u{i}", f"u{i}@corp.test")
    with engine.begin() as conn:
        locations.add(conn, scim.tenant_id, "HQ")
        employees.add_manual(
            conn, scim.tenant_id, ManualEmployee("temp@corp.test", {"title": "Temp"}, ["HQ"])
        )
    first = api.http.get(
        "/api/v1/employees", params={"limit": 2}, headers={"Authorization": f"Bearer {api.key}"}
    ).json()
    assert len(first["items"]) == 2 and first["nextCursor"]
    paged = api.employees(limit=2)
    assert [e["email"] for e in paged] == [f"u{i}@corp.test" for i in range(5)] + ["temp@corp.test"]
    assert [e["email"] for e in api.employees(source="manual")] == ["temp@corp.test"]
    assert len(api.employees(source="synced")) == 5
    assert len(api.employees(source=scim.connection_id)) == 5
    assert len(api.employees(location="HQ")) == 6  # all-locations sync, plus the manual one
    # updated_since: only what changed at or after the mark.
    mark = api.employees()[-1]["updatedAt"]
    user_id = scim.get("/Users", params={"filter": 'userName eq "u3"'}).json()["Resources"][0]["id"]
    scim.patch(f"/Users/{user_id}", [{"op": "replace", "path": "title", "value": "Lead"}])
    changed = api.employees(updated_since=mark)
    assert {e["email"] for e in changed} >= {"u3@corp.test"}
    assert all(e["updatedAt"] >= mark for e in changed)
    assert api.employees(updated_since="2999-01-01T00:00:00Z") == []
    bad = api.http.get(
        "/api/v1/employees",
        params={"cursor": "nope", "status": "gone"},
        headers={"Authorization": f"Bearer {api.key}"},
    )
    assert bad.status_code == 400
    check_response("/employees", 400, bad.json())


def test_groups_with_their_employee_members(scim: Scim, api: Api) -> None:
    a = create(scim, "a", "a@corp.test")
    b = create(scim, "b", "b@corp.test")
    group = scim.create_group("Front desk", [a["id"], b["id"]])
    [listed] = api.groups()
    assert listed["id"] == group["id"] and listed["displayName"] == "Front desk"
    assert sorted(m["email"] for m in listed["members"]) == ["a@corp.test", "b@corp.test"]
    person = api.by_email("a@corp.test")
    assert person is not None
    assert person["groups"] == [
        {"id": group["id"], "displayName": "Front desk", "connection": scim.connection_id}
    ]


def test_the_openapi_document_describes_every_route(client: TestClient) -> None:
    served = client.get("/api/v1/openapi.json")
    assert served.status_code == 200
    assert served.json()["openapi"].startswith("3.1")
    app = client.app
    mount = next(r for r in app.routes if isinstance(r, Mount) and r.path == "/api/v1")  # type: ignore[attr-defined]
    paths = {
        r.path
        for r in mount.routes
        if isinstance(r, Route) and r.path not in ("/openapi.json", "/{rest:path}")
    }
    assert paths == set(DOC["paths"])
    # Unknown paths under the API answer in the API's error shape.
    unknown = client.get("/api/v1/nothing")
    assert unknown.status_code == 404 and "error" in unknown.json()


def test_a_rejected_write_is_invisible_to_the_reader(scim: Scim, api: Api) -> None:
    bad = user_body(
        "x",
        "x@corp.test",
        **{"urn:scim:schemas:extension:envoy:core:1.0:User": {"remoteStatus": "nope"}},
    )
    assert scim.post("/Users", bad).status_code == 400
    assert api.employees() == []


def test_group_changes_show_in_updated_since(scim: Scim, api: Api) -> None:
    # An employee's groups are part of what the read API shows, so joining, leaving, a
    # rename and a group's deletion give its employees a new updatedAt.
    member = create(scim, "member")
    other = create(scim, "other")
    group = scim.create_group("Crew")
    steps: list[list[dict[str, Any]] | None] = [
        [{"op": "add", "path": "members", "value": [{"value": member["id"]}]}],
        [{"op": "replace", "path": "displayName", "value": "Crew 2"}],
        [{"op": "remove", "path": f'members[value eq "{member["id"]}"]'}],
        [{"op": "add", "path": "members", "value": [{"value": member["id"]}]}],
        None,  # DELETE of the group
    ]
    for n, operations in enumerate(steps):
        # Someone else changes last, so the member is not the newest before each step.
        title = [{"op": "replace", "path": "title", "value": f"T{n}"}]
        assert scim.patch(f"/Users/{other['id']}", title).status_code == 200
        mark = max(e["updatedAt"] for e in api.employees())
        if operations is None:
            assert scim.delete(f"/Groups/{group['id']}").status_code == 204
        else:
            assert scim.patch(f"/Groups/{group['id']}", operations).status_code == 200
        changed = {e["email"] for e in api.employees(updated_since=mark)}
        assert "member@corp.test" in changed, operations
