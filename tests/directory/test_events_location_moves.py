"""Every admin change that moves employees between locations records
``employee.location_changed`` for each of them, in its own transaction (issue 13): a
location added or removed, a connection's ``location_sync`` changed, a primary-location
mapping added or removed, a manual employee's locations edited. The events say what
``GET /api/v1/employees/{id}`` shows after the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from roster.directory.people import employees
from roster.directory.people.employees import ManualEmployee
from roster.directory.places import locations
from tests.conftest import Scim
from tests.directory.conftest import ENVOY, Api, configure, create
from tests.directory.test_events import _feed

MOVED = "employee.location_changed"


def _moves(items: list[dict[str, Any]]) -> dict[str, tuple[list[str], list[str]]]:
    return {
        e["data"]["employee"]["email"]: (e["data"]["locations"], e["data"]["previous"])
        for e in items
    }


def _shown(api: Api, email: str) -> list[str]:
    found = api.by_email(email)
    assert found is not None
    return [loc["name"] for loc in found["locations"]]


def _city(name: str) -> dict[str, Any]:
    return {"addresses": [{"locality": name, "primary": True}]}


def test_adding_and_removing_a_location_moves_its_employees(
    engine: Engine, scim: Scim, api: Api
) -> None:
    configure(engine, scim, location_sync="per_location")
    with engine.begin() as conn:
        locations.add(conn, scim.tenant_id, "Boston office", cities=["Boston"])
    create(scim, "ann", "ann@corp.test", **_city("Boston"))
    create(scim, "bob", "bob@corp.test", **_city("Denver"))
    create(scim, "cat", "cat@corp.test", **_city("Chicago"))
    with engine.begin() as conn:
        employees.add_manual(
            conn, scim.tenant_id, ManualEmployee("temp@corp.test", {}, ("Boston office",))
        )
    _, cursor = _feed(api)

    with engine.begin() as conn:
        locations.add(conn, scim.tenant_id, "Mountain", cities=["Denver", "Boston"])
    items, cursor = _feed(api, cursor, types=MOVED)
    # Ann joins a second location, Bob his first; Cat and the manual employee stay put.
    assert _moves(items) == {
        "ann@corp.test": (["Boston office", "Mountain"], ["Boston office"]),
        "bob@corp.test": (["Mountain"], []),
    }
    assert {e["actor"] for e in items} == {"admin"}
    assert {e["connection"] for e in items} == {scim.connection_id}
    assert all("primaryLocation" not in e["data"] for e in items)
    assert _shown(api, "ann@corp.test") == ["Boston office", "Mountain"]
    by_email = {e["data"]["employee"]["email"]: e for e in items}
    ann = api.by_email("ann@corp.test")
    assert ann is not None and by_email["ann@corp.test"]["resource"]["id"] == ann["id"]

    # Removing a location moves every member out, the manual employee too.
    with engine.begin() as conn:
        locations.remove(conn, scim.tenant_id, "Boston office")
    items, _ = _feed(api, cursor, types=MOVED)
    assert _moves(items) == {
        "ann@corp.test": (["Mountain"], ["Boston office", "Mountain"]),
        "temp@corp.test": ([], ["Boston office"]),
    }
    temp = next(e for e in items if e["data"]["employee"]["email"] == "temp@corp.test")
    assert temp["connection"] is None  # a manual employee
    assert _shown(api, "ann@corp.test") == ["Mountain"]
    assert _shown(api, "temp@corp.test") == []


def test_a_location_sync_change_moves_the_connections_employees(
    engine: Engine, scim: Scim, api: Api
) -> None:
    with engine.begin() as conn:
        locations.add(conn, scim.tenant_id, "Boston office", cities=["Boston"])
        locations.add(conn, scim.tenant_id, "Chicago office", cities=["Chicago"])
    create(scim, "ann", "ann@corp.test", **_city("Boston"))  # location_sync all: both
    _, cursor = _feed(api)
    configure(engine, scim, location_sync="per_location")
    items, cursor = _feed(api, cursor, types=MOVED)
    assert _moves(items) == {
        "ann@corp.test": (["Boston office"], ["Boston office", "Chicago office"])
    }
    assert items[0]["actor"] == "admin"
    configure(engine, scim, location_sync="all")
    items, _ = _feed(api, cursor, types=MOVED)
    assert _moves(items) == {
        "ann@corp.test": (["Boston office", "Chicago office"], ["Boston office"])
    }


def test_a_mapping_change_moves_primary_locations(engine: Engine, scim: Scim, api: Api) -> None:
    with engine.begin() as conn:
        locations.add(conn, scim.tenant_id, "London HQ")
        locations.add(conn, scim.tenant_id, "Annex")
    create(scim, "a", "a@corp.test", **{ENVOY: {"defaultLocationName": "LDN"}})
    create(scim, "b", "b@corp.test", **{ENVOY: {"defaultLocationName": "London HQ"}})
    _, cursor = _feed(api)

    with engine.begin() as conn:
        locations.map_value(conn, scim.tenant_id, "ldn", "London HQ")
    items, cursor = _feed(api, cursor, types=MOVED)
    assert len(items) == 1  # b's name matches exactly: unaffected
    data = items[0]["data"]
    assert data["employee"]["email"] == "a@corp.test"
    assert (data["primaryLocation"], data["previousPrimaryLocation"]) == ("London HQ", None)
    # Both location sets are there (unchanged: location_sync all puts her everywhere).
    assert data["locations"] == data["previous"] == ["Annex", "London HQ"]
    shown = api.by_email("a@corp.test")
    assert shown is not None and shown["primaryLocation"]["location"]["name"] == "London HQ"

    # Mapping the value to where it already points moves nobody.
    with engine.begin() as conn:
        locations.map_value(conn, scim.tenant_id, "LDN", "London HQ")
    items, cursor = _feed(api, cursor, types=MOVED)
    assert items == []

    with engine.begin() as conn:
        locations.map_value(conn, scim.tenant_id, "ldn", "Annex")
    with engine.begin() as conn:
        locations.unmap_value(conn, scim.tenant_id, "ldn")
    items, cursor = _feed(api, cursor, types=MOVED)
    assert [
        (e["data"]["primaryLocation"], e["data"]["previousPrimaryLocation"]) for e in items
    ] == [("Annex", "London HQ"), (None, "Annex")]

    # Removing the location b has as primary location moves b's primary location (and
    # her membership: location_sync all).
    with engine.begin() as conn:
        locations.remove(conn, scim.tenant_id, "London HQ")
    items, _ = _feed(api, cursor, types=MOVED)
    b = next(e["data"] for e in items if e["data"]["employee"]["email"] == "b@corp.test")
    assert (b["primaryLocation"], b["previousPrimaryLocation"]) == (None, "London HQ")
    assert (b["locations"], b["previous"]) == (["Annex"], ["Annex", "London HQ"])


def test_a_new_location_named_like_a_primary_location_is_one_event_each(
    engine: Engine, scim: Scim, api: Api
) -> None:
    create(scim, "a", "a@corp.test", **{ENVOY: {"defaultLocationName": "Tokyo"}})
    _, cursor = _feed(api)
    with engine.begin() as conn:
        locations.add(conn, scim.tenant_id, "tokyo")
    items, _ = _feed(api, cursor, types=MOVED)
    # Joined (location_sync all) and given it as primary location in one change: one event.
    assert len(items) == 1
    data = items[0]["data"]
    assert (data["locations"], data["previous"]) == (["tokyo"], [])
    assert (data["primaryLocation"], data["previousPrimaryLocation"]) == ("tokyo", None)


def test_editing_a_manual_employees_locations_is_an_event(
    engine: Engine, scim: Scim, api: Api
) -> None:
    with engine.begin() as conn:
        locations.add(conn, scim.tenant_id, "Boston office")
        locations.add(conn, scim.tenant_id, "Chicago office")
        employees.add_manual(
            conn, scim.tenant_id, ManualEmployee("temp@corp.test", {}, ("Boston office",))
        )
    _, cursor = _feed(api)
    with engine.begin() as conn:
        employees.edit_manual(
            conn,
            scim.tenant_id,
            "temp@corp.test",
            ManualEmployee("temp@corp.test", {}, ("Chicago office",)),
        )
    items, _ = _feed(api, cursor, types=MOVED)
    assert _moves(items) == {"temp@corp.test": (["Chicago office"], ["Boston office"])}
    assert items[0]["actor"] == "admin"
