"""Regressions found in review of issue 5 (roles, rules, mobile key)."""

from __future__ import annotations

from sqlalchemy import Engine

from roster.directory import rule_runs, rulebook
from roster.directory.connections import delete_connection
from tests.conftest import Scim
from tests.directory.access_support import (
    access_group,
    active,
    add_rule,
    evaluations_of,
    grants,
)
from tests.directory.conftest import create


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
