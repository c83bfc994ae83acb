"""The read API shows what each employee holds and why: roles with their source (group,
rule, manual) and the synced role a manual one outranks, access groups and location
access granted by rules (revoked ones with the reason), and the mobile-key status. Every
answer is checked against the OpenAPI document (tests/directory/conftest.py's Api)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine
from starlette.testclient import TestClient

from roster.directory.admin import role_admin, rule_runs, rulebook
from roster.directory.admin.rulebook import RuleSpec
from roster.directory.places import locations
from tests.conftest import Scim, StatementCounter, new_connection
from tests.directory.conftest import Api, api_for, create

NO_KEY = {
    "status": "none",
    "source": None,
    "rule": None,
    "reason": None,
    "grantedAt": None,
    "revokedAt": None,
}


def _setup(engine: Engine, scim: Scim) -> dict[str, str]:
    """HQ and Annex, access group Doors, rule 'Boston staff' (Doors, HQ, Front desk admin
    at HQ) then rule 'Everyone' (Annex), and group Envi_Admins -> Location admin at Annex."""
    with engine.begin() as conn:
        t = scim.tenant_id
        hq = locations.add(conn, t, "HQ")
        annex = locations.add(conn, t, "Annex")
        doors = rulebook.add_access_group(conn, t, "Doors")
        boston = rulebook.add_rule(
            conn,
            t,
            RuleSpec(
                "Boston staff",
                ['city eq "Boston"'],
                access_groups=["Doors"],
                role="Front desk admin",
                locations=["HQ"],
            ),
        )
        everyone = rulebook.add_rule(conn, t, RuleSpec("Everyone", locations=["Annex"]))
        role_admin.map_group(conn, t, scim.connection_id, "Admins", "Location admin", ["Annex"])
    return {
        "hq": hq.id,
        "annex": annex.id,
        "doors": doors.id,
        "boston": boston.id,
        "everyone": everyone.id,
    }


BOSTON: dict[str, Any] = {"addresses": [{"locality": "Boston", "primary": True}]}


def test_rule_grants_show_with_their_rule_and_revocations_with_the_reason(
    engine: Engine, scim: Scim, api: Api
) -> None:
    ids = _setup(engine, scim)
    user = create(scim, "ann", "ann@corp.test", **BOSTON)
    ann = api.by_email("ann@corp.test")
    assert ann is not None
    boston = {"id": ids["boston"], "name": "Boston staff"}
    assert ann["roles"] == [
        {
            "role": "Front desk admin",
            "scope": "location",
            "location": {"id": ids["hq"], "name": "HQ"},
            "source": "rule",
            "origin": "Boston staff",
            "shadowed": None,
        }
    ]
    [doors] = ann["accessGroups"]
    assert {k: doors[k] for k in ("id", "name", "status", "source", "rule", "reason")} == {
        "id": ids["doors"],
        "name": "Doors",
        "status": "active",
        "source": "rule",
        "rule": boston,
        "reason": None,
    }
    assert doors["grantedAt"].endswith("Z") and doors["revokedAt"] is None
    assert [(g["name"], g["status"], g["rule"]) for g in ann["locationAccess"]] == [
        ("HQ", "active", boston)
    ]
    # Directory placement is another thing: all-locations sync puts her in both.
    assert [loc["name"] for loc in ann["locations"]] == ["Annex", "HQ"]
    assert ann["mobileKey"] == NO_KEY

    # She moves to Austin: 'Everyone' fires now; what 'Boston staff' granted is revoked
    # (kept, with the reason), and Annex is granted.
    moved = scim.patch(
        f"/Users/{user['id']}",
        [{"op": "replace", "path": "addresses", "value": [{"locality": "Austin"}]}],
    )
    assert moved.status_code == 200, moved.text
    ann = api.employee(ann["id"])
    assert ann is not None
    assert ann["roles"] == []
    [doors] = ann["accessGroups"]
    assert doors["status"] == "revoked" and doors["revokedAt"] is not None
    assert doors["reason"] == (
        "no longer matches rule 'Boston staff' (city eq Boston is false: city is 'Austin')"
    )
    assert [(g["name"], g["status"]) for g in ann["locationAccess"]] == [
        ("Annex", "active"),
        ("HQ", "revoked"),
    ]
    annex = ann["locationAccess"][0]
    assert annex["rule"] == {"id": ids["everyone"], "name": "Everyone"}


def test_roles_show_their_source_group_manual_and_the_shadowed_synced_role(
    engine: Engine, scim: Scim, api: Api
) -> None:
    _setup(engine, scim)
    bob = create(scim, "bob", "bob@corp.test")
    cid = create(scim, "cid", "cid@corp.test")
    with engine.begin() as conn:
        # A manual role that outranks the synced one Bob is about to get at Annex ...
        role_admin.assign(conn, scim.tenant_id, "bob@corp.test", "Global admin")
        role_admin.map_group(conn, scim.tenant_id, scim.connection_id, "Billing", "Billing admin")
    scim.create_group("Admins", [bob["id"], cid["id"]])
    scim.create_group("Billing", [bob["id"]])
    by_email = {e["email"]: e for e in api.employees()}
    assert [
        (r["role"], r["source"], r["origin"], r["shadowed"])
        for r in by_email["bob@corp.test"]["roles"]
    ] == [
        ("Global admin", "manual", None, "Billing admin"),  # outranks the synced one
        ("Location admin", "group", "Admins", None),
    ]
    [cid_role] = by_email["cid@corp.test"]["roles"]
    assert cid_role["source"] == "group" and cid_role["origin"] == "Admins"
    assert cid_role["location"]["name"] == "Annex" and cid_role["scope"] == "location"
    company = by_email["bob@corp.test"]["roles"][0]
    assert company["scope"] == "company" and company["location"] is None
    # Removing Bob from the IdP group takes the synced role away at once.
    scim_group = scim.get("/Groups", params={"filter": 'displayName eq "Admins"'}).json()
    gid = scim_group["Resources"][0]["id"]
    removed = scim.patch(
        f"/Groups/{gid}", [{"op": "remove", "path": f'members[value eq "{bob["id"]}"]'}]
    )
    assert removed.status_code in (200, 204), removed.text
    bob_now = api.employee(by_email["bob@corp.test"]["id"])
    assert bob_now is not None
    assert [r["role"] for r in bob_now["roles"]] == ["Global admin"]


def test_another_tenants_key_cannot_read_roles_or_access(
    engine: Engine, client: TestClient, scim: Scim, api: Api
) -> None:
    _setup(engine, scim)
    create(scim, "ann", "ann@corp.test", **BOSTON)
    ann = api.by_email("ann@corp.test")
    assert ann is not None and ann["roles"] and ann["accessGroups"]
    other = new_connection(engine, client)
    theirs = api_for(engine, client, other.tenant)
    assert theirs.employee(ann["id"]) is None  # 404, checked against the document
    assert theirs.employees() == []


def test_listing_access_costs_the_same_for_a_page_of_3_and_of_30(
    engine: Engine,
    client: TestClient,
    count_statements: Callable[[], StatementCounter],
) -> None:
    def cost(people: int) -> int:
        scim = new_connection(engine, client)
        _setup(engine, scim)
        users = [create(scim, f"p{i}", f"p{i}@corp.test", **BOSTON) for i in range(people)]
        scim.create_group("Admins", [u["id"] for u in users])
        api = api_for(engine, client, scim.tenant)
        with count_statements() as c:
            page = api.employees(limit=people)
        assert len(page) == people
        # Each holds Location admin at Annex (group) and Front desk admin at HQ (rule).
        assert {len(e["roles"]) for e in page} == {2}
        assert all(e["accessGroups"] and e["locationAccess"] for e in page)
        return sum(1 for sql, _ in c.statements if not sql.startswith("BEGIN"))

    assert cost(3) == cost(30)


def test_removing_the_last_rule_revokes_its_grants(engine: Engine, scim: Scim, api: Api) -> None:
    _setup(engine, scim)
    create(scim, "ann", "ann@corp.test", **BOSTON)
    with engine.begin() as conn:
        rulebook.remove_rule(conn, scim.tenant_id, "Boston staff")
        rulebook.remove_rule(conn, scim.tenant_id, "Everyone")
    rule_runs.apply(engine, scim.tenant_id)
    ann = api.by_email("ann@corp.test")
    assert ann is not None
    assert [g["status"] for g in ann["accessGroups"] + ann["locationAccess"]] == ["revoked"] * 2
