"""Sequr's provisioning rules, through SCIM: first match wins and reordering changes the
winner, match all versus any, no rules, a moved employee deactivated in a location (not
deleted), inactive employees, dry run versus apply, an apply that crashes and resumes, and
one tenant's rules never reaching another tenant."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from roster.directory.admin import role_admin, rule_runs, rulebook
from roster.directory.people.employees import find
from roster.errors import Conflict
from roster.storage import access as access_store
from roster.storage import rule_runs as runs_store
from roster.storage.rule_runs import RunRow
from roster.storage.tables import employee_grants
from tests.conftest import Scim, new_connection
from tests.directory.access_support import (
    access_group,
    active,
    add_location,
    add_rule,
    evaluations_of,
    grants,
    log,
    map_group,
    roles,
    row_counts,
)
from tests.directory.conftest import ENTERPRISE, create


def _email(name: str) -> str:
    return f"{name}@corp.test"


def _person(scim: Scim, name: str, city: str | None = None, department: str | None = None) -> str:
    attrs: dict[str, Any] = {"active": True}
    if city is not None:
        attrs["addresses"] = [{"locality": city, "type": "work", "primary": True}]
    if department is not None:
        attrs[ENTERPRISE] = {"department": department}
    return str(create(scim, name, _email(name), **attrs)["id"])


def _move(scim: Scim, user_id: str, city: str) -> None:
    response = scim.patch(
        f"/Users/{user_id}",
        [{"op": "replace", "path": "addresses", "value": [{"locality": city, "primary": True}]}],
    )
    assert response.status_code == 200, response.text


DOORS_ENG, DOORS_ALL = "access group 'Eng doors'", "access group 'Main doors'"


# ---- first match wins ----------------------------------------------------------------------


def test_the_first_matching_rule_wins_and_reordering_then_applying_changes_the_winner(
    engine: Engine, scim: Scim
) -> None:
    access_group(engine, scim, "Eng doors", "Main doors")
    add_rule(engine, scim, "Engineers", "groups any Eng", access_groups=["Eng doors"])
    add_rule(engine, scim, "Everyone", access_groups=["Main doors"])
    ann, _ = _person(scim, "ann"), _person(scim, "bob")
    scim.create_group("Eng", [ann])
    assert active(engine, scim, _email("ann")) == {DOORS_ENG}
    assert active(engine, scim, _email("bob")) == {DOORS_ALL}
    with engine.begin() as conn:
        rulebook.move_rule(conn, scim.tenant_id, "Everyone", 1)
    # Editing rules changes no one's access by itself ...
    assert active(engine, scim, _email("ann")) == {DOORS_ENG}
    with engine.connect() as conn:
        pending = rule_runs.explain(conn, scim.tenant_id, _email("ann")).pending
    assert {(c.what, c.change) for c in pending} == {(DOORS_ALL, "gain"), (DOORS_ENG, "lose")}
    # ... applying does.
    report = rule_runs.apply(engine, scim.tenant_id)
    assert (report.processed, report.changed) == (2, 1)
    assert active(engine, scim, _email("ann")) == {DOORS_ALL}
    assert grants(engine, scim, _email("ann"))[DOORS_ENG] == (
        "revoked",
        "now matched by rule 'Everyone', which does not grant it",
    )
    with engine.connect() as conn:
        explained = rule_runs.explain(conn, scim.tenant_id, _email("ann"))
    assert explained.decision.rule is not None and explained.decision.rule.name == "Everyone"
    assert explained.pending == []


def test_explain_names_the_failed_condition_of_each_rule_above_the_one_that_fired(
    engine: Engine, scim: Scim
) -> None:
    add_location(engine, scim, "Boston office")
    access_group(engine, scim, "Main doors")
    add_rule(engine, scim, "Bostonians", "city eq Boston", locations=["Boston office"])
    add_rule(engine, scim, "Eng or Ops", "groups any Eng", "groups any Ops", match="any")
    add_rule(engine, scim, "Everyone", access_groups=["Main doors"])
    _person(scim, "ann", city="Chicago")
    with engine.connect() as conn:
        lines = rule_runs.explain(conn, scim.tenant_id, _email("ann")).lines()
    assert lines[1:6] == [
        "1. rule 'Bostonians' (match all): failed on city eq Boston is false: city is 'Chicago'",
        "2. rule 'Eng or Ops' (match any): no condition held:",
        "     groups any Eng is false: in none",
        "     groups any Ops is false: in none",
        "3. rule 'Everyone' (match all): FIRED",
    ]
    assert "granted: access group 'Main doors' (by rule 'Everyone')" in lines


# ---- match all versus match any ------------------------------------------------------------


@pytest.mark.parametrize(
    ("match", "granted"),
    [("all", {"both"}), ("any", {"both", "city_only", "dept_only"})],
)
def test_match_all_versus_match_any(
    engine: Engine, scim: Scim, match: str, granted: set[str]
) -> None:
    access_group(engine, scim, "Eng doors")
    add_rule(
        engine,
        scim,
        "Boston engineers",
        "city eq Boston",
        "department eq Engineering",
        match=match,
        access_groups=["Eng doors"],
    )
    _person(scim, "both", city="boston", department="Engineering")
    _person(scim, "city_only", city="Boston", department="Sales")
    _person(scim, "dept_only", city="Paris", department="engineering ")
    _person(scim, "neither", city="Paris")
    holders = {
        name
        for name in ("both", "city_only", "dept_only", "neither")
        if active(engine, scim, _email(name)) == {DOORS_ENG}
    }
    assert holders == granted
    [neither] = evaluations_of(engine, scim, _email("neither"))
    assert "no rule matched, so nothing is granted" in neither
    assert "city eq Boston is false: city is 'Paris'" in neither


# ---- no rules ------------------------------------------------------------------------------


def test_with_no_rules_nothing_is_granted_and_the_log_says_why_for_each_user(
    engine: Engine, scim: Scim
) -> None:
    access_group(engine, scim, "Main doors")  # an access group alone grants nothing
    for name in ("ann", "bob", "cyd"):
        _person(scim, name, city="Boston")
    for name in ("ann", "bob", "cyd"):
        assert evaluations_of(engine, scim, _email(name)) == [
            f"{name}@corp.test: no rules are defined, so nothing is granted"
        ]
        assert grants(engine, scim, _email(name)) == {}
    report = rule_runs.apply(engine, scim.tenant_id)
    assert (report.processed, report.changed) == (3, 0)
    for name in ("ann", "bob", "cyd"):
        assert evaluations_of(engine, scim, _email(name))[-1] == (
            f"{name}@corp.test: no rules are defined, so nothing is granted; nothing changes"
        )


def test_removing_the_last_rule_then_applying_revokes_what_it_granted(
    engine: Engine, scim: Scim
) -> None:
    access_group(engine, scim, "Main doors")
    add_rule(engine, scim, "Everyone", access_groups=["Main doors"])
    _person(scim, "ann")
    assert active(engine, scim, _email("ann")) == {DOORS_ALL}
    with engine.begin() as conn:
        rulebook.remove_rule(conn, scim.tenant_id, "Everyone")
    with engine.connect() as conn:
        dry = rule_runs.dry_run(conn, scim.tenant_id)
    assert [(d.email, [(c.what, c.change) for c in d.changes]) for d in dry.diffs] == [
        (_email("ann"), [(DOORS_ALL, "lose")])
    ]
    rule_runs.apply(engine, scim.tenant_id)
    assert grants(engine, scim, _email("ann")) == {
        DOORS_ALL: ("revoked", "no rules are defined, so nothing is granted")
    }


# ---- a city change deactivates a location --------------------------------------------------


def test_a_city_change_deactivates_the_location_with_the_failed_condition_as_reason(
    engine: Engine, scim: Scim
) -> None:
    add_location(engine, scim, "Boston office", "Chicago office")
    add_rule(engine, scim, "Bostonians", "city eq Boston", locations=["Boston office"])
    add_rule(engine, scim, "Chicagoans", "city eq Chicago", locations=["Chicago office"])
    ann = _person(scim, "ann", city="Boston")
    boston, chicago = "location 'Boston office'", "location 'Chicago office'"
    assert active(engine, scim, _email("ann")) == {boston}
    _move(scim, ann, "Chicago")
    held = grants(engine, scim, _email("ann"))
    assert held[chicago] == ("active", None)
    # Sequr: "deactivated in that location": the grant is revoked, not deleted, and says why.
    assert held[boston] == (
        "revoked",
        "no longer matches rule 'Bostonians' (city eq Boston is false: city is 'Chicago')",
    )
    # The employee is still in the directory, and active.
    with engine.connect() as conn:
        assert find(conn, scim.tenant_id, _email("ann")).status == "active"
    assert scim.get(f"/Users/{ann}").json()["active"] is True
    [*_, moved] = evaluations_of(engine, scim, _email("ann"))
    assert "- location 'Boston office': revoked: no longer matches rule 'Bostonians'" in moved
    assert "+ location 'Chicago office': granted by rule 'Chicagoans'" in moved
    # Moving back grants it again: the same row, a second activation.
    _move(scim, ann, "Boston")
    assert active(engine, scim, _email("ann")) == {boston}
    with engine.connect() as conn:
        employee = find(conn, scim.tenant_id, _email("ann"))
        rows = access_store.grants_of(conn, scim.tenant_id, [employee.pk])[employee.pk]
    assert sorted((g.status, g.activations) for g in rows) == [("active", 2), ("revoked", 1)]


def test_an_inactive_employee_loses_rule_grants_and_synced_roles_but_not_manual_ones(
    engine: Engine, scim: Scim
) -> None:
    add_location(engine, scim, "HQ", "Annex")
    access_group(engine, scim, "Main doors")
    add_rule(engine, scim, "Everyone", access_groups=["Main doors"], locations=["HQ"])
    map_group(engine, scim, "Front Desk", "Front desk admin", "HQ")
    ann = _person(scim, "ann")
    scim.create_group("Front Desk", [ann])
    with engine.begin() as conn:
        role_admin.assign(conn, scim.tenant_id, _email("ann"), "Deliveries", "Annex")
    assert active(engine, scim, _email("ann")) == {DOORS_ALL, "location 'HQ'"}
    assert roles(engine, scim, _email("ann")) == {
        ("Front desk admin", "HQ", "group"),
        ("Deliveries", "Annex", "manual"),
    }
    off = scim.patch(f"/Users/{ann}", [{"op": "replace", "path": "active", "value": False}])
    assert off.status_code == 200, off.text
    assert grants(engine, scim, _email("ann")) == {
        DOORS_ALL: ("revoked", "the employee is inactive, so nothing is granted"),
        "location 'HQ'": ("revoked", "the employee is inactive, so nothing is granted"),
    }
    assert roles(engine, scim, _email("ann")) == {("Deliveries", "Annex", "manual")}
    on = scim.patch(f"/Users/{ann}", [{"op": "replace", "path": "active", "value": True}])
    assert on.status_code == 200, on.text
    assert active(engine, scim, _email("ann")) == {DOORS_ALL, "location 'HQ'"}
    assert roles(engine, scim, _email("ann")) == {
        ("Front desk admin", "HQ", "group"),
        ("Deliveries", "Annex", "manual"),
    }


# ---- dry run versus apply ------------------------------------------------------------------


def test_a_dry_run_writes_nothing_and_lists_gains_and_losses_then_apply_writes_them(
    engine: Engine, scim: Scim
) -> None:
    add_location(engine, scim, "HQ")
    access_group(engine, scim, "Eng doors", "Main doors")
    add_rule(engine, scim, "Everyone", access_groups=["Main doors"])
    for name, dept in (("ann", "Engineering"), ("bob", "Sales"), ("cyd", "Engineering")):
        _person(scim, name, department=dept)
    # New rules, not yet applied: engineers get their doors and a role, and lose the main
    # doors (the first match wins); Sales is unchanged.
    add_rule(
        engine,
        scim,
        "Engineers",
        "department eq Engineering",
        access_groups=["Eng doors"],
        role="Security admin",
        locations=["HQ"],
        position=1,
    )
    before = row_counts(engine, scim.tenant_id)
    with engine.connect() as conn:
        dry = rule_runs.dry_run(conn, scim.tenant_id, batch_size=2)
    assert row_counts(engine, scim.tenant_id) == before
    assert (dry.evaluated, dry.rules) == (3, 2)
    assert {d.email: d.rule for d in dry.diffs} == {
        _email("ann"): "Engineers",
        _email("cyd"): "Engineers",
    }
    for diff in dry.diffs:
        assert {(c.kind, c.what, c.change) for c in diff.changes} == {
            ("access_group", DOORS_ENG, "gain"),
            ("access_group", DOORS_ALL, "lose"),
            ("location", "location 'HQ'", "gain"),
            ("role", "Security admin at 'HQ'", "gain"),
        }
    assert (dry.count("gain"), dry.count("lose")) == (6, 2)
    assert active(engine, scim, _email("ann")) == {DOORS_ALL}
    assert roles(engine, scim, _email("ann")) == set()

    report = rule_runs.apply(engine, scim.tenant_id)
    assert (report.resumed, report.processed, report.changed) == (False, 3, 2)
    after = row_counts(engine, scim.tenant_id)
    assert after["roles"] == before["roles"] + 2
    assert after["grants"] == before["grants"] + 4  # two new grants each; the lost one stays
    for name in ("ann", "cyd"):
        assert active(engine, scim, _email(name)) == {DOORS_ENG, "location 'HQ'"}
        assert roles(engine, scim, _email(name)) == {("Security admin", "HQ", "rule")}
    assert active(engine, scim, _email("bob")) == {DOORS_ALL}
    with engine.connect() as conn:
        assert rule_runs.dry_run(conn, scim.tenant_id).diffs == []  # nothing left to do
    [done] = [e for e in log(engine, scim, "rule.apply") if "done" in (e.detail or "")]
    assert "3 employees evaluated in 1 batches, 2 changed" in (done.detail or "")


# ---- apply: crash, resume, start over ------------------------------------------------------


class Crash(Exception):
    pass


def _crash_in_batch_2(run: RunRow) -> None:
    if run.batches == 2:
        raise Crash


def _five_with_a_new_rule(engine: Engine, scim: Scim) -> None:
    access_group(engine, scim, "Main doors")
    for name in ("p1", "p2", "p3", "p4", "p5"):
        _person(scim, name)
    add_rule(engine, scim, "Everyone", access_groups=["Main doors"])


def _grant_rows(engine: Engine, scim: Scim) -> int:
    with engine.connect() as conn:
        query = select(func.count()).select_from(employee_grants)
        return int(
            conn.execute(query.where(employee_grants.c.tenant_id == scim.tenant_id)).scalar_one()
        )


def test_an_apply_that_crashes_in_batch_2_resumes_after_batch_1_without_double_effects(
    engine: Engine, scim: Scim
) -> None:
    _five_with_a_new_rule(engine, scim)
    with pytest.raises(Crash):
        rule_runs.apply(engine, scim.tenant_id, batch_size=2, progress=_crash_in_batch_2)
    # Batch 1 (p1, p2) committed with the cursor; batch 2 (p3, p4) rolled back whole.
    holders = [n for n in ("p1", "p2", "p3", "p4", "p5") if active(engine, scim, _email(n))]
    assert holders == ["p1", "p2"]
    with engine.connect() as conn:
        run = runs_store.running(conn, scim.tenant_id)
    assert run is not None and (run.processed, run.batches, run.changed) == (2, 1, 2)

    report = rule_runs.apply(engine, scim.tenant_id, batch_size=2)
    assert report.resumed is True
    assert report.id == run.id
    assert (report.processed, report.changed) == (3, 3)  # this call: p3, p4, p5
    assert (report.total_processed, report.batches) == (5, 3)  # the whole run
    for name in ("p1", "p2", "p3", "p4", "p5"):
        assert active(engine, scim, _email(name)) == {DOORS_ALL}
    assert _grant_rows(engine, scim) == 5  # one each: nothing granted twice
    with engine.connect() as conn:
        employee = find(conn, scim.tenant_id, _email("p1"))
        [grant] = access_store.grants_of(conn, scim.tenant_id, [employee.pk])[employee.pk]
        assert runs_store.running(conn, scim.tenant_id) is None
    assert grant.activations == 1
    details = [e.detail or "" for e in log(engine, scim, "rule.apply")]
    assert f"resuming apply {run.id} after 2 employees (1 batches committed)" in details
    # A later apply is a new run that changes nothing.
    again = rule_runs.apply(engine, scim.tenant_id, batch_size=2)
    assert (again.resumed, again.processed, again.changed) == (False, 5, 0)
    assert again.id != run.id


def test_an_interrupted_apply_starts_over_when_the_rules_changed_since(
    engine: Engine, scim: Scim
) -> None:
    _five_with_a_new_rule(engine, scim)
    with pytest.raises(Crash):
        rule_runs.apply(engine, scim.tenant_id, batch_size=2, progress=_crash_in_batch_2)
    with engine.connect() as conn:
        stale = runs_store.running(conn, scim.tenant_id)
    assert stale is not None
    access_group(engine, scim, "Eng doors")
    add_rule(engine, scim, "Engineers", "groups any Eng", access_groups=["Eng doors"], position=1)
    report = rule_runs.apply(engine, scim.tenant_id, batch_size=2)
    assert report.resumed is False
    assert report.id != stale.id
    assert (report.processed, report.total_processed, report.batches) == (5, 5, 3)
    with engine.connect() as conn:
        assert runs_store.by_pk(conn, scim.tenant_id, stale.pk).status == "stale"
    details = [e.detail or "" for e in log(engine, scim, "rule.apply")]
    assert f"apply {stale.id} was interrupted and the rules changed since: starting over" in (
        details
    )
    assert _grant_rows(engine, scim) == 5


# ---- tenant isolation ----------------------------------------------------------------------


def test_one_tenants_rules_and_mappings_never_reach_another_tenants_employees(
    engine: Engine, client: TestClient
) -> None:
    mine, theirs = new_connection(engine, client), new_connection(engine, client)
    for scim in (mine, theirs):
        add_location(engine, scim, "HQ")
        access_group(engine, scim, "Main doors")
    add_rule(engine, mine, "Everyone", access_groups=["Main doors"], locations=["HQ"])
    map_group(engine, mine, "Admins", "Location admin", "HQ")
    for scim in (mine, theirs):
        user = str(create(scim, "ann", _email("ann"))["id"])
        scim.create_group("Admins", [user])
    assert active(engine, mine, _email("ann")) == {DOORS_ALL, "location 'HQ'"}
    assert roles(engine, mine, _email("ann")) == {("Location admin", "HQ", "group")}
    assert grants(engine, theirs, _email("ann")) == {}
    assert roles(engine, theirs, _email("ann")) == set()
    before = row_counts(engine, theirs.tenant_id)
    with engine.connect() as conn:
        assert rule_runs.dry_run(conn, mine.tenant_id).evaluated == 1
    report = rule_runs.apply(engine, mine.tenant_id)
    assert report.total_processed == 1
    assert row_counts(engine, theirs.tenant_id) == before
    assert evaluations_of(engine, theirs, _email("ann")) == [
        "ann@corp.test: no rules are defined, so nothing is granted"
    ]


# ---- a role granted by a rule ----------------------------------------------------------------


def test_a_rules_role_is_synced_refused_by_hand_and_goes_when_the_rule_stops_matching(
    engine: Engine, scim: Scim
) -> None:
    add_rule(engine, scim, "Finance", "department eq Finance", role="billing_admin")
    ann = _person(scim, "ann", department="Finance")
    assert roles(engine, scim, _email("ann")) == {("Billing admin", None, "rule")}
    with pytest.raises(Conflict) as refused, engine.begin() as conn:
        role_admin.unassign(conn, scim.tenant_id, _email("ann"))
    assert "it is granted by rule 'Finance': change the rules" in str(refused.value)
    with pytest.raises(Conflict), engine.begin() as conn:
        role_admin.assign(conn, scim.tenant_id, _email("ann"), "Global admin")
    assert roles(engine, scim, _email("ann")) == {("Billing admin", None, "rule")}
    moved = scim.patch(
        f"/Users/{ann}",
        [{"op": "replace", "path": f"{ENTERPRISE}:department", "value": "Sales"}],
    )
    assert moved.status_code == 200, moved.text
    assert roles(engine, scim, _email("ann")) == set()
    assert any(
        "removed Billing admin: the rule that granted it ('Finance') no longer applies" in d
        for d in evaluations_of(engine, scim, _email("ann"))
    )
