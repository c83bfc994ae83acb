"""Locations: all users to all locations, or per location by city or locale (re-evaluated
on every update); primary location by exact name or the admin's mapping."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from starlette.testclient import TestClient

from roster.directory.journal import system_log
from roster.directory.people import employees
from roster.directory.people.employees import ManualEmployee
from roster.directory.places import locations
from tests.conftest import Scim, new_connection
from tests.directory.conftest import ENVOY, Api, configure, create, notes, user_body


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


def _admin_notes(engine: Engine, scim: Scim, action: str) -> list[system_log.LogEntry]:
    with engine.connect() as conn:
        entries = system_log.recent(conn, scim.tenant_id, limit=500)
    return [e for e in reversed(entries) if e.actor == "admin" and e.path == action]


def _manual(engine: Engine, scim: Scim, email: str, *where: str) -> None:
    with engine.begin() as conn:
        employees.add_manual(conn, scim.tenant_id, ManualEmployee(email, {}, where))


def test_per_locale_sync_moves_a_user_whose_locale_changes(
    engine: Engine, scim: Scim, api: Api
) -> None:
    configure(engine, scim, location_sync="per_location")
    _add(engine, scim, "Paris", locales=["fr_FR"])
    _add(engine, scim, "Austin", locales=["en_US"])
    user = create(scim, "f", "f@corp.test", locale="fr-FR")
    assert _where(api, "f@corp.test") == ["Paris"]
    moved = scim.patch(
        f"/Users/{user['id']}", [{"op": "replace", "path": "locale", "value": "en_us"}]
    )
    assert moved.status_code == 200
    assert _where(api, "f@corp.test") == ["Austin"]
    assert "now in Austin (was Paris)" in (
        notes(engine, scim, "employee.locations")[-1].detail or ""
    )


def test_changing_location_sync_moves_the_connections_employees_at_once(
    engine: Engine, client: TestClient, scim: Scim, api: Api
) -> None:
    _add(engine, scim, "SF", cities=["San Francisco"])
    _add(engine, scim, "Paris", locales=["fr_FR"])
    _add(engine, scim, "Elsewhere")
    create(scim, "a", "a@corp.test", **_address("San Francisco"))
    create(scim, "b", "b@corp.test", locale="fr_FR")
    create(scim, "c", "c@corp.test", **_address("Oslo"))
    # Neither another connection's employees nor a manual one follow this setting.
    other = new_connection(engine, client, tenant=scim.tenant)
    create(other, "o", "o@corp.test", **_address("San Francisco"))
    _manual(engine, scim, "m@corp.test", "Paris")
    everywhere = ["Elsewhere", "Paris", "SF"]
    assert [_where(api, f"{x}@corp.test") for x in "abco"] == [everywhere] * 4
    stamps = {e["email"]: e["updatedAt"] for e in api.employees()}

    configure(engine, scim, location_sync="per_location")
    assert _where(api, "a@corp.test") == ["SF"]
    assert _where(api, "b@corp.test") == ["Paris"]
    assert _where(api, "c@corp.test") == []
    assert _where(api, "o@corp.test") == everywhere
    assert _where(api, "m@corp.test") == ["Paris"]
    after = {e["email"]: e["updatedAt"] for e in api.employees()}
    # updated_since readers see the moved employees, and only those.
    assert {e for e in after if after[e] != stamps[e]} == {
        "a@corp.test",
        "b@corp.test",
        "c@corp.test",
    }
    [resync] = _admin_notes(engine, scim, "location.resync")
    assert resync.connection_uid == scim.connection_id
    assert (
        "is now per_location: 3 employees' locations changed (0 memberships added, 7 removed)"
        in (resync.detail or "")
    )

    configure(engine, scim, location_sync="all")
    assert [_where(api, f"{x}@corp.test") for x in "abco"] == [everywhere] * 4
    assert _where(api, "m@corp.test") == ["Paris"]
    assert "is now all: 3 employees' locations changed (7 memberships added, 0 removed)" in (
        _admin_notes(engine, scim, "location.resync")[-1].detail or ""
    )
    # Setting the value it already has moves nobody and writes no re-evaluation.
    configure(engine, scim, location_sync="all")
    assert len(_admin_notes(engine, scim, "location.resync")) == 2


def test_set_based_evaluation_agrees_with_the_per_user_rule(
    engine: Engine, scim: Scim, api: Api
) -> None:
    _add(engine, scim, "SF", cities=["San Francisco", "Oakland"], locales=["en_US"])
    _add(engine, scim, "Paris", cities=["Paris"], locales=["fr_FR"])
    _add(engine, scim, "Berlin", cities=["Berlin"])
    people: dict[str, dict[str, Any]] = {
        "a": {**_address("Oakland"), "locale": "fr_FR"},  # two locations, by city and locale
        "b": {**_address("paris")},
        "c": {"locale": "en_US"},
        "d": {**_address("Tokyo"), "locale": "de_DE"},
        "e": {},
    }
    for name, attrs in people.items():
        create(scim, name, f"{name}@corp.test", **attrs)
    configure(engine, scim, location_sync="per_location")  # set-based
    set_based = {name: _where(api, f"{name}@corp.test") for name in people}
    assert set_based == {"a": ["Paris", "SF"], "b": ["Paris"], "c": ["SF"], "d": [], "e": []}
    # The same people synced one by one under per_location land in the same places.
    moves = len(notes(engine, scim, "employee.locations"))
    for name, attrs in people.items():
        updated = scim.put(
            f"/Users/{_id(scim, name)}", user_body(name, f"{name}@corp.test", **attrs)
        )
        assert updated.status_code == 200
    assert {name: _where(api, f"{name}@corp.test") for name in people} == set_based
    assert len(notes(engine, scim, "employee.locations")) == moves  # nothing left to move


def _id(scim: Scim, user_name: str) -> str:
    found = scim.get("/Users", params={"filter": f'userName eq "{user_name}"'}).json()
    return str(found["Resources"][0]["id"])


def test_a_location_added_later_receives_its_city_and_says_how_many(
    engine: Engine, scim: Scim, api: Api
) -> None:
    configure(engine, scim, location_sync="per_location")
    create(scim, "a", "a@corp.test", **_address("Lyon"))
    create(scim, "b", "b@corp.test", **_address("Nice"))
    _manual(engine, scim, "m@corp.test")
    _add(engine, scim, "Lyon", cities=["LYON"])
    assert _where(api, "a@corp.test") == ["Lyon"]
    assert _where(api, "b@corp.test") == [] and _where(api, "m@corp.test") == []
    [added] = _admin_notes(engine, scim, "location.add")
    assert "1 synced employees joined it" in (added.detail or "")
    assert notes(engine, scim, "employee.locations") == []  # one entry, not one per employee


def test_removing_a_location_takes_its_members_out(engine: Engine, scim: Scim, api: Api) -> None:
    _add(engine, scim, "HQ")
    _add(engine, scim, "Annex")
    create(scim, "a", "a@corp.test", **{ENVOY: {"defaultLocationName": "annex"}})
    create(scim, "b", "b@corp.test")
    _manual(engine, scim, "m@corp.test", "Annex")
    stamps = {e["email"]: e["updatedAt"] for e in api.employees()}
    with engine.begin() as conn:
        locations.remove(conn, scim.tenant_id, "ANNEX")
    assert [_where(api, f"{x}@corp.test") for x in "abm"] == [["HQ"], ["HQ"], []]
    a = api.by_email("a@corp.test")
    assert a is not None and a["primaryLocation"] == {"value": "annex", "location": None}
    assert [loc["name"] for loc in api.locations()] == ["HQ"]
    after = {e["email"]: e["updatedAt"] for e in api.employees()}
    assert all(after[e] != stamps[e] for e in stamps)
    [removed] = _admin_notes(engine, scim, "location.remove")
    assert "3 employees lost their membership; 1 lost it as primary location" in (
        removed.detail or ""
    )


def test_the_location_filter_ignores_case_and_spacing_not_accents(
    engine: Engine, scim: Scim, api: Api
) -> None:
    # The rule: names compare case-insensitively (Unicode lower-casing) with whitespace
    # collapsed; accents are significant ("Munchen" is another name than "München").
    _add(engine, scim, "München Office")
    create(scim, "a", "a@corp.test")
    for spelled in ("München Office", "MÜNCHEN OFFICE", "  münchen   office "):
        assert [e["email"] for e in api.employees(location=spelled)] == ["a@corp.test"]
    unaccented = api.http.get(
        "/api/v1/employees",
        params={"location": "Munchen Office"},
        headers={"Authorization": f"Bearer {api.key}"},
    )
    # A filter naming no location is bad input to the list: 400 (not 404, the resource).
    assert unaccented.status_code == 400 and "Munchen Office" in unaccented.text
