"""Deactivate, reactivate, delete; deactivating and deleting a connection."""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from roster.directory import employees, tenancy
from roster.directory.connections import delete_connection
from roster.directory.employees import ManualEmployee
from roster.storage.employees import EmployeeRow
from tests.conftest import Scim, wait_for_lock_waiter
from tests.directory.conftest import ENTERPRISE, Api, create, notes, user_body


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
        **{ENTERPRISE: {"manager": {"value": boss["id"]}}},
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
    assert eve["manager"] is not None and eve["manager"]["employee"]["email"] == "boss@corp.test"
    assert api.groups() == []  # the connection's groups went with it
    assert scim.get("/Users").status_code == 401  # its token no longer opens anything


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
