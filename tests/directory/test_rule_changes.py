"""Editing rules changes nobody until applied; applying settles everyone, including when
the last rule goes (nothing granted, and the log says why for each user)."""

from __future__ import annotations

from sqlalchemy import Engine

from roster.directory.admin import rule_runs, rulebook
from roster.directory.admin.rulebook import RuleSpec
from roster.directory.journal import system_log
from roster.directory.people.employees import find
from roster.directory.places import locations
from roster.storage import access as access_store
from tests.conftest import Scim
from tests.directory.conftest import create


def _grants(engine: Engine, scim: Scim, email: str) -> dict[str, tuple[str, str | None]]:
    with engine.connect() as conn:
        e = find(conn, scim.tenant_id, email)
        rows = access_store.grants_of(conn, scim.tenant_id, [e.pk])[e.pk]
    return {g.kind: (g.status, g.reason) for g in rows}


def test_removing_the_last_rule_revokes_its_grants_only_on_apply(
    engine: Engine, scim: Scim
) -> None:
    with engine.begin() as conn:
        locations.add(conn, scim.tenant_id, "HQ")
        rulebook.add_access_group(conn, scim.tenant_id, "Doors")
        rulebook.add_rule(
            conn,
            scim.tenant_id,
            RuleSpec("Boston", ["city eq Boston"], access_groups=["Doors"], locations=["HQ"]),
        )
    create(scim, "amy", addresses=[{"type": "work", "locality": "Boston"}])
    assert _grants(engine, scim, "amy@corp.test") == {
        "access_group": ("active", None),
        "location": ("active", None),
    }
    with engine.begin() as conn:
        rulebook.remove_rule(conn, scim.tenant_id, "Boston")
    # Removing the rule changed nobody yet; the dry run says what applying would do.
    assert _grants(engine, scim, "amy@corp.test")["location"] == ("active", None)
    with engine.connect() as conn:
        preview = rule_runs.dry_run(conn, scim.tenant_id)
    assert [(d.email, [c.line() for c in d.changes]) for d in preview.diffs] == [
        (
            "amy@corp.test",
            [
                "- access group 'Doors': revoked: no rules are defined, so nothing is granted",
                "- location 'HQ': revoked: no rules are defined, so nothing is granted",
            ],
        )
    ]
    report = rule_runs.apply(engine, scim.tenant_id)
    assert (report.processed, report.changed) == (1, 1)
    assert _grants(engine, scim, "amy@corp.test") == {
        "access_group": ("revoked", "no rules are defined, so nothing is granted"),
        "location": ("revoked", "no rules are defined, so nothing is granted"),
    }
    with engine.connect() as conn:
        entries = system_log.recent(conn, scim.tenant_id, limit=50)
    said = [e.detail or "" for e in entries if e.path == "access.evaluate"]
    assert said[0].startswith("amy@corp.test: no rules are defined, so nothing is granted; ")


def test_an_update_after_the_last_rule_went_revokes_like_apply(engine: Engine, scim: Scim) -> None:
    with engine.begin() as conn:
        locations.add(conn, scim.tenant_id, "HQ")
        rulebook.add_rule(
            conn, scim.tenant_id, RuleSpec("Boston", ["city eq Boston"], locations=["HQ"])
        )
    user = create(scim, "bo", addresses=[{"type": "work", "locality": "Boston"}])
    with engine.begin() as conn:
        rulebook.remove_rule(conn, scim.tenant_id, "Boston")
    # The user's next update is evaluated under the rules as they are now: none.
    moved = scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "title", "value": "x"}])
    assert moved.status_code == 200, moved.text
    assert _grants(engine, scim, "bo@corp.test") == {
        "location": ("revoked", "no rules are defined, so nothing is granted")
    }
    # Settled: a further update has nothing to look at (no decision row left).
    with engine.connect() as conn:
        e = find(conn, scim.tenant_id, "bo@corp.test")
        assert access_store.decisions_of(conn, scim.tenant_id, [e.pk]) == {}
