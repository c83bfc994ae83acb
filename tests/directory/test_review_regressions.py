"""Regressions found in review of issue 5 (roles, rules, mobile key)."""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from roster.directory.admin import role_admin, rule_runs, rulebook
from roster.directory.admin.connections import delete_connection
from roster.directory.people.employees import find
from roster.directory.places import locations
from roster.errors import Conflict
from tests.conftest import Scim, wait_for_lock_waiter
from tests.directory.access_support import (
    access_group,
    active,
    add_location,
    add_rule,
    evaluations_of,
    grants,
    roles,
)
from tests.directory.conftest import Api, create


def _email(name: str) -> str:
    return f"{name}@corp.test"


def _person(scim: Scim, name: str) -> str:
    return str(create(scim, name, _email(name))["id"])


def test_an_update_after_the_last_rule_went_names_the_revoked_access_group_in_the_log(
    engine: Engine, scim: Scim
) -> None:
    access_group(engine, scim, "Main doors")
    add_rule(engine, scim, "Everyone", access_groups=["Main doors"])
    ann = _person(scim, "ann")
    with engine.begin() as conn:
        rulebook.remove_rule(conn, scim.tenant_id, "Everyone")
    r = scim.patch(f"/Users/{ann}", [{"op": "replace", "path": "title", "value": "X"}])
    assert r.status_code == 200, r.text
    last = evaluations_of(engine, scim, _email("ann"))[-1]
    assert "- access group 'Main doors': revoked" in last, last


def test_an_apply_after_the_last_rule_went_names_the_revoked_access_group_in_the_log(
    engine: Engine, scim: Scim
) -> None:
    access_group(engine, scim, "Main doors")
    add_rule(engine, scim, "Everyone", access_groups=["Main doors"])
    _person(scim, "ann")
    with engine.begin() as conn:
        rulebook.remove_rule(conn, scim.tenant_id, "Everyone")
    rule_runs.apply(engine, scim.tenant_id)
    last = evaluations_of(engine, scim, _email("ann"))[-1]
    assert "- access group 'Main doors': revoked" in last, last


def test_deleting_the_connection_revokes_rule_grants_that_needed_its_groups(
    engine: Engine, scim: Scim
) -> None:
    access_group(engine, scim, "Eng doors", "Main doors")
    add_rule(engine, scim, "Eng", "groups any Eng", access_groups=["Eng doors"])
    add_rule(engine, scim, "Everyone", access_groups=["Main doors"])
    ann = _person(scim, "ann")
    scim.create_group("Eng", [ann])
    assert active(engine, scim, _email("ann")) == {"access group 'Eng doors'"}
    with engine.begin() as conn:
        delete_connection(conn, scim.connection_id)
    # Her groups went with the connection: a membership change, evaluated at once.
    held = grants(engine, scim, _email("ann"))
    assert held["access group 'Eng doors'"][0] == "revoked"
    assert held["access group 'Main doors'"] == ("active", None)
    with engine.connect() as conn:
        assert rule_runs.dry_run(conn, scim.tenant_id).diffs == []


def test_a_manual_assign_racing_a_group_push_is_refused_not_a_crash(
    engine: Engine, scim: Scim
) -> None:
    # PostgreSQL: a group push holding the tenant lock has written Ann's synced role but not
    # committed. An admin assigning a role at the same place must wait for it and refuse
    # (a synced role cannot be changed by hand), not read "nothing held", insert and fail
    # on the unique key (or deadlock on the tenant lock it takes later).
    add_location(engine, scim, "HQ")
    ann = _person(scim, "ann")
    scim.create_group("Front Desk", [ann])
    with engine.connect() as conn:
        ann_id = find(conn, scim.tenant_id, _email("ann")).id  # by id, as the CLI allows
    first = engine.connect()
    tx = first.begin()
    role_admin.map_group(
        first, scim.tenant_id, scim.connection_id, "Front Desk", "Front desk admin", ["HQ"]
    )
    outcome: dict[str, object] = {}

    def admin() -> None:
        try:
            with engine.begin() as conn:
                role_admin.assign(conn, scim.tenant_id, ann_id, "Deliveries", "HQ")
            outcome["done"] = True
        except Exception as exc:  # the test reports what happened
            outcome["error"] = exc

    thread = threading.Thread(target=admin)
    thread.start()
    if engine.dialect.name == "postgresql":
        wait_for_lock_waiter(engine)
    tx.commit()
    first.close()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert isinstance(outcome.get("error"), Conflict), outcome
    assert "remove ann@corp.test from that group in the IdP" in str(outcome["error"])
    assert roles(engine, scim, _email("ann")) == {("Front desk admin", "HQ", "group")}


def test_a_manual_role_assigned_or_removed_moves_the_employees_updated_at(
    engine: Engine, scim: Scim, api: Api
) -> None:
    # The host polls updated_since=<newest updatedAt seen>; the read API shows roles, so
    # an admin's role change must give the employee a new updatedAt.
    add_location(engine, scim, "HQ")
    _person(scim, "ann")
    before = api.by_email(_email("ann"))
    assert before is not None and before["roles"] == []
    with engine.begin() as conn:
        role_admin.assign(conn, scim.tenant_id, _email("ann"), "Deliveries", "HQ")
    assigned = api.by_email(_email("ann"))
    assert assigned is not None and [r["role"] for r in assigned["roles"]] == ["Deliveries"]
    assert assigned["updatedAt"] > before["updatedAt"]
    assert [e["email"] for e in api.employees(updated_since=assigned["updatedAt"])] == [
        _email("ann")
    ]
    with engine.begin() as conn:
        role_admin.unassign(conn, scim.tenant_id, _email("ann"), "HQ")
    removed = api.by_email(_email("ann"))
    assert removed is not None and removed["roles"] == []
    assert removed["updatedAt"] > assigned["updatedAt"]


def test_removing_a_location_or_access_group_moves_the_updated_at_of_those_holding_it(
    engine: Engine, scim: Scim, api: Api
) -> None:
    # Ann is no member of either location: her roles and grants are what the read API
    # shows of them, and they go with the location or the access group.
    add_location(engine, scim, "HQ", "Annex")
    access_group(engine, scim, "Doors")
    rule = add_rule(engine, scim, "Everyone", access_groups=["Doors"], locations=["Annex"])
    _person(scim, "ann")
    with engine.begin() as conn:
        role_admin.assign(conn, scim.tenant_id, _email("ann"), "Deliveries", "HQ")
        rulebook.remove_rule(conn, scim.tenant_id, rule)
    first = api.by_email(_email("ann"))
    assert first is not None and first["roles"] and first["accessGroups"]
    assert first["locationAccess"]
    with engine.begin() as conn:
        locations.remove(conn, scim.tenant_id, "HQ")
    second = api.by_email(_email("ann"))
    assert second is not None and second["roles"] == []
    assert second["updatedAt"] > first["updatedAt"]
    with engine.begin() as conn:
        rulebook.remove_access_group(conn, scim.tenant_id, "Doors")
    third = api.by_email(_email("ann"))
    assert third is not None and third["accessGroups"] == []
    assert third["updatedAt"] > second["updatedAt"]
    with engine.begin() as conn:
        locations.remove(conn, scim.tenant_id, "Annex")
    fourth = api.by_email(_email("ann"))
    assert fourth is not None and fourth["locationAccess"] == []
    assert fourth["updatedAt"] > third["updatedAt"]
