"""People belong to the tenant, joined by primary email: linking, the 409 across active
connections, and users without a primary email (Envoy, Sequr, Engagedly)."""

from __future__ import annotations

from sqlalchemy import Engine
from starlette.testclient import TestClient

from roster.directory.admin import tenancy
from roster.directory.people import coverage, employees
from roster.directory.people.employees import ManualEmployee
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


def _kept_out(engine: Engine, scim: Scim) -> dict[str, int]:
    with engine.connect() as conn:
        return coverage.of_connection(conn, scim.tenant_id, scim.connection_pk).counts


def _last_write(engine: Engine, scim: Scim) -> str:
    return [e for e in request_log(engine, scim) if e.method != "GET"][-1].detail or ""


def test_a_second_user_with_the_same_email_is_stored_and_kept_out(
    engine: Engine, scim: Scim, api: Api
) -> None:
    """Microsoft's SCIM test collection gives two users of one connection one email: the
    second is a valid SCIM user, so it is stored; the directory keeps the first."""
    create(scim, "first", "same@corp.test")
    response = scim.post("/Users", user_body("second", "SAME@corp.test"))
    assert response.status_code == 201, response.text
    assert sorted(u["userName"] for u in scim.get("/Users").json()["Resources"]) == [
        "first",
        "second",
    ]
    [person] = api.employees()
    assert person["source"]["userName"] == "first" and person["email"] == "same@corp.test"
    detail = _last_write(engine, scim)
    assert detail.startswith("warning: user 'second' is not in the directory")
    assert "'first'" in detail
    assert _kept_out(engine, scim) == {coverage.SHARED: 1}
    # A user in the directory moving to a taken email keeps its own.
    third = create(scim, "third", "third@corp.test")
    moved = scim.patch(
        f"/Users/{third['id']}",
        [
            {
                "op": "replace",
                "path": "emails",
                "value": [{"value": "same@corp.test", "primary": True}],
            }
        ],
    )
    assert moved.status_code == 200, moved.text
    assert sorted(p["email"] for p in api.employees()) == ["same@corp.test", "third@corp.test"]
    [kept] = notes(engine, scim, "employee.email_kept")
    assert "keeps its last primary email 'third@corp.test'" in (kept.detail or "")
    # The tenant that wants the IdP to show the clash gets today's 409.
    configure(engine, scim, require_primary_email="true")
    clash = scim.post("/Users", user_body("fourth", "same@corp.test"))
    assert clash.status_code == 409 and clash.json()["scimType"] == "uniqueness"
    assert "'first'" in clash.json()["detail"]
    assert scim.get("/Users").json()["totalResults"] == 3


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


def test_a_user_without_a_primary_email_is_kept_out_until_it_has_one(
    engine: Engine, scim: Scim, api: Api
) -> None:
    """Envoy, Sequr: such a user "will not be synced to the employee directory" -- the
    SCIM request itself succeeds (Entra sends no emails for a user whose mail is empty)."""
    bodies = (
        user_body("nomail"),
        user_body(
            "two",
            emails=[{"value": "a@corp.test"}, {"value": "b@corp.test", "type": "home"}],
        ),
        user_body("notaddress", emails=[{"value": "emailName357", "primary": True}]),
    )
    ids = []
    for body in bodies:
        response = scim.post("/Users", body)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
        detail = _last_write(engine, scim)
        assert detail.startswith(f"warning: user {body['userName']!r} is not in the directory")
    assert "no primary email (it has no emails)" in (request_log(engine, scim)[0].detail or "")
    assert scim.get("/Users").json()["totalResults"] == 3
    assert api.employees() == []
    assert _kept_out(engine, scim) == {coverage.NO_EMAIL: 2, coverage.NOT_AN_ADDRESS: 1}
    # Given a primary email later, the user joins (linking by email as for a create).
    manual_id = _manual(engine, scim, "nomail@corp.test", title="Contractor")
    given = scim.patch(
        f"/Users/{ids[0]}",
        [
            {
                "op": "add",
                "path": "emails",
                "value": [{"value": "nomail@corp.test", "primary": True}],
            }
        ],
    )
    assert given.status_code == 200, given.text
    [person] = api.employees()
    assert person["id"] == manual_id and person["source"]["userName"] == "nomail"
    assert _kept_out(engine, scim) == {coverage.NO_EMAIL: 1, coverage.NOT_AN_ADDRESS: 1}
    # Losing it again: the employee keeps the last one, other fields still follow the IdP.
    lost = scim.patch(
        f"/Users/{ids[0]}",
        [{"op": "remove", "path": "emails"}, {"op": "replace", "path": "title", "value": "Lead"}],
    )
    assert lost.status_code == 200, lost.text
    assert "emails" not in scim.get(f"/Users/{ids[0]}").json()
    [person] = api.employees()
    assert person["email"] == "nomail@corp.test" and person["title"] == "Lead"
    [kept] = notes(engine, scim, "employee.email_kept")
    assert "no primary email" in (kept.detail or "") and kept.resource_id == manual_id
    # require_primary_email: today's 400, and nothing is stored.
    configure(engine, scim, require_primary_email="true")
    refused = scim.post("/Users", user_body("strict"))
    assert refused.status_code == 400 and refused.json()["scimType"] == "invalidValue"
    assert "a primary email is required" in refused.json()["detail"]
    assert "require_primary_email" in refused.json()["detail"]
    assert scim.get("/Users").json()["totalResults"] == 3
    # The only email counts as primary, marked or not.
    single = user_body("one", emails=[{"value": "one@corp.test", "type": "work"}])
    assert scim.post("/Users", single).status_code == 201
    assert sorted(p["email"] for p in api.employees()) == ["nomail@corp.test", "one@corp.test"]


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
