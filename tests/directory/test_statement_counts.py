"""Query counts are behaviour: syncing a user to the directory costs the same number of
statements in a tenant of 2 employees as in one of 40, with locations and references."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine
from starlette.testclient import TestClient

from roster.directory.places import locations
from roster.directory.reads import read_api
from tests.conftest import Scim, StatementCounter, new_connection
from tests.directory.conftest import ENTERPRISE, ENVOY, configure, create, user_body


def _tenant(engine: Engine, client: TestClient, people: int) -> Scim:
    scim = new_connection(engine, client)
    configure(engine, scim, location_sync="per_location")
    with engine.begin() as conn:
        for city in ("Austin", "Boston", "Chicago"):
            locations.add(conn, scim.tenant_id, city, [city])
    for i in range(people):
        create(scim, f"p{i}", f"p{i}@corp.test", addresses=[{"locality": "Austin"}])
    return scim


def _count(c: StatementCounter) -> int:
    # SQLite's BEGIN IMMEDIATE is a statement there and not on PostgreSQL.
    return sum(1 for sql, _ in c.statements if not sql.startswith("BEGIN"))


def _costs(scim: Scim, counter: Callable[[], StatementCounter]) -> dict[str, int]:
    body = user_body(
        "new",
        "new@corp.test",
        addresses=[{"locality": "Boston"}],
        **{
            ENTERPRISE: {"manager": {"value": "00u0", "displayName": "p0@corp.test"}},
            ENVOY: {"assistants": ["p1@corp.test", "nobody@corp.test"], "remoteStatus": "wfh"},
        },
    )
    costs = {}
    with counter() as c:
        created = scim.post("/Users", body)
    assert created.status_code == 201
    costs["create"] = _count(c)
    with counter() as c:
        moved = scim.patch(
            f"/Users/{created.json()['id']}",
            [{"op": "replace", "path": "addresses", "value": [{"locality": "Chicago"}]}],
        )
    assert moved.status_code == 200
    costs["move"] = _count(c)
    with counter() as c:
        assert scim.delete(f"/Users/{created.json()['id']}").status_code == 204
    costs["delete"] = _count(c)
    return costs


def test_a_user_sync_costs_the_same_in_a_small_and_a_larger_directory(
    engine: Engine, client: TestClient, count_statements: Callable[[], StatementCounter]
) -> None:
    small = _costs(_tenant(engine, client, 2), count_statements)
    large = _costs(_tenant(engine, client, 40), count_statements)
    assert small == large
    # The figures today (one of them the manager lookup of scim_resources); a rise shows
    # up here. Every log entry of a request (its own and the notes of location placement,
    # manager and assistants resolved or waiting, "no rules are defined") is one
    # statement; the tenant's rules, mappings and locations come from the process's cache
    # (directory/settings/config_cache.py). PostgreSQL adds the configuration lock. Before the
    # write-path redesign (issue 10): 25, 25 and 10.
    postgres = engine.dialect.name == "postgresql"
    assert large == {"create": 14 + postgres, "move": 15 + postgres, "delete": 8 + postgres}


def _heads(engine: Engine, scim: Scim) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            loc["name"]: loc["employeeCount"]
            for loc in read_api.list_locations(conn, scim.tenant_id)
        }


def _admin_costs(
    engine: Engine, scim: Scim, counter: Callable[[], StatementCounter], people: int
) -> dict[str, int]:
    costs = {}
    with counter() as c, engine.begin() as conn:
        locations.add(conn, scim.tenant_id, "Denver", ["Austin"])  # everyone lives in Austin
    costs["location add"] = _count(c)
    assert _heads(engine, scim) == {"Austin": people, "Boston": 0, "Chicago": 0, "Denver": people}
    with counter() as c:
        configure(engine, scim, location_sync="all")
    costs["location_sync change"] = _count(c)
    assert set(_heads(engine, scim).values()) == {people}
    with counter() as c, engine.begin() as conn:
        locations.remove(conn, scim.tenant_id, "Denver")
    costs["location remove"] = _count(c)
    assert _heads(engine, scim) == {"Austin": people, "Boston": people, "Chicago": people}
    return costs


def test_location_changes_cost_the_same_for_5_and_200_employees(
    engine: Engine, client: TestClient, count_statements: Callable[[], StatementCounter]
) -> None:
    small, large = _tenant(engine, client, 5), _tenant(engine, client, 200)
    small_costs = _admin_costs(engine, small, count_statements, 5)
    large_costs = _admin_costs(engine, large, count_statements, 200)
    assert small_costs == large_costs
    # Re-evaluation is set-based: touch the movers, delete, insert, one summary log entry;
    # each action also bumps the tenant's configuration version and, on PostgreSQL, takes
    # the tenant's configuration lock first (directory/journal/change.py).
    # Before: 8 + 4 per synced employee for an add (808 for these 200) and a log entry each;
    # a location_sync change re-evaluated nobody.
    # Each moved employee's employee.location_changed (docs/events.md) costs a read of the
    # movers' memberships (one per 500 of them: the same here for 5 and 200), written with
    # the log entries; an add also reads who has it as primary location, a remove the
    # location names and connection ids (issue 13: 10, 7 and 11 before).
    postgres = engine.dialect.name == "postgresql"
    assert large_costs == {
        "location add": 12 + postgres,
        "location_sync change": 8 + postgres,
        "location remove": 13 + postgres,
    }


def test_a_manager_arriving_costs_the_same_for_3_and_30_waiting_reports(
    engine: Engine, client: TestClient, count_statements: Callable[[], StatementCounter]
) -> None:
    def arrival_cost(reports: int) -> int:
        scim = new_connection(engine, client)
        manager = {ENTERPRISE: {"manager": {"displayName": "boss@corp.test"}}}
        for i in range(reports):
            create(scim, f"r{i}", f"r{i}@corp.test", **manager)
        with count_statements() as c:
            boss = create(scim, "boss", "boss@corp.test")
        with engine.connect() as conn:  # the read side shows every report resolved
            people, _ = read_api.list_employees(conn, scim.tenant_id, limit=500)
        managers = [(p.get("manager") or {}).get("employee") or {} for p in people]
        assert sum(m.get("email") == "boss@corp.test" for m in managers) == reports
        assert boss["userName"] == "boss"
        return _count(c)

    assert arrival_cost(3) == arrival_cost(30)
