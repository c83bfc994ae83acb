"""Locations: all users to all locations, or per location by city or locale (re-evaluated
on every update); primary location by exact name or the admin's mapping."""

from __future__ import annotations

from sqlalchemy import Engine

from roster.directory import locations
from tests.conftest import Scim
from tests.directory.conftest import ENVOY, Api, configure, create, notes


def _add(engine: Engine, scim: Scim, name: str, cities=(), locales=()) -> None:
    with engine.begin() as conn:
        locations.add(conn, scim.tenant_id, name, cities, locales)


def _where(api: Api, email: str) -> list[str]:
    person = api.by_email(email)
    assert person is not None
    return [loc["name"] for loc in person["locations"]]


def _address(city: str) -> dict[str, object]:
    return {"addresses": [{"locality": city, "region": "CA", "type": "work"}]}


def test_sync_all_users_to_all_locations(engine: Engine, scim: Scim, api: Api) -> None:
    _add(engine, scim, "HQ", cities=["San Francisco"])
    create(scim, "a", "a@corp.test", **_address("Berlin"))
    _add(engine, scim, "Annex")  # a location added later receives everyone too
    assert _where(api, "a@corp.test") == ["Annex", "HQ"]


def test_per_city_sync_moves_a_user_who_moves(engine: Engine, scim: Scim, api: Api) -> None:
    configure(engine, scim, location_sync="per_location")
    _add(engine, scim, "SF Office", cities=["San Francisco", "Oakland"])
    _add(engine, scim, "NYC Office", cities=["New York"])
    user = create(scim, "m", "m@corp.test", **_address("san  francisco"))
    create(scim, "n", "n@corp.test", **_address("Paris"))
    assert _where(api, "m@corp.test") == ["SF Office"]
    assert _where(api, "n@corp.test") == []
    moved = scim.patch(
        f"/Users/{user['id']}",
        [{"op": "replace", "path": "addresses", "value": [{"locality": "New York"}]}],
    )
    assert moved.status_code == 200
    assert _where(api, "m@corp.test") == ["NYC Office"]
    nyc = next(loc for loc in api.locations() if loc["name"] == "NYC Office")
    assert [e["email"] for e in api.employees(location=nyc["id"])] == ["m@corp.test"]
    assert api.employees(location="SF Office") == []
    [_, move] = notes(engine, scim, "employee.locations")
    assert "now in NYC Office (was SF Office)" in (move.detail or "")


def test_per_locale_sync_and_invalid_locales_match_nothing(
    engine: Engine, scim: Scim, api: Api
) -> None:
    configure(engine, scim, location_sync="per_location")
    _add(engine, scim, "Paris", locales=["fr-FR"])
    _add(engine, scim, "Austin", locales=["en_US"], cities=["Austin"])
    create(scim, "f", "f@corp.test", locale="fr_FR")
    create(scim, "u", "u@corp.test", locale="en-US")
    create(scim, "x", "x@corp.test", locale="en_ZZ")  # not ISO 3166-1: flagged, unmatched
    assert _where(api, "f@corp.test") == ["Paris"]
    assert _where(api, "u@corp.test") == ["Austin"]
    assert _where(api, "x@corp.test") == []
    assert {loc["name"]: loc["locales"] for loc in api.locations()} == {
        "Austin": ["en_US"],
        "Paris": ["fr_FR"],
    }


def test_primary_location_by_exact_name_or_mapping(engine: Engine, scim: Scim, api: Api) -> None:
    _add(engine, scim, "London HQ")
    configure(engine, scim, location_sync="per_location")  # membership stays separate
    create(scim, "a", "a@corp.test", **{ENVOY: {"defaultLocationName": "london hq"}})
    create(scim, "b", "b@corp.test", **{ENVOY: {"defaultLocationName": "LDN"}})
    a, b = api.by_email("a@corp.test"), api.by_email("b@corp.test")
    assert a is not None and b is not None
    assert a["primaryLocation"]["location"]["name"] == "London HQ"
    assert a["locations"] == []  # analytics only: no membership
    assert b["primaryLocation"] == {"value": "LDN", "location": None}
    assert "matches no location" in (
        notes(engine, scim, "employee.primary_location")[0].detail or ""
    )
    with engine.begin() as conn:
        assert locations.unmapped(conn, scim.tenant_id) == [("LDN", 1)]
        locations.map_value(conn, scim.tenant_id, "ldn", "london hq")
        assert locations.unmapped(conn, scim.tenant_id) == []
    b = api.by_email("b@corp.test")
    assert b is not None and b["primaryLocation"]["location"]["name"] == "London HQ"
    # New users with the mapped value are assigned at once.
    create(scim, "c", "c@corp.test", **{ENVOY: {"defaultLocationName": "Ldn"}})
    c = api.by_email("c@corp.test")
    assert c is not None and c["primaryLocation"]["location"]["name"] == "London HQ"


def test_a_location_added_later_takes_its_exact_primary_matches(
    engine: Engine, scim: Scim, api: Api
) -> None:
    create(scim, "a", "a@corp.test", **{ENVOY: {"defaultLocationName": "Tokyo"}})
    _add(engine, scim, "tokyo")
    a = api.by_email("a@corp.test")
    assert a is not None and a["primaryLocation"]["location"]["name"] == "tokyo"
