"""Roles from pushed groups, through SCIM: Envoy's "Sync admins" and its Admin Provisioning
FAQ (highest role wins per location; manual versus synced; disconnecting), Envi's group
name prefix, group provisioning switched off, and roles following membership at once."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from roster.directory.admin import role_admin, rule_runs, rulebook
from roster.directory.admin.connections import delete_connection
from roster.directory.people.employees import find
from roster.directory.places import locations
from roster.errors import Conflict, InvalidValue
from roster.provisioning.resources import GROUPS_OFF
from tests.conftest import (
    GROUP_SCHEMA,
    Scim,
    StatementCounter,
    new_connection,
    wait_for_lock_waiter,
)
from tests.directory.access_support import (
    ADD,
    access_group,
    active,
    add_location,
    add_rule,
    evaluations_of,
    grants,
    groups_stored,
    log,
    map_group,
    members,
    roles,
)
from tests.directory.conftest import Api, configure, create

LA, FDA, DEL, SEC = "Location admin", "Front desk admin", "Deliveries", "Security admin"


def _person(scim: Scim, name: str) -> str:
    return str(create(scim, name, f"{name}@corp.test")["id"])


def _email(name: str) -> str:
    return f"{name}@corp.test"


# ---- a group push grants roles -----------------------------------------------------------


def test_a_group_push_grants_its_location_role(engine: Engine, scim: Scim) -> None:
    add_location(engine, scim, "HQ", "Annex")
    map_group(engine, scim, "Front Desk", "front_desk_admin", "HQ")
    ann = _person(scim, "ann")
    bob = _person(scim, "bob")
    assert roles(engine, scim, _email("ann")) == set()
    scim.create_group("Front Desk", [ann])
    assert roles(engine, scim, _email("ann")) == {(FDA, "HQ", "group")}
    assert roles(engine, scim, _email("bob")) == set()  # not in the group
    # On create, the log says why she got nothing; on the push, what she gained.
    [created, granted] = evaluations_of(engine, scim, _email("ann"))
    assert created == "ann@corp.test: no rules are defined, so nothing is granted; nothing changes"
    assert granted.endswith(
        "+ Front desk admin at 'HQ': granted Front desk admin by group 'Front Desk'"
    )
    # A later push adds Bob: he holds it at once too.
    members(scim, scim.get("/Groups").json()["Resources"][0]["id"], ADD, [bob])
    assert roles(engine, scim, _email("bob")) == {(FDA, "HQ", "group")}


def test_mapping_a_group_already_pushed_grants_its_role_at_once(engine: Engine, scim: Scim) -> None:
    add_location(engine, scim, "HQ")
    scim.create_group("Security", [_person(scim, "ann")])
    assert roles(engine, scim, _email("ann")) == set()
    mapping = map_group(engine, scim, "security", "Security admin", "HQ")  # any case
    assert roles(engine, scim, _email("ann")) == {(SEC, "HQ", "group")}
    with engine.begin() as conn:
        role_admin.unmap_group(conn, scim.tenant_id, mapping)
    assert roles(engine, scim, _email("ann")) == set()


def test_two_groups_mapping_to_different_roles_the_highest_wins_per_location(
    engine: Engine, scim: Scim
) -> None:
    add_location(engine, scim, "HQ", "Annex")
    map_group(engine, scim, "Front Desk", FDA, "HQ", "Annex")
    map_group(engine, scim, "Office Admins", LA, "HQ")
    map_group(engine, scim, "IT", "Global admin")
    map_group(engine, scim, "Finance", "Billing admin")
    ann = _person(scim, "ann")
    for group in ("Front Desk", "Office Admins", "IT", "Finance"):
        scim.create_group(group, [ann])
    # Envoy: "the admin will be assigned the Location Admin role" where both apply; the
    # Annex only has Front desk admin; one company role, the higher one, alongside.
    assert roles(engine, scim, _email("ann")) == {
        (LA, "HQ", "group"),
        (FDA, "Annex", "group"),
        ("Global admin", None, "group"),
    }


# ---- Envoy's FAQ: manual versus synced -----------------------------------------------------


def _assign(engine: Engine, scim: Scim, who: str, role: str, where: str | None) -> None:
    with engine.begin() as conn:
        role_admin.assign(conn, scim.tenant_id, _email(who), role, where)


def test_a_manual_front_desk_admin_stays_when_synced_to_security_admin(
    engine: Engine, scim: Scim
) -> None:
    add_location(engine, scim, "HQ")
    map_group(engine, scim, "Security", SEC, "HQ")
    ann = _person(scim, "ann")
    _assign(engine, scim, "ann", "Front desk admin", "HQ")
    scim.create_group("Security", [ann])
    # Envoy: "you will still have a manual front desk admin role for that location".
    assert roles(engine, scim, _email("ann")) == {(FDA, "HQ", "manual")}
    with engine.connect() as conn:
        [held] = role_admin.held(conn, scim.tenant_id, find(conn, scim.tenant_id, _email("ann")))
    assert held.shadowed == SEC
    assert any(
        "kept the manual Front desk admin: the synced Security admin by group 'Security'"
        in (e.detail or "")
        for e in log(engine, scim, "access.evaluate")
    )
    # The manual role removed by hand: the synced claim it outranked takes over at once.
    with engine.begin() as conn:
        role_admin.unassign(conn, scim.tenant_id, _email("ann"), "HQ")
    assert roles(engine, scim, _email("ann")) == {(SEC, "HQ", "group")}


def test_a_synced_role_that_ranks_higher_replaces_a_lower_manual_one(
    engine: Engine, scim: Scim
) -> None:
    add_location(engine, scim, "HQ")
    map_group(engine, scim, "Office Admins", LA, "HQ")
    ann = _person(scim, "ann")
    _assign(engine, scim, "ann", "Deliveries", "HQ")
    group = scim.create_group("Office Admins", [ann])
    assert roles(engine, scim, _email("ann")) == {(LA, "HQ", "group")}
    assert any(
        "replacing the manual Deliveries" in (e.detail or "")
        for e in log(engine, scim, "access.evaluate")
    )
    # Envoy: SCIM "will take over and delete the manual entries": leaving the group leaves
    # nothing behind.
    members(scim, group["id"], "remove", [ann])
    assert roles(engine, scim, _email("ann")) == set()


def test_a_synced_role_cannot_be_removed_by_hand(engine: Engine, scim: Scim) -> None:
    add_location(engine, scim, "HQ")
    map_group(engine, scim, "Front Desk", FDA, "HQ")
    scim.create_group("Front Desk", [_person(scim, "ann")])
    with pytest.raises(Conflict) as refused, engine.begin() as conn:
        role_admin.unassign(conn, scim.tenant_id, _email("ann"), "HQ")
    assert refused.value.status == 409
    message = str(refused.value)
    assert "synced from IdP group 'Front Desk'" in message
    assert "remove ann@corp.test from that group in the IdP" in message
    assert roles(engine, scim, _email("ann")) == {(FDA, "HQ", "group")}


@pytest.mark.parametrize("role", ["Deliveries", "Location admin", "Front desk admin"])
def test_a_manual_role_cannot_be_assigned_over_a_synced_one(
    engine: Engine, scim: Scim, role: str
) -> None:
    add_location(engine, scim, "HQ")
    map_group(engine, scim, "Front Desk", FDA, "HQ")
    scim.create_group("Front Desk", [_person(scim, "ann")])
    with pytest.raises(Conflict, match=r"remove ann@corp\.test from that group in the IdP"):
        _assign(engine, scim, "ann", role, "HQ")
    assert roles(engine, scim, _email("ann")) == {(FDA, "HQ", "group")}


def test_disconnecting_turns_synced_roles_manual_and_discards_the_mappings(
    engine: Engine, client: TestClient
) -> None:
    scim = new_connection(engine, client)
    add_location(engine, scim, "HQ")
    map_group(engine, scim, "Front Desk", FDA, "HQ")
    map_group(engine, scim, "IT", "Global admin")
    ann = _person(scim, "ann")
    scim.create_group("Front Desk", [ann])
    scim.create_group("IT", [ann])
    with engine.begin() as conn:
        deleted = delete_connection(conn, scim.connection_id)
    assert deleted.roles_made_manual == 2
    # Envoy: "your roles will turn into manual roles and will stop syncing".
    assert roles(engine, scim, _email("ann")) == {
        (FDA, "HQ", "manual"),
        ("Global admin", None, "manual"),
    }
    # "Your mappings won't be saved".
    with engine.connect() as conn:
        assert role_admin.mappings(conn, scim.tenant_id) == []
    [entry] = log(engine, scim, "connection.delete")
    assert "2 roles synced from its groups are now manual roles" in (entry.detail or "")
    assert "its 2 group-role mappings are discarded" in (entry.detail or "")
    # Manual now: an admin may remove one by hand.
    with engine.begin() as conn:
        role_admin.unassign(conn, scim.tenant_id, _email("ann"))
    assert roles(engine, scim, _email("ann")) == {(FDA, "HQ", "manual")}
    # "You will start from scratch the next time you sync": a new connection's group of
    # the same name grants nothing until it is mapped again.
    again = new_connection(engine, client, tenant=scim.tenant)
    bob = str(create(again, "bob", _email("bob"))["id"])
    again.create_group("Front Desk", [bob])
    assert roles(engine, again, _email("bob")) == set()
    map_group(engine, again, "Front Desk", DEL, "HQ")
    assert roles(engine, again, _email("bob")) == {(DEL, "HQ", "group")}
    assert roles(engine, again, _email("ann")) == {(FDA, "HQ", "manual")}  # not synced here


# ---- Envi: the group name prefix -----------------------------------------------------------


def test_with_a_prefix_only_prefixed_groups_grant_roles_and_a_change_applies_at_once(
    engine: Engine, scim: Scim
) -> None:
    add_location(engine, scim, "HQ")
    map_group(engine, scim, "Admins", LA, "HQ")  # mapped while every group counts
    map_group(engine, scim, "Envi_FrontDesk", FDA, "HQ")
    ann = _person(scim, "ann")
    scim.create_group("Admins", [ann])
    scim.create_group("Envi_FrontDesk", [ann])
    assert roles(engine, scim, _email("ann")) == {(LA, "HQ", "group")}
    configure(engine, scim, group_role_prefix="Envi_")
    # Re-evaluated at once: the unprefixed group grants nothing, the prefixed one does.
    assert roles(engine, scim, _email("ann")) == {(FDA, "HQ", "group")}
    [entry] = [e for e in log(engine, scim, "access.reevaluate") if "prefix" in (e.detail or "")]
    assert (
        "group_role_prefix is now 'Envi_'; the mappings of 'Admins' lack it and grant nothing "
        "until those groups are renamed or remapped; 1 employees in groups re-evaluated, "
        "1 changed"
    ) in (entry.detail or "")
    # The unprefixed group is still stored (ignored for roles only).
    names = {g["displayName"] for g in scim.get("/Groups").json()["Resources"]}
    assert names == {"Admins", "Envi_FrontDesk"}
    # A push to the ignored group changes nothing either.
    bob = _person(scim, "bob")
    admins = next(
        g for g in scim.get("/Groups").json()["Resources"] if g["displayName"] == "Admins"
    )
    members(scim, admins["id"], ADD, [bob])
    assert roles(engine, scim, _email("bob")) == set()
    configure(engine, scim, group_role_prefix="")
    assert roles(engine, scim, _email("ann")) == {(LA, "HQ", "group")}
    assert roles(engine, scim, _email("bob")) == {(LA, "HQ", "group")}


def test_mapping_a_group_without_the_prefix_is_refused(engine: Engine, scim: Scim) -> None:
    add_location(engine, scim, "HQ")
    configure(engine, scim, group_role_prefix="Envi_")
    with pytest.raises(InvalidValue, match="starts with 'Envi_'") as refused, engine.begin() as c:
        role_admin.map_group(c, scim.tenant_id, scim.connection_id, "Admins", LA, ["HQ"])
    assert "'Admins' would never grant a role" in str(refused.value)
    map_group(engine, scim, "envi_admins", LA, "HQ")  # the prefix matches in any case
    with engine.connect() as conn:
        assert [m.group_name for m in role_admin.mappings(conn, scim.tenant_id)] == ["envi_admins"]


# ---- group provisioning off ----------------------------------------------------------------


def test_with_group_provisioning_off_group_writes_are_acknowledged_and_change_nothing(
    engine: Engine, scim: Scim
) -> None:
    add_location(engine, scim, "HQ")
    map_group(engine, scim, "Front Desk", FDA, "HQ")
    configure(engine, scim, group_provisioning="false")
    ann = _person(scim, "ann")
    body = {"schemas": [GROUP_SCHEMA], "displayName": "Front Desk", "members": [{"value": ann}]}
    created = scim.post("/Groups", body)
    assert created.status_code == 201, created.text
    group_id = created.json()["id"]
    assert created.json()["displayName"] == "Front Desk"
    replaced = scim.put(f"/Groups/{group_id}", {**body, "displayName": "Front Desk 2"})
    assert replaced.status_code == 200, replaced.text
    patched = scim.patch(
        f"/Groups/{group_id}",
        [{"op": "add", "path": "members", "value": [{"value": ann}]}],
    )
    assert patched.status_code == 204, patched.text
    assert scim.delete(f"/Groups/{group_id}").status_code == 204
    # Bad input still gets its 400.
    bad = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "members": "nobody"})
    assert bad.status_code == 400, bad.text
    bad_patch = scim.patch(f"/Groups/{group_id}", [{"op": "jump", "path": "members"}])
    assert bad_patch.status_code == 400, bad_patch.text
    bad_path = scim.patch(f"/Groups/{group_id}", [{"op": "remove", "path": "members[value"}])
    assert bad_path.status_code == 400, bad_path.text
    # Nothing stored, nothing granted, and the log says why for each write.
    assert groups_stored(engine, scim) == 0
    assert scim.get("/Groups").json()["totalResults"] == 0
    assert roles(engine, scim, _email("ann")) == set()
    said = [(e.method, e.status) for e in log(engine, scim, actor="scim") if e.detail == GROUPS_OFF]
    assert said == [("POST", 201), ("PUT", 200), ("PATCH", 204), ("DELETE", 204)]
    # Switched back on, groups are provisioned again.
    configure(engine, scim, group_provisioning="true")
    scim.create_group("Front Desk", [ann])
    assert groups_stored(engine, scim) == 1
    assert roles(engine, scim, _email("ann")) == {(FDA, "HQ", "group")}


# ---- roles follow membership ---------------------------------------------------------------


def test_removal_from_the_group_revokes_the_role(engine: Engine, scim: Scim) -> None:
    add_location(engine, scim, "HQ")
    map_group(engine, scim, "Front Desk", FDA, "HQ")
    ann, bob = _person(scim, "ann"), _person(scim, "bob")
    group = scim.create_group("Front Desk", [ann, bob])
    members(scim, group["id"], "remove", [ann])
    assert roles(engine, scim, _email("ann")) == set()
    assert roles(engine, scim, _email("bob")) == {(FDA, "HQ", "group")}
    assert any(
        "removed Front desk admin: no longer in a group mapped to a role here "
        "(was 'Front Desk')" in d
        for d in evaluations_of(engine, scim, _email("ann"))
    )
    assert not any("removed" in d for d in evaluations_of(engine, scim, _email("bob")))


def test_removal_from_the_higher_group_lowers_the_role_to_the_next(
    engine: Engine, scim: Scim
) -> None:
    add_location(engine, scim, "HQ")
    map_group(engine, scim, "Office Admins", LA, "HQ")
    map_group(engine, scim, "Front Desk", FDA, "HQ")
    map_group(engine, scim, "Mailroom", DEL, "HQ")
    ann = _person(scim, "ann")
    admins = scim.create_group("Office Admins", [ann])
    desk = scim.create_group("Front Desk", [ann])
    scim.create_group("Mailroom", [ann])
    assert roles(engine, scim, _email("ann")) == {(LA, "HQ", "group")}
    members(scim, admins["id"], "remove", [ann])
    assert roles(engine, scim, _email("ann")) == {(FDA, "HQ", "group")}
    members(scim, desk["id"], "remove", [ann])
    assert roles(engine, scim, _email("ann")) == {(DEL, "HQ", "group")}
    details = [e.detail or "" for e in log(engine, scim, "access.evaluate")]
    assert any(
        "lowered Location admin to Front desk admin by group 'Front Desk'" in d for d in details
    )
    assert any("lowered Front desk admin to Deliveries by group 'Mailroom'" in d for d in details)


def test_an_okta_patch_removing_one_member_and_adding_another(
    engine: Engine, client: TestClient
) -> None:
    scim = new_connection(engine, client, "okta")
    add_location(engine, scim, "HQ")
    map_group(engine, scim, "Front Desk", FDA, "HQ")
    ann, bob = _person(scim, "ann"), _person(scim, "bob")
    group = scim.create_group("Front Desk", [ann])
    # Okta's group push sends the membership delta as remove + add in one PATCH.
    response = scim.patch(
        f"/Groups/{group['id']}",
        [
            {"op": "remove", "path": f'members[value eq "{ann}"]'},
            {"op": "add", "path": "members", "value": [{"value": bob, "display": "bob"}]},
        ],
    )
    assert response.status_code == 204, response.text
    assert roles(engine, scim, _email("ann")) == set()
    assert roles(engine, scim, _email("bob")) == {(FDA, "HQ", "group")}


def test_a_mapping_belongs_to_its_connection_not_to_a_same_named_group_of_another(
    engine: Engine, client: TestClient
) -> None:
    """Mappings belong to one connection: a group of the same name pushed by another
    connection of the tenant grants nothing."""
    first = new_connection(engine, client)
    second = new_connection(engine, client, tenant=first.tenant)
    add_location(engine, first, "HQ")
    map_group(engine, first, "Front Desk", FDA, "HQ")
    bob = str(create(second, "bob", _email("bob"))["id"])
    second.create_group("Front Desk", [bob])
    assert roles(engine, second, _email("bob")) == set()
    ann = _person(first, "ann")
    first.create_group("Front Desk", [ann])
    assert roles(engine, first, _email("ann")) == {(FDA, "HQ", "group")}


# ---- cost ----------------------------------------------------------------------------------


def _count(c: StatementCounter) -> int:
    # SQLite's BEGIN IMMEDIATE is a statement there and not on PostgreSQL.
    return sum(1 for sql, _ in c.statements if not sql.startswith("BEGIN"))


def _bound(c: StatementCounter) -> int:
    """Values bound to the statements: an IN list of every member would show here even
    when the number of statements stays the same."""
    total = 0
    for _, params in c.statements:
        many = params if isinstance(params, list) else [params]
        total += sum(len(p) for p in many if p)
    return total


def _member_cost(
    engine: Engine, client: TestClient, size: int, counter: Callable[[], StatementCounter]
) -> tuple[tuple[int, int], tuple[int, int]]:
    scim = new_connection(engine, client, "okta")
    add_location(engine, scim, "HQ")
    map_group(engine, scim, "Front Desk", FDA, "HQ")
    people = [_person(scim, f"p{i}") for i in range(size)]
    group = scim.create_group("Front Desk", people)
    assert roles(engine, scim, _email(f"p{size - 1}")) == {(FDA, "HQ", "group")}
    newcomer = _person(scim, "new")
    costs: list[tuple[int, int]] = []
    for op in (
        {"op": "add", "path": "members", "value": [{"value": newcomer}]},
        {"op": "remove", "path": f'members[value eq "{newcomer}"]'},
    ):
        with counter() as c:
            response = scim.patch(f"/Groups/{group['id']}", [op])
        assert response.status_code == 204, response.text
        costs.append((_count(c), _bound(c)))
        expected = {(FDA, "HQ", "group")} if op["op"] == "add" else set()
        assert roles(engine, scim, _email("new")) == expected
    return costs[0], costs[1]


def test_adding_one_member_to_a_mapped_group_costs_the_same_at_10_and_300_members(
    engine: Engine, client: TestClient, count_statements: Callable[[], StatementCounter]
) -> None:
    small = _member_cost(engine, client, 10, count_statements)
    large = _member_cost(engine, client, 300, count_statements)
    assert small == large


# ---- grants and updatedAt when rules, locations and connections go -----------------------


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
