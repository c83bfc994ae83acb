"""Events added with webhooks (issue 13): roles an admin assigns or removes by hand,
``employee.location_changed``, and one ``group.member_removed`` per member when a group
is deleted."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from roster.directory.admin import role_admin
from roster.directory.people import employees
from roster.directory.people.employees import ManualEmployee
from roster.directory.places import locations
from tests.conftest import Scim
from tests.directory.conftest import Api, configure, create
from tests.directory.test_events import _feed, _types


def _places(engine: Engine, scim: Scim) -> None:
    with engine.begin() as conn:
        locations.add(conn, scim.tenant_id, "Boston office", cities=["Boston"])
        locations.add(conn, scim.tenant_id, "Chicago office", cities=["Chicago"])


def test_roles_assigned_and_removed_by_hand_are_events(
    engine: Engine, scim: Scim, api: Api
) -> None:
    create(scim, "ann", "ann@corp.test")
    _, cursor = _feed(api)
    with engine.begin() as conn:
        role_admin.assign(conn, scim.tenant_id, "ann@corp.test", "Global admin")
    with engine.begin() as conn:
        role_admin.unassign(conn, scim.tenant_id, "ann@corp.test")
    items, _ = _feed(api, cursor, types="role.granted,role.revoked")
    assert [(e["type"], e["actor"], e["data"]["what"]) for e in items] == [
        ("role.granted", "admin", "Global admin"),
        ("role.revoked", "admin", "Global admin"),
    ]
    assert items[0]["data"]["employee"]["email"] == "ann@corp.test"
    assert items[0]["data"]["rule"] is None and items[0]["data"]["kind"] == "role"
    assert items[0]["resource"]["id"] == items[0]["data"]["employee"]["id"]


def test_a_synced_employee_moving_between_locations_is_an_event(
    engine: Engine, scim: Scim, api: Api
) -> None:
    _places(engine, scim)
    configure(engine, scim, location_sync="per_location")
    boston: list[dict[str, Any]] = [{"locality": "Boston", "primary": True}]
    user = create(scim, "ann", "ann@corp.test", addresses=boston)
    ops = [{"op": "replace", "path": "addresses[primary eq true].locality", "value": "Chicago"}]
    assert scim.patch(f"/Users/{user['id']}", ops).status_code == 200
    # A change that keeps the employee where it is records no location event.
    ops = [{"op": "replace", "path": "displayName", "value": "Ann"}]
    assert scim.patch(f"/Users/{user['id']}", ops).status_code == 200
    items, _ = _feed(api, types="employee.location_changed")
    assert [(e["data"]["locations"], e["data"]["previous"]) for e in items] == [
        (["Boston office"], []),
        (["Chicago office"], ["Boston office"]),
    ]
    assert {e["actor"] for e in items} == {f"connection:{scim.connection_id}"}
    assert items[0]["data"]["employee"]["email"] == "ann@corp.test"


def test_a_manual_employee_added_to_locations_is_an_event(
    engine: Engine, scim: Scim, api: Api
) -> None:
    _places(engine, scim)
    with engine.begin() as conn:
        employees.add_manual(
            conn,
            scim.tenant_id,
            ManualEmployee("temp@corp.test", {}, locations=("Chicago office", "Boston office")),
        )
    items, _ = _feed(api)
    assert _types(items) == ["employee.created", "employee.location_changed"]
    assert items[1]["actor"] == "admin"
    assert items[1]["data"]["locations"] == ["Boston office", "Chicago office"]


def test_deleting_a_group_removes_each_member_first(scim: Scim, api: Api) -> None:
    a, b = (create(scim, n, f"{n}@corp.test")["id"] for n in ("a", "b"))
    gid = scim.create_group("Eng", [a, b])["id"]
    _, cursor = _feed(api)
    assert scim.delete(f"/Groups/{gid}").status_code == 204
    items, _ = _feed(api, cursor)
    assert _types(items) == ["group.member_removed", "group.member_removed", "group.deleted"]
    assert sorted(e["data"]["member"]["id"] for e in items[:2]) == sorted([a, b])
    assert all(e["resource"] == {"type": "Group", "id": gid} for e in items)
