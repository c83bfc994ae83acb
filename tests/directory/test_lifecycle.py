"""Deactivate, reactivate, delete; deactivating and deleting a connection."""

from __future__ import annotations

import threading

from sqlalchemy import Engine
from starlette.testclient import TestClient

from roster.directory.admin import tenancy
from roster.directory.admin.connections import delete_connection
from roster.directory.journal import system_log
from roster.directory.people import employees
from roster.directory.people.employees import ManualEmployee
from roster.storage.employees import EmployeeRow
from tests.conftest import Scim, new_connection, wait_for_lock_waiter
from tests.directory.conftest import ENTERPRISE, ENVOY, Api, create, notes, user_body


def test_deactivate_reactivate_and_delete(engine: Engine, scim: Scim, api: Api) -> None:
    user = create(scim, "ray", "ray@corp.test", title="Host")
    [ray] = api.employees()
    # Okta's deactivation: PATCH with no path and a value object.
    off = scim.patch(f"/Users/{user['id']}", [{"op": "replace", "value": {"active": False}}])
    assert off.status_code == 200
    inactive = api.employee(ray["id"])
    assert inactive is not None and inactive["status"] == "inactive"
    assert inactive["title"] == "Host"  # kept, and readable
    assert [e["id"] for e in api.employees(status="inactive")] == [ray["id"]]
    assert api.employees(status="active") == []
    # Reactivation by PUT (Entra and Okta both replace the whole user at times).
    on = scim.put(f"/Users/{user['id']}", user_body("ray", "ray@corp.test", active=True))
    assert on.status_code == 200
    active = api.employee(ray["id"])
    assert active is not None and active["status"] == "active"
    assert active["title"] is None  # PUT replaced the whole user: the IdP's values win
    assert [n.path for n in notes(engine, scim, r"employee\.(deactivate|reactivate)d?")] == [
        "employee.deactivate",
        "employee.reactivate",
    ]
    # DELETE removes the employee from the directory; the log keeps its history.
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    assert api.employee(ray["id"]) is None and api.employees() == []
    [removed] = notes(engine, scim, "employee.remove")
    assert removed.resource_id == ray["id"] and "ray@corp.test" in (removed.detail or "")


def test_okta_reactivates_by_patch(engine: Engine, scim: Scim, api: Api) -> None:
    user = create(scim, "kim", "kim@corp.test", title="Host")
    for active in (False, True):  # Okta's shape: no path, a value object
        response = scim.patch(
            f"/Users/{user['id']}", [{"op": "replace", "value": {"active": active}}]
        )
        assert response.status_code == 200
    [kim] = api.employees(status="active")
    assert kim["email"] == "kim@corp.test" and kim["title"] == "Host"  # PATCH keeps the rest
    assert api.employees(status="inactive") == []
    assert [n.detail for n in notes(engine, scim, r"employee\.(deactivate|reactivate)")] == [
        "kim@corp.test deactivated",
        "kim@corp.test reactivated",
    ]


def test_deactivating_a_connection_rejects_requests_and_changes_no_employee(
    engine: Engine, scim: Scim, api: Api
) -> None:
    create(scim, "sam", "sam@corp.test")
    before = api.employees()
    with engine.begin() as conn:
        tenancy.set_status(conn, scim.connection_id, "inactive")
    assert scim.post("/Users", user_body("new", "new@corp.test")).status_code == 401
    assert scim.get("/Users").status_code == 401
    after = api.employees()
    # Only the rendering of the connection's own status differs.
    assert after[0]["source"]["connection"].pop("status") == "inactive"
    assert before[0]["source"]["connection"].pop("status") == "active"
    assert after == before


def test_deleting_a_connection_keeps_its_employees_as_manual_ones(
    engine: Engine, scim: Scim, api: Api
) -> None:
    boss = create(scim, "boss", "boss@corp.test")
    create(
        scim,
        "eve",
        "eve@corp.test",
        title="Analyst",
        **{
            ENTERPRISE: {"manager": {"value": boss["id"]}},
            ENVOY: {"assistants": ["later@corp.test"]},  # not there yet: waits
        },
    )
    group = scim.create_group("Analysts", [boss["id"]])
    assert [g["id"] for g in api.groups()] == [group["id"]]
    with engine.begin() as conn:
        deleted = delete_connection(conn, scim.connection_id)
    assert deleted.employees_kept == 2
    people = {e["email"]: e for e in api.employees()}
    assert set(people) == {"boss@corp.test", "eve@corp.test"}
    eve = people["eve@corp.test"]
    assert eve["source"] == {"type": "manual", "connection": None}
    assert eve["title"] == "Analyst"
    # References resolve only to synced employees: boss is manual now. Eve's references
    # keep the values the IdP sent, for display, resolved or not.
    assert eve["manager"] == {"value": boss["id"], "resolved": False, "employee": None}
    assert eve["assistants"] == [{"value": "later@corp.test", "resolved": False, "employee": None}]
    assert api.groups() == []  # the connection's groups went with it
    assert scim.get("/Users").status_code == 401  # its token no longer opens anything
    [entry] = _admin_notes(engine, scim, "connection.delete")
    assert "1 references (manager, assistants) to them are unresolved: 0 synced employees" in (
        entry.detail or ""
    )


def test_references_to_a_deleted_connections_employees_wait_again(
    engine: Engine, client: TestClient, scim: Scim, api: Api
) -> None:
    create(scim, "boss", "boss@corp.test")
    create(scim, "eve", "eve@corp.test", **{ENVOY: {"assistants": ["later@corp.test"]}})
    other = new_connection(engine, client, tenant=scim.tenant)
    manager = {"value": "00u1", "displayName": "boss@corp.test"}
    create(other, "rep", "rep@corp.test", **{ENTERPRISE: {"manager": manager}})
    rep = api.by_email("rep@corp.test")
    assert rep is not None and rep["manager"]["employee"]["email"] == "boss@corp.test"
    with engine.begin() as conn:
        delete_connection(conn, scim.connection_id)
    # Boss is a manual employee now: rep's manager waits for boss to be synced again.
    after = api.by_email("rep@corp.test")
    assert after is not None
    assert after["manager"] == {"value": "boss@corp.test", "resolved": False, "employee": None}
    assert after["updatedAt"] != rep["updatedAt"]  # updated_since readers see the change
    [entry] = _admin_notes(engine, scim, "connection.delete")
    assert "1 synced employees wait for those people to be synced again, 0 of its own" in (
        entry.detail or ""
    )
    # The other connection syncs boss (linking the manual employee): rep's manager resolves.
    create(other, "boss", "boss@corp.test")
    rep = api.by_email("rep@corp.test")
    assert rep is not None and rep["manager"]["employee"]["email"] == "boss@corp.test"
    # Eve is manual: her waiting assistant stays as sent even when that person arrives.
    create(other, "later", "later@corp.test")
    eve = api.by_email("eve@corp.test")
    assert eve is not None
    assert eve["assistants"] == [{"value": "later@corp.test", "resolved": False, "employee": None}]


def _admin_notes(engine: Engine, scim: Scim, action: str) -> list[system_log.LogEntry]:
    with engine.connect() as conn:
        entries = system_log.recent(conn, scim.tenant_id, limit=500)
    return [e for e in reversed(entries) if e.actor == "admin" and e.path == action]


def test_directory_write_times_follow_commit_order(engine: Engine, scim: Scim) -> None:
    # A host polling updated_since=<newest updatedAt seen> must never miss a change: a
    # write that started earlier may not commit later with an older time (clock.py).
    first = engine.connect()
    tx = first.begin()
    a = employees.add_manual(first, scim.tenant_id, ManualEmployee("early@corp.test", {}))
    results: dict[str, EmployeeRow] = {}

    def second() -> None:
        with engine.begin() as conn:
            person = ManualEmployee("late@corp.test", {})
            results["b"] = employees.add_manual(conn, scim.tenant_id, person)

    thread = threading.Thread(target=second)
    thread.start()
    if engine.dialect.name == "postgresql":
        wait_for_lock_waiter(engine)  # the second write waits for the first to commit
    tx.commit()
    first.close()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert results["b"].updated_at >= a.updated_at
