"""The event feed (issue 13): events are written by the unit of work with the change
they describe, and GET /api/v1/events hands them out in order, through a cursor."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from roster.directory.admin import connections, tenancy
from roster.directory.journal.change import current, savepoint
from roster.directory.people import employees
from roster.directory.people.employees import ManualEmployee
from roster.directory.reads import feed
from roster.storage import system_log as log_store
from roster.storage.tables import events as events_table
from tests.conftest import GROUP_SCHEMA, Scim, new_connection
from tests.directory.access_support import add_location, add_rule
from tests.directory.conftest import Api, api_for, configure, create, user_body
from tests.openapi_check import check_response


def _feed(api: Api, after: str | None = None, **params: Any) -> tuple[list[dict[str, Any]], Any]:
    """Every event after ``after``, following the cursor; and the last cursor."""
    out: list[dict[str, Any]] = []
    cursor = after
    while True:
        query = {**params, **({"after": cursor} if cursor else {})}
        response = api._get("/events", "/events", query)
        assert response.status_code == 200, response.text
        page = response.json()
        out += page["items"]
        if not page["items"]:
            return out, page["nextCursor"]
        cursor = page["nextCursor"]


def _types(items: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in items]


def _count(engine: Engine, tenant_id: int) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(func.count())
            .select_from(events_table)
            .where(events_table.c.tenant_id == tenant_id)
        ).scalar_one()


def test_a_user_lifecycle_is_in_the_feed(scim: Scim, api: Api) -> None:
    user = create(scim, "ada", "ada@corp.test", displayName="Ada")
    items, cursor = _feed(api)
    assert _types(items) == ["employee.created"]
    created = items[0]
    employee_id = created["resource"]["id"]
    assert created["resource"]["type"] == "Employee"
    assert created["connection"] == scim.connection_id
    assert created["actor"] == f"connection:{scim.connection_id}"
    assert created["data"]["email"] == "ada@corp.test"
    assert created["data"]["displayName"] == "Ada"
    assert created["data"]["source"] == {"type": "synced", "connection": scim.connection_id}
    assert created["data"] == {**created["data"], "id": employee_id, "status": "active"}

    uid = user["id"]
    for value in ("Ada L", False, True, "Ada L"):  # the last changes nothing: no event
        path = "displayName" if isinstance(value, str) else "active"
        ops: list[dict[str, Any]] = [{"op": "replace", "path": path, "value": value}]
        assert scim.patch(f"/Users/{uid}", ops).status_code == 200
    later, cursor2 = _feed(api, cursor)
    assert _types(later) == ["employee.updated", "employee.deactivated", "employee.reactivated"]
    assert later[0]["data"]["changedFields"] == ["displayName"]
    assert later[0]["data"]["displayName"] == "Ada L"
    assert later[1]["data"]["status"] == "inactive"
    assert later[2]["data"]["status"] == "active"
    assert all(e["resource"]["id"] == employee_id for e in later)

    # The host app learns that the person left (the first complaint).
    assert scim.delete(f"/Users/{uid}").status_code == 204
    gone, _ = _feed(api, cursor2)
    assert _types(gone) == ["employee.deleted"]
    assert gone[0]["data"] == {
        "id": employee_id,
        "email": "ada@corp.test",
        "source": {"type": "synced", "connection": scim.connection_id},
    }
    # The whole history, from the start, in order; ids are distinct.
    everything, _ = _feed(api)
    assert len({e["id"] for e in everything}) == len(everything) == 5


def test_an_event_exists_exactly_when_its_change_committed(
    engine: Engine, scim: Scim, api: Api
) -> None:
    create(scim, "first", "first@corp.test")
    configure(engine, scim, require_primary_email="true")
    before = _count(engine, scim.tenant_id)
    # Refused by the directory after the SCIM row was written (no primary email), and by
    # the uniqueness of the employee email: both roll back, events included.
    refused = scim.post("/Users", user_body("nomail"))
    assert refused.status_code == 400, refused.text
    other = new_connection(engine, scim.http, tenant=scim.tenant)
    clash = other.post("/Users", user_body("first-again", "first@corp.test"))
    assert clash.status_code == 409, clash.text
    assert _count(engine, scim.tenant_id) == before
    items, _ = _feed(api)
    assert _types(items) == ["employee.created"]


def test_events_are_written_with_the_log_entries_of_their_request(
    engine: Engine, scim: Scim, api: Api
) -> None:
    create(scim, "bob", "bob@corp.test")
    items, _ = _feed(api)
    correlation = items[0]["correlationId"]
    with engine.connect() as conn:
        entries = [
            e
            for e in log_store.entries(conn, scim.tenant_id, limit=50)
            if e.request_id == correlation
        ]
        assert [e.path for e in entries if e.actor == "scim"] == ["/Users"]
        trail = feed.trail(conn, correlation)
        assert [i.kind for i in trail if i.kind == "event"] == ["event"]
        assert [i.json["type"] for i in trail if i.kind == "event"] == ["employee.created"]
        assert [i.json["path"] for i in trail if i.kind == "log" and i.json["actor"] == "scim"] == [
            "/Users"
        ]


def test_group_events_one_per_member(scim: Scim, api: Api) -> None:
    a, b, c = (create(scim, n, f"{n}@corp.test")["id"] for n in ("a", "b", "c"))
    _, cursor = _feed(api)
    group = scim.create_group("Eng", [a, b])
    gid = group["id"]
    items, cursor = _feed(api, cursor)
    assert _types(items) == ["group.created", "group.member_added", "group.member_added"]
    assert items[0]["data"]["displayName"] == "Eng"
    assert {e["data"]["member"]["id"] for e in items[1:]} == {a, b}
    assert all(e["resource"] == {"type": "Group", "id": gid} for e in items)

    # Adding a member already there changes nothing: no event.
    ops = [{"op": "add", "path": "members", "value": [{"value": a}, {"value": c}]}]
    assert scim.patch(f"/Groups/{gid}", ops).status_code in (200, 204)
    items, cursor = _feed(api, cursor)
    assert _types(items) == ["group.member_added"]
    assert items[0]["data"]["member"] == {"id": c, "type": "User", "display": "c"}

    ops = [{"op": "remove", "path": f'members[value eq "{b}"]'}]
    assert scim.patch(f"/Groups/{gid}", ops).status_code in (200, 204)
    ops = [{"op": "replace", "path": "displayName", "value": "Engineering"}]
    assert scim.patch(f"/Groups/{gid}", ops).status_code in (200, 204)
    items, cursor = _feed(api, cursor)
    assert _types(items) == ["group.member_removed", "group.updated"]
    assert items[0]["data"]["member"]["id"] == b
    assert items[1]["data"]["displayName"] == "Engineering"

    # PUT replaces the members: the difference is what is reported.
    body = {
        "schemas": [GROUP_SCHEMA],
        "displayName": "Engineering",
        "members": [{"value": b}, {"value": c}],
    }
    assert scim.put(f"/Groups/{gid}", body).status_code == 200
    items, cursor = _feed(api, cursor)
    assert _types(items) == ["group.updated", "group.member_removed", "group.member_added"]
    assert [e["data"]["member"]["id"] for e in items[1:]] == [a, b]

    # Removing every member reports each one that was there.
    ops = [{"op": "remove", "path": "members"}]
    assert scim.patch(f"/Groups/{gid}", ops).status_code in (200, 204)
    items, cursor = _feed(api, cursor)
    assert sorted(e["data"]["member"]["id"] for e in items) == sorted([b, c])
    assert set(_types(items)) == {"group.member_removed"}

    assert scim.delete(f"/Groups/{gid}").status_code == 204
    items, _ = _feed(api, cursor)
    assert _types(items) == ["group.deleted"]
    assert items[0]["data"]["id"] == gid


def test_admin_changes_are_events(engine: Engine, client: TestClient, scim: Scim, api: Api) -> None:
    synced = create(scim, "z", "z@corp.test")
    _, cursor = _feed(api)
    with engine.begin() as conn:
        employees.add_manual(
            conn, scim.tenant_id, ManualEmployee("temp@corp.test", {"givenName": "T"})
        )
    with engine.begin() as conn:
        employees.remove_manual(conn, scim.tenant_id, "temp@corp.test")
    with engine.begin() as conn:
        tenancy.set_status(conn, scim.connection_id, "inactive")
    with engine.begin() as conn:
        tenancy.set_status(conn, scim.connection_id, "inactive")  # no change: no event
    with engine.begin() as conn:
        tenancy.set_status(conn, scim.connection_id, "active")
    with engine.begin() as conn:
        connections.delete_connection(conn, scim.connection_id)
    items, _ = _feed(api, cursor)
    assert _types(items) == [
        "employee.created",
        "employee.deleted",
        "connection.deactivated",
        "connection.activated",
        "employee.updated",  # the connection's employee stays, as a manual one
        "connection.deleted",
    ]
    assert {e["actor"] for e in items} == {"admin"}
    assert items[0]["data"]["source"] == {"type": "manual", "connection": None}
    assert items[1]["data"]["email"] == "temp@corp.test"
    kept = items[4]
    assert kept["data"]["email"] == "z@corp.test"
    assert kept["data"]["changedFields"] == ["source"]
    assert kept["data"]["source"] == {"type": "manual", "connection": None}
    assert kept["connection"] == scim.connection_id  # the deleted connection it came from
    assert kept["resource"]["type"] == "Employee"
    assert synced["id"] != kept["resource"]["id"]  # the employee's id, not the SCIM user's
    assert items[5]["data"]["employeesKept"] == 1
    assert all(e["resource"]["id"] == scim.connection_id for e in items[2:4] + items[5:])


def test_each_resource_in_commit_order_and_types_filter(scim: Scim, api: Api) -> None:
    users = [create(scim, f"u{i}", f"u{i}@corp.test")["id"] for i in range(3)]
    for version in range(1, 6):
        for uid in users:
            ops = [{"op": "replace", "path": "displayName", "value": f"v{version}"}]
            assert scim.patch(f"/Users/{uid}", ops).status_code == 200
    items, _ = _feed(api, limit=2, types="employee.updated")
    assert len(items) == 15
    by_resource: dict[str, list[str]] = {}
    for e in items:
        by_resource.setdefault(e["resource"]["id"], []).append(e["data"]["displayName"])
    assert list(by_resource.values()) == [[f"v{v}" for v in range(1, 6)]] * 3
    created, _ = _feed(api, types="employee.created,group.created")
    assert _types(created) == ["employee.created"] * 3


def test_a_tenant_sees_only_its_own_events(
    engine: Engine, client: TestClient, scim: Scim, api: Api
) -> None:
    create(scim, "mine", "mine@corp.test")
    other = new_connection(engine, client)
    create(other, "theirs", "theirs@corp.test")
    items, _ = _feed(api)
    assert [e["data"]["email"] for e in items] == ["mine@corp.test"]
    theirs, _ = _feed(api_for(engine, client, other.tenant))
    assert [e["data"]["email"] for e in theirs] == ["theirs@corp.test"]


def _cursor(at: datetime, uid: str = "x") -> str:
    raw = json.dumps([at.isoformat(timespec="microseconds"), uid]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_bad_and_expired_cursors(scim: Scim, api: Api) -> None:
    create(scim, "c", "c@corp.test")
    for params in (
        {"after": "nonsense"},
        {"types": "employee.exploded"},
        {"limit": "0"},
        {"cursor": "x"},
    ):
        response = api._get("/events", "/events", params)
        assert response.status_code == 400, params
    old = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=31)
    response = api._get("/events", "/events", {"after": _cursor(old)})
    assert response.status_code == 410
    assert "/api/v1/employees" in response.json()["error"]["detail"]
    check_response("/events", 410, response.json())
    # Within the retention, a cursor for an event no longer there resumes after its time.
    recent = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=1)
    items, _ = _feed(api, _cursor(recent))
    assert _types(items) == ["employee.created"]


def test_prune_deletes_what_the_retention_no_longer_keeps(
    engine: Engine, scim: Scim, api: Api
) -> None:
    create(scim, "p", "p@corp.test")
    with engine.begin() as conn:
        assert feed.prune(conn, retention_days=1) == 0
    assert _count(engine, scim.tenant_id) == 1
    with engine.begin() as conn:
        # Retention 0: everything ordered before now goes.
        assert feed.prune(conn, retention_days=0) >= 1
    assert _count(engine, scim.tenant_id) == 0
    assert _feed(api)[0] == []


@pytest.mark.parametrize("size", [1])
def test_an_empty_page_keeps_the_cursor(scim: Scim, api: Api, size: int) -> None:
    create(scim, "e", "e@corp.test")
    items, cursor = _feed(api)
    assert len(items) == size and cursor
    response = api._get("/events", "/events", {"after": cursor})
    assert response.json() == {"items": [], "nextCursor": cursor}


def test_rule_grants_and_revocations_are_events(engine: Engine, scim: Scim, api: Api) -> None:
    add_location(engine, scim, "Boston office", "Chicago office")
    add_rule(engine, scim, "Bostonians", "city eq Boston", locations=["Boston office"])
    add_rule(
        engine,
        scim,
        "Chicagoans",
        "city eq Chicago",
        locations=["Chicago office"],
        role="Global admin",
    )
    user = create(scim, "ann", "ann@corp.test", addresses=[{"locality": "Boston", "primary": True}])
    items, cursor = _feed(api, types="access.granted,access.revoked,role.granted,role.revoked")
    assert [(e["type"], e["data"]["what"]) for e in items] == [
        ("access.granted", "location 'Boston office'")
    ]
    assert items[0]["actor"] == "rules"
    assert items[0]["data"]["rule"]["name"] == "Bostonians"
    ops = [{"op": "replace", "path": "addresses[primary eq true].locality", "value": "Chicago"}]
    assert scim.patch(f"/Users/{user['id']}", ops).status_code == 200
    items, _ = _feed(api, cursor, types="access.granted,access.revoked,role.granted,role.revoked")
    assert sorted((e["type"], e["data"]["kind"]) for e in items) == [
        ("access.granted", "location"),
        ("access.revoked", "location"),
        ("role.granted", "role"),
    ]
    assert all(e["resource"]["id"] == items[0]["data"]["employee"]["id"] for e in items)


def test_an_event_whose_data_holds_nul_is_still_written(
    engine: Engine, scim: Scim, api: Api
) -> None:
    # jsonb (PostgreSQL's one-statement path) holds no NUL: such a change takes the
    # two-statement path instead of failing its commit.
    with engine.begin() as conn:
        change = current(conn, scim.tenant_id)
        change.note("test.nul", "a note")
        change.emit("group.updated", "Group", "g-1", {"displayName": "a\x00b"})
    items, _ = _feed(api)
    assert [(e["type"], e["data"]) for e in items] == [("group.updated", {"displayName": "a\x00b"})]


def test_a_rolled_back_savepoint_takes_its_events_with_it(
    engine: Engine, scim: Scim, api: Api
) -> None:
    # How `roster employee import` adds each row: a refused row's savepoint rolls back.
    with engine.begin() as conn:
        employees.add_manual(conn, scim.tenant_id, ManualEmployee("kept@corp.test", {}))
        with pytest.raises(RuntimeError), savepoint(conn, scim.tenant_id):
            employees.add_manual(conn, scim.tenant_id, ManualEmployee("gone@corp.test", {}))
            raise RuntimeError("refused after the add")
    items, _ = _feed(api)
    assert [e["data"]["email"] for e in items] == ["kept@corp.test"]
