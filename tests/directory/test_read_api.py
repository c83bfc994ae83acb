"""The host app's read API: API keys, pagination, filters, groups, the OpenAPI document."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from roster.directory.admin import apikeys
from roster.directory.people import employees
from roster.directory.people.employees import ManualEmployee
from roster.directory.places import locations
from roster.directory.reads import read_api
from roster.http import api as api_module
from roster.http.app import create_app
from roster.settings import Settings
from tests.conftest import Scim, new_connection
from tests.directory.conftest import Api, api_for, create, user_body
from tests.openapi_check import DOC, check_http, check_response


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
    expected = {f"u{i}@corp.test" for i in range(5)} | {"temp@corp.test"}
    assert sorted(e["email"] for e in paged) == sorted(expected)  # each exactly once
    assert paged == sorted(paged, key=lambda e: (e["createdAt"], e["id"]))
    assert paged == api.employees(limit=500)  # the same order whatever the page size
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


def _check(template: str | None, response: Any) -> dict[str, Any]:
    check_http(template, response.status_code, response.headers["content-type"], response.json())
    return dict(response.json())


def test_every_bad_request_is_a_documented_400(scim: Scim, api: Api) -> None:
    auth = {"Authorization": f"Bearer {api.key}"}
    cases: list[tuple[str, str, dict[str, str], str]] = [
        ("/employees", "/employees", {"location": "NoSuchPlace"}, "unknown location"),
        ("/employees", "/employees", {"status": "gone"}, "status"),
        ("/employees", "/employees", {"source": "nowhere"}, "source"),
        ("/employees", "/employees", {"updated_since": "yesterday"}, "updated_since"),
        ("/employees", "/employees", {"limit": "0"}, "limit"),
        ("/employees", "/employees", {"cursor": "nope"}, "cursor"),
        ("/groups", "/groups", {"limit": "many"}, "limit"),
        ("/groups", "/groups", {"cursor": "nope"}, "cursor"),
    ]
    for path, template, params, names in cases:
        response = api.http.get("/api/v1" + path, params=params, headers=auth)
        assert response.status_code == 400, (path, params, response.text)
        assert names in _check(template, response)["error"]["detail"]
    # An unknown location is a bad filter value, and the message points at this API.
    unknown = api.http.get("/api/v1/employees", params={"location": "NoSuchPlace"}, headers=auth)
    detail = unknown.json()["error"]["detail"]
    assert "'NoSuchPlace'" in detail and "GET /api/v1/locations" in detail
    assert "roster" not in detail  # no CLI command for a host app


def test_every_route_documents_401_and_500_and_its_own_errors() -> None:
    expected = {
        "/employees": {"200", "400", "401", "500"},
        "/employees/{employee_id}": {"200", "400", "401", "404", "500"},
        "/groups": {"200", "400", "401", "500"},
        "/locations": {"200", "400", "401", "500"},
        "/events": {"200", "400", "401", "410", "500"},
    }
    assert {p: set(op["get"]["responses"]) for p, op in DOC["paths"].items()} == expected
    assert set(DOC["components"]["responses"]) >= {"NotFound", "MethodNotAllowed"}


def test_unauthenticated_reads_are_documented_401s(client: TestClient) -> None:
    for path, template in (
        ("/employees", "/employees"),
        ("/employees/x", "/employees/{employee_id}"),
        ("/groups", "/groups"),
        ("/locations", "/locations"),
        ("/events", "/events"),
    ):
        response = client.get("/api/v1" + path, headers={"Authorization": "Bearer rk_1_nope"})
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        _check(template, response)


def test_not_found_answers_in_the_api_shape(api: Api) -> None:
    auth = {"Authorization": f"Bearer {api.key}"}
    missing = api.http.get("/api/v1/employees/no-such-id", headers=auth)
    assert missing.status_code == 404
    assert "no-such-id" in _check("/employees/{employee_id}", missing)["error"]["detail"]
    for method in ("GET", "POST", "DELETE"):
        unknown = api.http.request(method, "/api/v1/nothing/here", headers=auth)
        assert unknown.status_code == 404
        assert "/api/v1/nothing/here" in _check(None, unknown)["error"]["detail"]


def test_methods_other_than_get_are_405_in_the_api_shape(api: Api) -> None:
    auth = {"Authorization": f"Bearer {api.key}"}
    for method, path in (
        ("POST", "/employees"),
        ("PUT", "/employees/some-id"),
        ("PATCH", "/employees/some-id"),
        ("DELETE", "/employees/some-id"),
        ("POST", "/groups"),
        ("DELETE", "/locations"),
        ("POST", "/openapi.json"),
    ):
        response = api.http.request(method, "/api/v1" + path, json={}, headers=auth)
        assert response.status_code == 405, (method, path)
        assert response.headers["allow"] == "GET, HEAD"
        assert method in _check(None, response)["error"]["detail"]
        assert "scim" not in response.headers["content-type"]


def test_an_unexpected_failure_is_an_opaque_documented_500(
    settings: Settings, engine: Engine, scim: Scim, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    # Inside a route's own handling, and (the document route) escaping to the app's.
    monkeypatch.setattr(read_api, "list_employees", broken)
    monkeypatch.setattr(api_module, "document", broken)
    with TestClient(create_app(settings, engine), raise_server_exceptions=False) as http:
        key = api_for(engine, http, scim.tenant).key
        listed = http.get("/api/v1/employees", headers={"Authorization": f"Bearer {key}"})
        assert listed.status_code == 500
        assert "secret" not in _check("/employees", listed)["error"]["detail"]
        doc = http.get("/api/v1/openapi.json")
        assert doc.status_code == 500 and "secret" not in doc.text
        _check(None, doc)


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


def test_the_cursor_shows_nothing_the_page_does_not_and_survives_deletes(
    engine: Engine, scim: Scim, api: Api
) -> None:
    for i in range(5):
        with engine.begin() as conn:
            employees.add_manual(conn, scim.tenant_id, ManualEmployee(f"c{i}@corp.test", {}))
    headers = {"Authorization": f"Bearer {api.key}"}
    first = api.http.get("/api/v1/employees", params={"limit": 2}, headers=headers).json()
    last = first["items"][-1]
    cursor = first["nextCursor"]
    decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    # Only the last row's creation time and public id: no internal key, which would tell
    # a tenant how many rows every other tenant added between two of its requests.
    assert decoded[1] == last["id"] and decoded[0].startswith(last["createdAt"][:23])
    # The row the cursor names may go away; the next page still starts right after it.
    with engine.begin() as conn:
        employees.remove_manual(conn, scim.tenant_id, last["id"])
    rest: list[dict[str, Any]] = []
    while cursor:
        page = api.http.get(
            "/api/v1/employees", params={"limit": 2, "cursor": cursor}, headers=headers
        ).json()
        rest += page["items"]
        cursor = page["nextCursor"]
    assert [e["email"] for e in first["items"][:-1] + rest] == [e["email"] for e in api.employees()]
    assert len(rest) == 3
