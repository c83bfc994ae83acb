"""Role mappings and rule conditions bind to the group itself (issue 11): a rename keeps
every role and grant (nothing revoked, no event, nothing "removed" in the log) and shows
the new name; a name not pushed yet waits and binds when a group of that name arrives (a
create, or a rename to it); a deleted group's bindings wait again on its last name; a
rule condition binds per connection."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from roster.directory.admin import role_admin, rule_runs, rulebook
from roster.directory.entitlements import group_bindings
from roster.storage.tables import events
from tests.conftest import GROUP_SCHEMA, Scim, StatementCounter, new_connection
from tests.directory.access_support import (
    ADD,
    access_group,
    active,
    add_location,
    add_rule,
    evaluations_of,
    grants,
    log,
    map_group,
    members,
    roles,
)
from tests.directory.conftest import configure, create

LA, FDA, SEC = "Location admin", "Front desk admin", "Security admin"
DOORS = "access group 'Doors'"


def _person(scim: Scim, name: str) -> str:
    return str(create(scim, name, f"{name}@corp.test")["id"])


def _rename(scim: Scim, group_id: str, name: str) -> None:
    # What Okta sends when a pushed group is renamed.
    renamed = scim.patch(
        f"/Groups/{group_id}", [{"op": "replace", "path": "displayName", "value": name}]
    )
    assert renamed.status_code in (200, 204), renamed.text


def _event_types(engine: Engine, scim: Scim) -> list[str]:
    with engine.connect() as conn:
        query = select(events.c.type).where(events.c.tenant_id == scim.tenant_id)
        return list(conn.execute(query.order_by(events.c.id)).scalars())


def _mapping_groups(engine: Engine, scim: Scim) -> list[tuple[str, bool]]:
    """(the name each mapping shows, whether it waits), by mapping."""
    with engine.connect() as conn:
        rows = role_admin.mappings(conn, scim.tenant_id)
        bound = group_bindings.of_mappings(conn, scim.tenant_id, rows)
    return [(bound[m.pk].name, bound[m.pk].waiting) for m in rows]


def test_a_rename_keeps_the_mapped_role_and_the_rule_grants_and_shows_the_new_name(
    engine: Engine, scim: Scim
) -> None:
    add_location(engine, scim, "HQ", "Annex")
    access_group(engine, scim, "Doors")
    map_group(engine, scim, "Front Desk", FDA, "HQ")
    add_rule(
        engine,
        scim,
        "Admins",
        "groups any Admins",
        role=LA,
        locations=["Annex"],
        access_groups=["Doors"],
    )
    ann = _person(scim, "ann")
    desk = scim.create_group("Front Desk", [ann])
    admins = scim.create_group("Admins", [ann])
    held = {(FDA, "HQ", "group"), (LA, "Annex", "rule")}
    assert roles(engine, scim, "ann@corp.test") == held
    assert active(engine, scim, "ann@corp.test") == {DOORS, "location 'Annex'"}
    events_before = _event_types(engine, scim)
    evaluated_before = evaluations_of(engine, scim, "ann@corp.test")

    _rename(scim, desk["id"], "Reception")
    _rename(scim, admins["id"], "Office Admins")

    assert roles(engine, scim, "ann@corp.test") == held
    assert active(engine, scim, "ann@corp.test") == {DOORS, "location 'Annex'"}
    assert all(status == "active" for status, _ in grants(engine, scim, "ann@corp.test").values())
    # Nothing revoked or granted again: no access note, no role or access event.
    assert evaluations_of(engine, scim, "ann@corp.test") == evaluated_before
    new_events = _event_types(engine, scim)[len(events_before) :]
    assert new_events == ["group.updated", "group.updated"]
    assert not any("removed" in (e.detail or "") for e in log(engine, scim))
    # Shown by their names now: the mapping, the rule, the role's origin, explain.
    assert _mapping_groups(engine, scim) == [("Reception", False)]
    with engine.connect() as conn:
        [rule] = rulebook.rules(conn, scim.tenant_id)
        described = rulebook.describe(conn, scim.tenant_id, rule)
        explained = rule_runs.explain(conn, scim.tenant_id, "ann@corp.test")
        origins = {
            r.role: r.origin for r in role_admin.held(conn, scim.tenant_id, explained.employee)
        }
    assert described.startswith('if all of: groups any "Office Admins" -> ')
    assert origins == {FDA: "Reception", LA: "Admins"}  # the rule's name, the group's name
    [trace] = explained.decision.traces
    assert trace.outcomes[0].because == (
        "groups any \"Office Admins\" is true: member of 'Office Admins'"
    )
    assert sorted(explained.groups) == ["Office Admins", "Reception"]
    assert explained.pending == []
    # Membership still counts as before: leaving the renamed group loses its role.
    members(scim, desk["id"], "remove", [ann])
    assert roles(engine, scim, "ann@corp.test") == {(LA, "Annex", "rule")}
    assert any(
        "removed Front desk admin: no longer in a group mapped to a role here (was 'Reception')"
        in d
        for d in evaluations_of(engine, scim, "ann@corp.test")
    )


def test_a_mapping_made_before_its_group_waits_and_binds_when_the_group_is_pushed(
    engine: Engine, scim: Scim
) -> None:
    add_location(engine, scim, "HQ")
    mapping = map_group(engine, scim, "Lobby", SEC, "HQ")
    assert _mapping_groups(engine, scim) == [("Lobby", True)]
    [said] = [e.detail or "" for e in log(engine, scim, "access.reevaluate")]
    assert "warning: connection" in said and "has no group called 'Lobby' yet" in said
    ann = _person(scim, "ann")
    assert roles(engine, scim, "ann@corp.test") == set()
    group = scim.create_group("lobby", [ann])  # any case
    assert roles(engine, scim, "ann@corp.test") == {(SEC, "HQ", "group")}
    assert _mapping_groups(engine, scim) == [("lobby", False)]
    [bound] = [e for e in log(engine, scim, "group.bind")]
    assert bound.detail == (
        f"group 'lobby' ({group['id']}) arrived: the role mapping {mapping} (Security admin) "
        "now follow this group (renames included); its members are evaluated"
    )
    # The bind, the group and the grant are one request's work.
    [granted] = [
        e
        for e in log(engine, scim, "access.evaluate")
        if "granted Security admin" in (e.detail or "")
    ]
    assert granted.request_id == bound.request_id


def test_a_rename_to_a_waited_for_name_binds_and_a_delete_makes_them_wait_on_its_last_name(
    engine: Engine, scim: Scim
) -> None:
    add_location(engine, scim, "HQ")
    map_group(engine, scim, "Front Desk", FDA, "HQ")
    lobby = map_group(engine, scim, "Lobby", SEC, "HQ")
    ann = _person(scim, "ann")
    group = scim.create_group("Front Desk", [ann])
    assert _mapping_groups(engine, scim) == [("Front Desk", False), ("Lobby", True)]
    _rename(scim, group["id"], "Lobby")
    # Both mappings are bound to the one group now; the higher role wins.
    assert _mapping_groups(engine, scim) == [("Lobby", False), ("Lobby", False)]
    assert roles(engine, scim, "ann@corp.test") == {(FDA, "HQ", "group")}
    with engine.begin() as conn:
        role_admin.unmap_group(
            conn, scim.tenant_id, role_admin.mappings(conn, scim.tenant_id)[0].id
        )
    assert roles(engine, scim, "ann@corp.test") == {(SEC, "HQ", "group")}

    assert scim.delete(f"/Groups/{group['id']}").status_code == 204
    assert roles(engine, scim, "ann@corp.test") == set()
    assert _mapping_groups(engine, scim) == [("Lobby", True)]
    [unbound] = log(engine, scim, "group.unbind")
    assert unbound.detail == (
        f"warning: group 'Lobby' ({group['id']}) deleted: the role mapping {lobby} "
        "(Security admin) grant nothing now and wait for a group called 'Lobby' to be "
        "pushed again"
    )
    # Pushed again under its last name (Okta: unlink and push): bound again.
    scim.create_group("Lobby", [ann])
    assert roles(engine, scim, "ann@corp.test") == {(SEC, "HQ", "group")}


def test_a_rule_made_before_its_group_waits_then_binds(engine: Engine, scim: Scim) -> None:
    access_group(engine, scim, "Doors")
    add_rule(engine, scim, "Contractors", "groups any Contractors", access_groups=["Doors"])
    with engine.connect() as conn:
        [rule] = rulebook.rules(conn, scim.tenant_id)
        groups = rulebook.rule_groups(conn, scim.tenant_id, [rule])
        assert groups.waiting_for(rule.pk) == ["Contractors"]
        assert "(waiting for group 'Contractors')" in rulebook.describe(conn, scim.tenant_id, rule)
    [added] = log(engine, scim, "rule.add")
    assert "warning: no connection has a group called 'Contractors' yet" in (added.detail or "")
    ann = _person(scim, "ann")
    assert active(engine, scim, "ann@corp.test") == set()
    group = scim.create_group("Contractors", [ann])
    assert active(engine, scim, "ann@corp.test") == {DOORS}
    _rename(scim, group["id"], "Vendors")
    assert active(engine, scim, "ann@corp.test") == {DOORS}
    with engine.connect() as conn:
        assert rulebook.rule_groups(conn, scim.tenant_id, [rule]).waiting_for(rule.pk) == []
        assert rulebook.describe(conn, scim.tenant_id, rule).startswith(
            "if all of: groups any Vendors -> "
        )


def test_a_rule_binds_per_connection_and_a_new_group_taking_the_old_name_does_not_bind(
    engine: Engine, client: TestClient, scim: Scim
) -> None:
    access_group(engine, scim, "Doors")
    other = new_connection(engine, client, "okta", tenant=scim.tenant)
    ann, bob = _person(scim, "ann"), _person(other, "bob")
    scim.create_group("Admins", [ann])
    okta_admins = other.create_group("Admins", [bob])
    add_rule(engine, scim, "Admins", "groups any Admins", access_groups=["Doors"])
    rule_runs.apply(engine, scim.tenant_id)
    assert active(engine, scim, "ann@corp.test") == {DOORS}
    assert active(engine, other, "bob@corp.test") == {DOORS}
    # Okta renames its group: bob keeps the grant; the rule shows both names.
    _rename(other, okta_admins["id"], "Okta Admins")
    assert active(engine, other, "bob@corp.test") == {DOORS}
    with engine.connect() as conn:
        [rule] = rulebook.rules(conn, scim.tenant_id)
        assert rulebook.describe(conn, scim.tenant_id, rule).startswith(
            'if all of: groups any "Admins/Okta Admins" -> '
        )
    # A new Okta group called "Admins" is not the group the rule is bound to there.
    cy = _person(other, "cy")
    other.create_group("Admins", [cy])
    assert active(engine, other, "cy@corp.test") == set()


def test_a_put_rename_keeps_the_role_and_a_rename_dropping_the_prefix_loses_it(
    engine: Engine, scim: Scim
) -> None:
    add_location(engine, scim, "HQ")
    configure(engine, scim, group_role_prefix="Envi_")
    map_group(engine, scim, "Envi_Desk", FDA, "HQ")
    ann = _person(scim, "ann")
    group = scim.create_group("Envi_Desk", [ann])
    body = {"schemas": [GROUP_SCHEMA], "members": [{"value": ann}]}
    replaced = scim.put(f"/Groups/{group['id']}", {**body, "displayName": "Envi_Reception"})
    assert replaced.status_code == 200, replaced.text
    assert roles(engine, scim, "ann@corp.test") == {(FDA, "HQ", "group")}
    assert not any("removed" in d for d in evaluations_of(engine, scim, "ann@corp.test"))
    # Envi's prefix is a property of the name: a group renamed without it is no role
    # group any more (docs/roles.md).
    _rename(scim, group["id"], "Reception")
    assert roles(engine, scim, "ann@corp.test") == set()
    members(scim, group["id"], ADD, [ann])  # still stored, still a member


def _rename_costs(
    engine: Engine,
    client: TestClient,
    count_statements: Callable[[], StatementCounter],
    size: int,
) -> dict[str, int]:
    scim = new_connection(engine, client, "okta")
    add_location(engine, scim, "HQ")
    map_group(engine, scim, "Front Desk", FDA, "HQ")
    people = [_person(scim, f"p{i}") for i in range(size)]
    costs = {}
    with count_statements() as c:
        group = scim.create_group("Front Desk", people)
    costs["create (binds)"] = _count(c)
    with count_statements() as c:
        _rename(scim, group["id"], "Reception")
    costs["rename"] = _count(c)
    with count_statements() as c:
        _rename(scim, group["id"], "Front Desk")
    costs["rename back"] = _count(c)
    assert roles(engine, scim, f"p{size - 1}@corp.test") == {(FDA, "HQ", "group")}
    with count_statements() as c:
        assert scim.delete(f"/Groups/{group['id']}").status_code == 204
    costs["delete (unbinds)"] = _count(c)
    return costs


def _count(counter: StatementCounter) -> int:
    return sum(1 for sql, _ in counter.statements if not sql.startswith("BEGIN"))


def test_renaming_a_mapped_group_costs_the_same_for_1_and_30_members(
    engine: Engine, client: TestClient, count_statements: Callable[[], StatementCounter]
) -> None:
    small = _rename_costs(engine, client, count_statements, 1)
    large = _rename_costs(engine, client, count_statements, 30)
    # Creating or deleting the group grants or removes its members' roles (one statement
    # each: evaluation writes per employee, as before); a rename of the bound group
    # changes nothing held, so it costs the same in any size.
    assert small["rename"] == large["rename"] == small["rename back"] == large["rename back"]
    # The figures today; binding costs one statement of them on create and rename (what
    # waits for the name) and on delete (what was bound waits again); a delete also reads
    # the members once, for their group.member_removed events. PostgreSQL adds the
    # configuration lock.
    postgres = engine.dialect.name == "postgresql"
    assert small == {
        "create (binds)": 16 + postgres,
        "rename": 14 + postgres,
        "rename back": 14 + postgres,
        "delete (unbinds)": 16 + postgres,
    }
