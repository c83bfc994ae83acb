"""People belong to the tenant, joined by primary email: linking, the 409 across active
connections, and users without a primary email (Envoy, Sequr, Engagedly)."""

from __future__ import annotations

from sqlalchemy import Engine
from starlette.testclient import TestClient

from roster.directory import employees, tenancy
from roster.directory.employees import ManualEmployee
from tests.conftest import PATCH_OP, Scim, new_connection
from tests.directory.conftest import Api, configure, create, notes, request_log, user_body


def _manual(engine: Engine, scim: Scim, email: str, **fields: str) -> str:
    with engine.begin() as conn:
        row = employees.add_manual(conn, scim.tenant_id, ManualEmployee(email, fields))
    return row.id


def test_a_create_links_to_the_manual_employee_with_its_email(
    engine: Engine, scim: Scim, api: Api
) -> None:
    manual_id = _manual(engine, scim, "Dana@Corp.test", title="Contractor", department="Ops")
    response = scim.post("/Users", user_body("dana", "dana@corp.TEST", title="Engineer"))
    assert response.status_code == 201, response.text
    people = api.employees()
    assert [p["id"] for p in people] == [manual_id]  # linked, not duplicated
    dana = people[0]
    # The IdP's values win for what it maps; department is mapped too (to nothing sent).
    assert dana["title"] == "Engineer" and dana["department"] is None
    assert dana["email"] == "dana@corp.TEST"
    assert dana["source"]["type"] == "synced"
    assert dana["source"]["connection"]["id"] == scim.connection_id
    assert dana["source"]["userName"] == "dana"
    [link] = notes(engine, scim, "employee.link")
    assert "linked by email" in (link.detail or "") and link.resource_id == manual_id
    # The link note shares the id of the request that caused it (and its X-Request-Id).
    [request] = [e for e in request_log(engine, scim) if e.method == "POST"]
    assert link.request_id == request.request_id == response.headers["X-Request-Id"]


def test_two_users_of_one_connection_cannot_share_an_email(scim: Scim, api: Api) -> None:
    create(scim, "first", "same@corp.test")
    response = scim.post("/Users", user_body("second", "SAME@corp.test"))
    assert response.status_code == 409
    assert response.json()["scimType"] == "uniqueness"
    assert "'first'" in response.json()["detail"]
    assert [u["userName"] for u in scim.get("/Users").json()["Resources"]] == ["first"]
    assert len(api.employees()) == 1


def test_email_as_unique_identifier_says_so(engine: Engine, scim: Scim) -> None:
    configure(engine, scim, unique_identifier="email")
    create(scim, "first", "same@corp.test")
    response = scim.post("/Users", user_body("second", "same@corp.test"))
    assert response.status_code == 409
    assert "unique identifier of this connection" in response.json()["detail"]


def test_email_as_unique_identifier_answers_okta_email_lookups(engine: Engine, scim: Scim) -> None:
    # Okta's "Unique identifier field for users: email" (the Engagedly guide) looks users
    # up with filter=email eq "…".
    first = create(scim, "first", "First@Corp.test")
    lookup = {"filter": 'email eq "first@corp.test"'}
    refused = scim.get("/Users", params=lookup)
    assert refused.status_code == 400 and refused.json()["scimType"] == "invalidFilter"
    configure(engine, scim, unique_identifier="email")
    found = scim.get("/Users", params=lookup).json()
    assert [u["id"] for u in found["Resources"]] == [first["id"]]
    none = scim.get("/Users", params={"filter": 'email eq "nobody@corp.test"'}).json()
    assert none["totalResults"] == 0
    # The primary email, not any email: a secondary address of someone else never matches.
    second = scim.post(
        "/Users",
        user_body(
            "second",
            None,
            emails=[
                {"value": "second@corp.test", "primary": True},
                {"value": "alias@corp.test", "type": "other"},
            ],
        ),
    )
    assert second.status_code == 201, second.text
    third = create(scim, "third", "alias@corp.test")
    found = scim.get("/Users", params={"filter": 'email eq "ALIAS@corp.test"'}).json()
    assert [u["id"] for u in found["Resources"]] == [third["id"]]
    # Only the attribute name is rewritten, never quoted text.
    titled = scim.get("/Users", params={"filter": 'title eq "email eq x"'}).json()
    assert titled["totalResults"] == 0


def test_409_when_another_active_connection_owns_the_person(
    engine: Engine, client: TestClient, scim: Scim, api: Api
) -> None:
    create(scim, "lee", "lee@corp.test", title="From Okta")
    entra = new_connection(engine, client, "entra", tenant=scim.tenant)
    response = entra.post("/Users", user_body("lee@corp.test", "LEE@corp.test"))
    assert response.status_code == 409
    body = response.json()
    assert body["scimType"] == "uniqueness"
    # It names the conflict: the other connection and its user.
    assert scim.connection_id in body["detail"] and "'lee'" in body["detail"]
    # Rolled back: no SCIM user in the second connection, the employee unchanged.
    assert entra.get("/Users").json()["totalResults"] == 0
    [lee] = api.employees()
    assert lee["title"] == "From Okta" and lee["source"]["connection"]["id"] == scim.connection_id
    # The rejection is in the system log with its status, scimType and reason.
    rejected = [e for e in request_log(engine, entra) if e.status == 409]
    assert rejected and rejected[-1].scim_type == "uniqueness"
    assert "another active connection" in (rejected[-1].detail or "")


def test_a_new_connection_takes_people_over_from_an_inactive_one(
    engine: Engine, client: TestClient, scim: Scim, api: Api
) -> None:
    # The product brief: add the new connection, deactivate the old, let the new IdP take
    # its people over without deleting anyone.
    create(scim, "kim", "kim@corp.test")
    [before] = api.employees()
    with engine.begin() as conn:
        tenancy.set_status(conn, scim.connection_id, "inactive")
    entra = new_connection(engine, client, "entra", tenant=scim.tenant)
    assert entra.post("/Users", user_body("kim", "kim@corp.test")).status_code == 201
    [after] = api.employees()
    assert after["id"] == before["id"]
    assert after["source"]["connection"]["id"] == entra.connection_id
    assert "taken over from an inactive connection" in (
        notes(engine, entra, "employee.link")[-1].detail or ""
    )


def test_linking_off_refuses_with_409(engine: Engine, scim: Scim, api: Api) -> None:
    configure(engine, scim, link_by_email="false")
    manual_id = _manual(engine, scim, "pat@corp.test")
    response = scim.post("/Users", user_body("pat", "pat@corp.test"))
    assert response.status_code == 409
    assert "linking by email is off" in response.json()["detail"]
    [pat] = api.employees()
    assert pat["id"] == manual_id and pat["source"]["type"] == "manual"


def test_a_user_without_a_primary_email_is_not_synced(engine: Engine, scim: Scim, api: Api) -> None:
    for body in (
        user_body("nomail"),
        user_body(
            "two",
            emails=[{"value": "a@corp.test"}, {"value": "b@corp.test", "type": "home"}],
        ),
    ):
        response = scim.post("/Users", body)
        assert response.status_code == 400
        assert response.json()["scimType"] == "invalidValue"
        assert "a primary email is required" in response.json()["detail"]
    assert scim.get("/Users").json()["totalResults"] == 0
    assert api.employees() == []
    logged = [e for e in request_log(engine, scim) if e.status == 400]
    assert len(logged) == 2 and all("primary email" in (e.detail or "") for e in logged)
    # The only email counts as primary, marked or not.
    single = user_body("one", emails=[{"value": "one@corp.test", "type": "work"}])
    assert scim.post("/Users", single).status_code == 201
    # Removing it later is refused the same way, and changes nothing.
    user_id = scim.get("/Users").json()["Resources"][0]["id"]
    removed = scim.patch(f"/Users/{user_id}", [{"op": "remove", "path": "emails"}])
    assert removed.status_code == 400 and "primary email" in removed.json()["detail"]
    assert scim.get(f"/Users/{user_id}").json()["emails"][0]["value"] == "one@corp.test"
    assert [e["email"] for e in api.employees()] == ["one@corp.test"]


def test_an_update_cannot_steal_another_employees_email(
    engine: Engine, scim: Scim, api: Api
) -> None:
    _manual(engine, scim, "taken@corp.test")
    user = create(scim, "mover", "mover@corp.test")
    body = {
        "schemas": [PATCH_OP],
        "Operations": [
            {"op": "replace", "path": "emails", "value": [{"value": "taken@corp.test"}]}
        ],
    }
    response = scim.http.patch(f"{scim.base}/Users/{user['id']}", json=body, headers=scim.headers())
    assert response.status_code == 409
    assert "manual employee" in response.json()["detail"]
    assert sorted(e["email"] for e in api.employees()) == ["mover@corp.test", "taken@corp.test"]
