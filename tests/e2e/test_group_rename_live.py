"""Issue 11, "a group rename silently removes access", through a live ``roster serve``:
Okta pushes groups a role mapping and a rule name, then renames them; every role and grant
stays, nothing is revoked (the rename requests' own trail has no role or access event and
no "removed"), and the admin sees the new names. A mapping and a rule made before their
groups exist wait (with a warning) and bind when Okta pushes the groups with members.

The admin's commands run in-process (typer's CliRunner); the SCIM requests go to the
server process over HTTP."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from roster.cli import app as cli_app
from tests.e2e.conftest import Server

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, db_url: str) -> Callable[..., Any]:
    monkeypatch.setenv("ROSTER_DATABASE_URL", db_url)
    runner = CliRunner()

    def run(*args: str, as_json: bool = True) -> Any:
        result = runner.invoke(cli_app, [*args, "--json"] if as_json else list(args))
        assert result.exit_code == 0, result.output
        if as_json:
            return json.loads(result.stdout)
        return result

    return run


def _user(okta: httpx.Client, name: str) -> str:
    created = okta.post(
        "/Users",
        json={
            "schemas": [USER],
            "userName": f"{name}@corp.test",
            "name": {"givenName": name, "familyName": "Test"},
            "emails": [{"primary": True, "value": f"{name}@corp.test", "type": "work"}],
            "active": True,
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _push(okta: httpx.Client, name: str, member_ids: list[str]) -> str:
    pushed = okta.post(
        "/Groups",
        json={
            "schemas": [GROUP],
            "displayName": name,
            "members": [{"value": m, "display": m} for m in member_ids],
        },
    )
    assert pushed.status_code == 201, pushed.text
    return str(pushed.json()["id"])


def _rename(okta: httpx.Client, group_id: str, name: str) -> str:
    """Okta's rename of a pushed group: PATCH replace, without a path. Returns the
    request's id (its trail: `roster log --request`)."""
    renamed = okta.patch(
        f"/Groups/{group_id}",
        json={
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "value": {"id": group_id, "displayName": name}}],
        },
    )
    assert renamed.status_code == 204, renamed.text
    return renamed.headers["x-request-id"]


def _roles(cli: Callable[..., Any], tenant: str, email: str) -> set[tuple[str, str, str, str]]:
    shown = cli("role", "show", "--tenant", tenant, email)
    return {
        (r["role"], (r["location"] or {}).get("name", ""), r["source"], r["origin"])
        for r in shown["roles"]
    }


def test_okta_renames_keep_roles_and_grants_and_waiting_mappings_bind_on_push(
    cli: Callable[..., Any], live_server: Server
) -> None:
    tenant = f"rename-{os.urandom(4).hex()}"
    cli("tenant", "create", tenant)
    made = cli("connection", "create", "--tenant", tenant, "--idp", "okta", "--name", "Okta")
    base = made["base_url"].replace("http://127.0.0.1:8000", live_server.url)
    for place in ("HQ", "Annex"):
        cli("location", "add", "--tenant", tenant, place)
    cli("access-group", "add", "--tenant", tenant, "Doors")

    # Made before Okta pushed anything: both wait, and say so.
    mapped = cli("role", "map", "--tenant", tenant, "--connection", made["id"],
                 "--group", "Front Desk", "--role", "Front desk admin", "--location", "HQ",
                 as_json=False)  # fmt: skip
    assert "warning: no group called 'Front Desk' has been pushed yet" in mapped.stderr
    assert "group 'Front Desk' (waiting: no such group pushed yet) -> Front desk admin" in (
        mapped.stdout
    )
    rule = cli("rule", "add", "--tenant", tenant, "Admins", "--if", "groups any Admins",
               "--role", "Location admin", "--location", "Annex",
               "--access-group", "Doors")  # fmt: skip
    assert rule["waiting_for_groups"] == ["Admins"]
    [mapping] = cli("role", "mappings", "--tenant", tenant)
    assert (mapping["group"], mapping["waiting"], mapping["group_id"]) == ("Front Desk", True, None)

    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {made['token']}"}, timeout=30
    ) as okta:
        ann, bob = _user(okta, "ann"), _user(okta, "bob")
        desk = _push(okta, "Front Desk", [ann, bob])
        admins = _push(okta, "Admins", [ann])
        held = {
            ("Front desk admin", "HQ", "group", "Front Desk"),
            ("Location admin", "Annex", "rule", "Admins"),
        }
        assert _roles(cli, tenant, "ann@corp.test") == held
        assert _roles(cli, tenant, "bob@corp.test") == {
            ("Front desk admin", "HQ", "group", "Front Desk")
        }
        [mapping] = cli("role", "mappings", "--tenant", tenant)
        assert (mapping["group"], mapping["waiting"], mapping["group_id"]) == (
            "Front Desk",
            False,
            desk,
        )
        assert cli("rule", "show", "--tenant", tenant, "Admins")["waiting_for_groups"] == []

        renames = [_rename(okta, desk, "Reception"), _rename(okta, admins, "Office Admins")]

    # Every role and grant kept; the role synced from the group shows its new name.
    assert _roles(cli, tenant, "ann@corp.test") == {
        ("Front desk admin", "HQ", "group", "Reception"),
        ("Location admin", "Annex", "rule", "Admins"),
    }
    explained = cli("employee", "explain", "--tenant", tenant, "ann@corp.test")
    assert {g["label"]: g["status"] for g in explained["grants"]} == {
        "access group 'Doors'": "active",
        "location 'Annex'": "active",
    }
    assert explained["pending"] == []
    [tried] = explained["rules_tried"]
    assert tried["conditions"][0]["condition"] == 'groups any "Office Admins"'
    assert tried["matched"] is True
    # The rename requests changed no access: their trails hold the group's update only.
    for request_id in renames:
        trail = cli("log", "--request", request_id)
        types = [i["type"] for i in trail["items"] if i["kind"] == "event"]
        assert types == ["group.updated"], trail
        details = " ".join(str(i.get("detail") or "") for i in trail["items"])
        assert "removed" not in details and "revoked" not in details, details
    everything = cli("log", "--tenant", tenant, "--limit", "500")
    assert not any("removed" in (e.get("detail") or "") for e in everything)
    # What the admin reads names the groups as they are called now.
    [mapping] = cli("role", "mappings", "--tenant", tenant)
    assert (mapping["group"], mapping["waiting"]) == ("Reception", False)
    shown = cli("rule", "show", "--tenant", tenant, "Admins")
    assert shown["conditions"] == ['groups any "Office Admins"']
