"""Edits in place an admin makes (from the console): a manual employee's fields and
locations (employees.edit_manual), and a rule's name, conditions and grants
(rulebook.edit_rule), each checked like the add it mirrors, logged, and all-or-nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from roster.directory.admin import rulebook
from roster.directory.admin.rulebook import RuleSpec
from roster.directory.journal import system_log
from roster.directory.people import employees
from roster.directory.people.employees import ManualEmployee
from roster.directory.places import locations
from roster.errors import Conflict, InvalidValue, NotFound, UniquenessConflict
from roster.storage.tables import events
from tests.conftest import Scim
from tests.directory.conftest import Api, create


def notes(engine: Engine, scim: Scim, action: str) -> list[system_log.LogEntry]:
    """The admin's entries of ``action`` (actor "admin", as from the CLI), oldest first."""
    with engine.connect() as conn:
        entries = system_log.recent(conn, scim.tenant_id, limit=500)
    return [e for e in reversed(entries) if e.actor == "admin" and e.path == action]


def test_a_manual_employee_is_edited_in_place(engine: Engine, scim: Scim, api: Api) -> None:
    with engine.begin() as conn:
        locations.add(conn, scim.tenant_id, "HQ")
        locations.add(conn, scim.tenant_id, "Lab")
        row = employees.add_manual(
            conn,
            scim.tenant_id,
            ManualEmployee("tia@corp.test", {"givenName": "Tia", "title": "Temp"}, ["HQ"]),
        )
    with engine.begin() as conn:
        edited = employees.edit_manual(
            conn,
            scim.tenant_id,
            row.id,
            ManualEmployee("tia.b@corp.test", {"givenName": "Tia", "locale": "en-GB"}, ["Lab"]),
        )
    assert edited.id == row.id and edited.pk == row.pk
    tia = api.employee(row.id)
    assert tia is not None
    assert (tia["email"], tia["title"], tia["locale"]) == ("tia.b@corp.test", None, "en_GB")
    assert [loc["name"] for loc in tia["locations"]] == ["Lab"]
    [entry] = notes(engine, scim, "employee.edit")
    assert entry.detail is not None and "email, locale, title changed" in entry.detail
    assert "locations: Lab" in entry.detail
    with engine.connect() as conn:
        updated = conn.execute(
            select(events.c.data).where(
                events.c.resource_id == row.id, events.c.type == "employee.updated"
            )
        ).scalar_one()
    assert updated["changedFields"] == ["email", "locale", "title"]


@pytest.mark.parametrize(
    ("person", "error"),
    [
        (ManualEmployee("nope", {}), InvalidValue),
        (ManualEmployee("tia@corp.test", {"shoeSize": "9"}), InvalidValue),
        (ManualEmployee("tia@corp.test", {}, ["Nowhere"]), NotFound),
        (ManualEmployee("SYNCED@corp.test", {}), UniquenessConflict),
    ],
)
def test_a_refused_edit_changes_nothing(
    engine: Engine, scim: Scim, api: Api, person: ManualEmployee, error: type[Exception]
) -> None:
    create(scim, "synced", "synced@corp.test")
    with engine.begin() as conn:
        row = employees.add_manual(
            conn, scim.tenant_id, ManualEmployee("tia@corp.test", {"title": "Temp"})
        )
    before = api.employee(row.id)
    with engine.begin() as conn, pytest.raises(error):
        employees.edit_manual(conn, scim.tenant_id, row.id, person)
    assert api.employee(row.id) == before
    assert notes(engine, scim, "employee.edit") == []


def test_a_synced_employee_is_edited_in_the_idp(engine: Engine, scim: Scim) -> None:
    create(scim, "s", "s@corp.test")
    with engine.begin() as conn, pytest.raises(Conflict, match="in the IdP"):
        employees.edit_manual(
            conn, scim.tenant_id, "s@corp.test", ManualEmployee("s@corp.test", {})
        )


def test_a_rule_is_edited_keeping_its_id_and_position(engine: Engine, scim: Scim) -> None:
    tenant_id = scim.tenant_id
    with engine.begin() as conn:
        locations.add(conn, tenant_id, "HQ")
        rulebook.add_access_group(conn, tenant_id, "Doors", None)
        rulebook.add_rule(conn, tenant_id, RuleSpec("First"))
        middle = rulebook.add_rule(conn, tenant_id, RuleSpec("Middle", ('city eq "Boston"',)))
        rulebook.add_rule(conn, tenant_id, RuleSpec("Last"))
        digest = rulebook.digest(rulebook.rules(conn, tenant_id))
    spec = RuleSpec(
        "Boston desk",
        ("groups any Desk",),
        "any",
        ("Doors",),
        "Front desk admin",
        ("HQ",),
        True,
        position=1,  # ignored: an edit never moves the rule
    )
    with engine.begin() as conn:
        edited = rulebook.edit_rule(conn, tenant_id, middle.id, spec)
        rows = rulebook.rules(conn, tenant_id)
        again = rulebook.spec_of(conn, tenant_id, edited)
        text = rulebook.describe(conn, tenant_id, edited)
    assert [(r.name, r.position) for r in rows] == [("First", 1), ("Boston desk", 2), ("Last", 3)]
    assert edited.id == middle.id and edited.created_at == middle.created_at
    assert again == RuleSpec(
        "Boston desk", ("groups any Desk",), "any", ("Doors",), "Front desk admin", ("HQ",), True, 2
    )
    # No group 'Desk' was pushed: the condition waits for one (docs/rules.md).
    assert text.startswith(
        "if any of: groups any Desk (waiting for group 'Desk') -> access groups 'Doors'"
    )
    assert rulebook.digest(rows) != digest  # the dry run and apply see the change
    [entry] = notes(engine, scim, "rule.edit")
    assert entry.detail is not None and "renamed from 'Middle'" in entry.detail
    assert "was if all of: city eq Boston -> nothing" in entry.detail


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        (RuleSpec("first"), UniquenessConflict),  # another rule's name, in any case
        (RuleSpec("X", ("city equals Boston",)), InvalidValue),
        (RuleSpec("X", match="most"), InvalidValue),
        (RuleSpec("X", role="Front desk admin"), InvalidValue),  # a location role needs one
        (RuleSpec("X", access_groups=("Nope",)), NotFound),
    ],
)
def test_a_refused_rule_edit_changes_nothing(
    engine: Engine, scim: Scim, spec: RuleSpec, error: type[Exception]
) -> None:
    with engine.begin() as conn:
        rulebook.add_rule(conn, scim.tenant_id, RuleSpec("First"))
        second = rulebook.add_rule(conn, scim.tenant_id, RuleSpec("Second"))
        before = rulebook.rules(conn, scim.tenant_id)
    with engine.begin() as conn, pytest.raises(error):
        rulebook.edit_rule(conn, scim.tenant_id, second.id, spec)
    with engine.connect() as conn:
        assert rulebook.rules(conn, scim.tenant_id) == before
    assert notes(engine, scim, "rule.edit") == []
    # Its own name, unchanged, is no conflict.
    with engine.begin() as conn:
        rulebook.edit_rule(conn, scim.tenant_id, second.id, RuleSpec("SECOND"))
