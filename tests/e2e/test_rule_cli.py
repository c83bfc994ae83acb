"""``roster access-group|rule`` and ``roster employee explain`` as an admin runs them: a
command (in-process) on the suite's database. Tenants, locations and employees are made
directly (that part is not what is tested)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import Engine

from roster.directory.admin import rule_runs, tenancy
from roster.directory.people import employees
from roster.directory.people.employees import ManualEmployee
from roster.directory.places import locations
from roster.storage.rule_runs import RunRow
from tests.e2e.conftest import cli_json, refused, run_cli, run_with_terminal_stderr


def _tenant(engine: Engine, people: dict[str, str] | None = None) -> tuple[str, int]:
    """A tenant with locations HQ and Annex and manual employees (email -> city)."""
    name = f"rules-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        tenant_id = tenancy.create_tenant(conn, name).id
        locations.add(conn, tenant_id, "HQ")
        locations.add(conn, tenant_id, "Annex")
        for email, city in (people or {}).items():
            employees.add_manual(conn, tenant_id, ManualEmployee(email, {"city": city}))
    return name, tenant_id


def test_access_groups_add_list_remove(db_url: str, engine: Engine) -> None:
    t, _ = _tenant(engine)
    added = cli_json(
        db_url, "access-group", "add", "--tenant", t, "Doors", "--description", "front doors"
    )
    assert (added["name"], added["description"]) == ("Doors", "front doors")
    text = run_cli(db_url, "access-group", "add", "--tenant", t, "Garage").stdout
    assert text.startswith("access group 'Garage' added (")
    listed = cli_json(db_url, "access-group", "list", "--tenant", t)
    assert [g["name"] for g in listed] == ["Doors", "Garage"]
    human = run_cli(db_url, "access-group", "list", "--tenant", t).stdout
    assert f"{added['id']}  Doors  (front doors)" in human
    assert "already exists" in refused(db_url, "access-group", "add", "--tenant", t, "doors")
    # In use by a rule: refused, naming the rule.
    cli_json(db_url, "rule", "add", "--tenant", t, "Staff", "--access-group", "Doors")
    message = refused(db_url, "access-group", "remove", "--yes", "--tenant", t, "Doors")
    assert "granted by rule(s) 'Staff'" in message
    removed = cli_json(db_url, "access-group", "remove", "--yes", "--tenant", t, "Garage")
    assert removed["name"] == "Garage"
    cli_json(db_url, "rule", "remove", "--yes", "--tenant", t, "Staff")
    assert (
        cli_json(db_url, "access-group", "remove", "--yes", "--tenant", t, added["id"])["name"]
        == "Doors"
    )
    assert cli_json(db_url, "access-group", "list", "--tenant", t) == []
    assert "no access group 'Doors'" in refused(
        db_url, "access-group", "remove", "--yes", "--tenant", t, "Doors"
    )


def test_rules_add_list_show_remove(db_url: str, engine: Engine) -> None:
    t, _ = _tenant(engine)
    cli_json(db_url, "access-group", "add", "--tenant", t, "Doors")
    boston = cli_json(
        db_url,
        "rule",
        "add",
        "--tenant",
        t,
        "Boston staff",
        "--if",
        'city eq "Boston"',
        "--if",
        "groups any Eng Ops",
        "--match",
        "any",
        "--access-group",
        "Doors",
        "--role",
        "front desk admin",
        "--location",
        "HQ",
    )
    assert boston["position"] == 1 and boston["match"] == "any"
    assert boston["conditions"] == ["city eq Boston", "groups any Eng Ops"]
    assert boston["grants"]["role"] == "Front desk admin"
    assert [g["name"] for g in boston["grants"]["access_groups"]] == ["Doors"]
    assert [g["name"] for g in boston["grants"]["locations"]] == ["HQ"]
    assert boston["grants"]["mobile_key"] is False
    # No group Eng or Ops has been pushed: the condition waits for them, and says so.
    assert boston["waiting_for_groups"] == ["Eng", "Ops"]
    assert boston["description"] == (
        "if any of: city eq Boston; groups any Eng Ops (waiting for group 'Eng', 'Ops') -> "
        "access groups 'Doors', role Front desk admin, locations 'HQ'"
    )
    added = run_cli(db_url, "rule", "add", "--tenant", t, "Everyone", "--location", "Annex")
    assert "2. Everyone (" in added.stdout and "roster rule dry-run" in added.stdout
    first = cli_json(
        db_url, "rule", "add", "--tenant", t, "Nobody", "--if", "title eq CEO", "--position", "1"
    )
    assert first["position"] == 1

    listed = cli_json(db_url, "rule", "list", "--tenant", t)
    assert [(r["position"], r["name"]) for r in listed] == [
        (1, "Nobody"),
        (2, "Boston staff"),
        (3, "Everyone"),
    ]
    human = run_cli(db_url, "rule", "list", "--tenant", t).stdout.splitlines()
    assert human[0] == f"1. Nobody ({first['id']})"
    assert human[1] == (
        "   if all of: title eq CEO -> nothing (an exclusion: employees it matches get no access)"
    )
    assert human[4] == "3. Everyone (" + listed[2]["id"] + ")"
    assert human[5] == "   for everyone -> locations 'Annex'"

    # show: by name, id or position.
    assert cli_json(db_url, "rule", "show", "--tenant", t, boston["id"]) == {
        **boston,
        "position": 2,
    }
    assert cli_json(db_url, "rule", "show", "--tenant", t, "2")["name"] == "Boston staff"
    shown = run_cli(db_url, "rule", "show", "--tenant", t, "boston staff").stdout
    assert "  match:       any of its conditions" in shown
    assert "  if:          groups any Eng Ops" in shown
    assert "  waiting:     no group called 'Eng' yet (binds when the IdP pushes one)" in shown
    assert "    role:          Front desk admin" in shown

    # Refusals: a condition that does not parse, a location role without locations, an
    # unknown rule; bad usage (--match) exits 2.
    assert "unknown attribute 'colour'" in refused(
        db_url, "rule", "add", "--tenant", t, "X", "--if", "colour eq red"
    )
    assert "is a location role: name the locations" in refused(
        db_url, "rule", "add", "--tenant", t, "X", "--role", "Deliveries"
    )
    assert "a rule called 'Everyone' already exists" in refused(
        db_url, "rule", "add", "--tenant", t, "everyone"
    )
    assert "no rule 'Nope'" in refused(db_url, "rule", "show", "--tenant", t, "Nope")
    bad = run_cli(db_url, "rule", "add", "--tenant", t, "X", "--match", "some", check=False)
    assert bad.returncode == 2 and "--match must be all or any" in bad.stderr

    removed = cli_json(db_url, "rule", "remove", "--yes", "--tenant", t, "Nobody")
    assert removed["name"] == "Nobody"
    listed = cli_json(db_url, "rule", "list", "--tenant", t)
    assert [(r["position"], r["name"]) for r in listed] == [(1, "Boston staff"), (2, "Everyone")]
    assert "no tenant called 'no-such'" in refused(db_url, "rule", "list", "--tenant", "no-such")


def test_moving_a_rule_changes_which_one_fires(db_url: str, engine: Engine) -> None:
    t, _ = _tenant(engine, {"ann@corp.test": "Boston"})
    cli_json(
        db_url, "rule", "add", "--tenant", t, "Boston", "--if", "city eq Boston", "--location", "HQ"
    )
    cli_json(db_url, "rule", "add", "--tenant", t, "Everyone", "--location", "Annex")

    def explained() -> Any:
        return cli_json(db_url, "employee", "explain", "--tenant", t, "ann@corp.test")

    cli_json(db_url, "rule", "apply", "--tenant", t)
    before = explained()
    assert before["rule"]["name"] == "Boston"
    assert [(r["name"], r["matched"]) for r in before["rules_tried"]] == [("Boston", True)]
    moved = cli_json(db_url, "rule", "move", "--tenant", t, "Everyone", "--to", "1")
    assert [r["name"] for r in moved] == ["Everyone", "Boston"]
    after = explained()
    assert after["rule"]["name"] == "Everyone"
    # Pending: applying now would swap HQ for Annex.
    assert sorted(c["line"] for c in after["pending"]) == [
        "+ location 'Annex': granted by rule 'Everyone'",
        "- location 'HQ': revoked: now matched by rule 'Everyone', which does not grant it",
    ]
    text = run_cli(db_url, "rule", "move", "--tenant", t, "Boston", "--to", "1").stdout
    assert text.startswith("rule 'Boston' is now at position 1:\n1. Boston\n2. Everyone\n")
    assert explained()["rule"]["name"] == "Boston"
    assert "position must be between 1 and 2" in refused(
        db_url, "rule", "move", "--tenant", t, "Boston", "--to", "3"
    )


def test_dry_run_then_apply_then_explain(db_url: str, engine: Engine) -> None:
    t, _ = _tenant(engine, {"ann@corp.test": "Boston", "bob@corp.test": "Austin"})
    cli_json(db_url, "access-group", "add", "--tenant", t, "Doors")
    cli_json(
        db_url,
        "rule",
        "add",
        "--tenant",
        t,
        "Boston",
        "--if",
        "city eq Boston",
        "--if",
        "postal_code present",  # the older name: accepted, shown as postalCode
        "--match",
        "any",
        "--access-group",
        "Doors",
        "--role",
        "Deliveries",
        "--location",
        "HQ",
    )
    cli_json(db_url, "rule", "add", "--tenant", t, "Locals", "--if", "city in Austin Dallas")

    dry = cli_json(db_url, "rule", "dry-run", "--tenant", t)
    assert dry["totals"] == {
        "evaluated": 2,
        "rules": 2,
        "employees_changing": 1,
        "gain": 3,
        "lose": 0,
        "change": 0,
        "keep": 0,
    }
    [ann] = dry["employees"]
    assert (ann["email"], ann["rule"]) == ("ann@corp.test", "Boston")
    assert [c["line"] for c in ann["changes"]] == [
        "+ Deliveries at 'HQ': granted Deliveries by rule 'Boston'",
        "+ access group 'Doors': granted by rule 'Boston'",
        "+ location 'HQ': granted by rule 'Boston'",
    ]
    text = run_cli(db_url, "rule", "dry-run", "--tenant", t).stdout.splitlines()
    assert text[0] == "ann@corp.test (rule 'Boston')"
    assert text[1] == "  + Deliveries at 'HQ': granted Deliveries by rule 'Boston'"
    assert text[4] == (
        "2 employees evaluated against 2 rules: 1 would change (3 gained, 0 lost, 0 changed)"
    )
    # A dry run changes nothing.
    assert cli_json(db_url, "rule", "dry-run", "--tenant", t) == dry

    applied = cli_json(db_url, "rule", "apply", "--tenant", t, "--batch-size", "1")
    assert applied["resumed"] is False
    assert (applied["processed"], applied["changed"], applied["batches"]) == (2, 1, 2)
    after = cli_json(db_url, "rule", "dry-run", "--tenant", t)
    assert after["employees"] == [] and after["totals"]["gain"] == 0

    explained = cli_json(db_url, "employee", "explain", "--tenant", t, "bob@corp.test")
    assert explained["rule"]["name"] == "Locals"
    boston, locals_ = explained["rules_tried"]
    assert (boston["name"], boston["match"], boston["matched"]) == ("Boston", "any", False)
    assert boston["conditions"] == [
        {
            "condition": "city eq Boston",
            "passed": False,
            "because": "city eq Boston is false: city is 'Austin'",
        },
        {
            "condition": "postalCode present",
            "passed": False,
            "because": "postalCode present is false: postalCode is not set",
        },
    ]
    assert locals_["matched"] is True and locals_["conditions"][0]["passed"] is True
    assert explained["roles"] == [] and explained["grants"] == [] and explained["pending"] == []

    ann_json = cli_json(db_url, "employee", "explain", "--tenant", t, "ann@corp.test")
    assert [(r["role"], r["source"], r["origin"]) for r in ann_json["roles"]] == [
        ("Deliveries", "rule", "Boston")
    ]
    assert [(g["label"], g["status"], g["rule"]) for g in ann_json["grants"]] == [
        ("access group 'Doors'", "active", "Boston"),
        ("location 'HQ'", "active", "Boston"),
    ]
    lines = run_cli(db_url, "employee", "explain", "--tenant", t, "bob@corp.test").stdout
    bob_id = explained["employee"]["id"]
    assert lines.splitlines() == [
        f"bob@corp.test ({bob_id}), active, in no group",
        "1. rule 'Boston' (match any): no condition held:",
        "     city eq Boston is false: city is 'Austin'",
        "     postalCode present is false: postalCode is not set",
        "2. rule 'Locals' (match all): FIRED",
    ]
    ann_text = run_cli(db_url, "employee", "explain", "--tenant", t, "ann@corp.test").stdout
    assert "role: Deliveries at 'HQ' from rule 'Boston'" in ann_text
    assert "granted: access group 'Doors' (by rule 'Boston')" in ann_text
    assert "no employee 'nobody@corp.test'" in refused(
        db_url, "employee", "explain", "--tenant", t, "nobody@corp.test"
    )


def test_explain_with_no_rules_says_nothing_is_granted(db_url: str, engine: Engine) -> None:
    t, _ = _tenant(engine, {"ann@corp.test": "Boston"})
    data = cli_json(db_url, "employee", "explain", "--tenant", t, "ann@corp.test")
    assert data["rule"] is None and data["rules_tried"] == []
    assert data["reason"] == "no rules are defined, so nothing is granted"
    text = run_cli(db_url, "employee", "explain", "--tenant", t, "ann@corp.test").stdout
    assert text.splitlines()[1] == "no rules are defined, so nothing is granted"


def test_apply_resumes_an_interrupted_run_and_says_so(db_url: str, engine: Engine) -> None:
    people = {f"p{i}@corp.test": "Boston" for i in range(5)}
    t, tenant_id = _tenant(engine, people)
    cli_json(
        db_url, "rule", "add", "--tenant", t, "Boston", "--if", "city eq Boston", "--location", "HQ"
    )

    class Crash(Exception):
        pass

    def crash_on_third(run: RunRow) -> None:
        if run.batches == 3:
            raise Crash  # the third batch rolls back; two are committed

    with pytest.raises(Crash):
        rule_runs.apply(engine, tenant_id, batch_size=1, progress=crash_on_third)
    resumed = run_cli(db_url, "rule", "apply", "--tenant", t, "--batch-size", "1")
    assert resumed.stdout.startswith("resumed the interrupted apply ")
    assert ": 2 employees were already done\n" in resumed.stdout
    assert "3 employees evaluated, 3 changed (5 in all, batches: 5)" in resumed.stdout
    dry = cli_json(db_url, "rule", "dry-run", "--tenant", t)
    assert dry["employees"] == []  # everyone has HQ, no one twice
    again = cli_json(db_url, "rule", "apply", "--tenant", t)
    assert again["resumed"] is False and again["changed"] == 0 and again["processed"] == 5


def test_apply_counts_on_the_terminal_never_on_stdout(db_url: str, engine: Engine) -> None:
    t, _ = _tenant(engine, {f"p{i}@corp.test": "Boston" for i in range(20)})
    cli_json(
        db_url, "rule", "add", "--tenant", t, "Boston", "--if", "city eq Boston", "--location", "HQ"
    )
    # stderr is a terminal, stdout a pipe (`roster rule apply ... > report.txt`).
    returncode, stdout, drawn = run_with_terminal_stderr(
        db_url, "rule", "apply", "--tenant", t, "--batch-size", "2"
    )
    assert returncode == 0
    assert stdout.startswith("apply ") and "20 employees evaluated, 20 changed" in stdout
    assert b"applying rules" in drawn
    # Not a terminal: no count at all.
    quiet = run_cli(db_url, "rule", "apply", "--tenant", t)
    assert quiet.stderr == ""
