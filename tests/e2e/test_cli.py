"""The ``roster`` command on the suite's database: in-process (``run_cli``), and once as the
installed entry point, whose exit status and stderr an admin's script relies on."""

from __future__ import annotations

import json
import os

import httpx

from tests.e2e.conftest import Server, cli_json, run_cli, run_cli_process


def _tenant() -> str:
    return f"cli-{os.urandom(4).hex()}"


def test_tenant_and_connection_lifecycle(db_url: str, live_server: Server) -> None:
    name = _tenant()
    tenant = cli_json(db_url, "tenant", "create", name)
    assert tenant["name"] == name
    assert name in [t["name"] for t in cli_json(db_url, "tenant", "list")]
    created = cli_json(
        db_url, "connection", "create", "--tenant", name, "--idp", "okta", "--name", "Okta prod"
    )
    assert created["base_url"] == f"http://127.0.0.1:8000/scim/v2/{tenant['slug']}/{created['id']}"
    assert created["token"].startswith("roster_")
    listed = cli_json(db_url, "connection", "list", "--tenant", name)
    assert [(c["name"], c["idp"], c["status"]) for c in listed] == [("Okta prod", "okta", "active")]
    assert "token" not in listed[0]

    base = created["base_url"].replace("http://127.0.0.1:8000", live_server.url)

    def status(token: str) -> int:
        return httpx.get(f"{base}/Users", headers={"Authorization": f"Bearer {token}"}).status_code

    assert status(created["token"]) == 200
    regenerated = cli_json(db_url, "token", "regenerate", created["id"], "--yes")
    assert status(created["token"]) == 401
    assert status(regenerated["token"]) == 200
    assert cli_json(db_url, "connection", "deactivate", created["id"])["status"] == "inactive"
    response = httpx.get(
        f"{base}/Users", headers={"Authorization": f"Bearer {regenerated['token']}"}
    )
    assert response.status_code == 401 and "inactive" in response.json()["detail"]
    assert cli_json(db_url, "connection", "activate", created["id"])["status"] == "active"
    assert status(regenerated["token"]) == 200

    log = cli_json(db_url, "log", "--tenant", name)
    assert any(e["status"] == 401 and "inactive" in (e["detail"] or "") for e in log)
    errors = cli_json(db_url, "log", "--tenant", name, "--outcome", "error")
    assert errors and all(e["status"] >= 400 for e in errors)
    human = run_cli(db_url, "log", "--tenant", name, "--limit", "3").stdout
    assert len(human.strip().splitlines()) == 3


def test_errors_are_clear_with_nonzero_exit(db_url: str) -> None:
    result = run_cli_process(
        db_url, "connection", "create", "--tenant", "no-such-tenant", "--idp", "okta", check=False
    )
    assert result.returncode == 1
    assert "no tenant called 'no-such-tenant'" in result.stderr
    name = _tenant()
    run_cli(db_url, "tenant", "create", name)
    result = run_cli(
        db_url, "connection", "create", "--tenant", name, "--idp", "myspace", "--json", check=False
    )
    assert result.returncode == 1
    assert "unknown IdP kind" in json.loads(result.stdout)["error"]
    result = run_cli(db_url, "tenant", "create", name, check=False)
    assert result.returncode == 1 and "already exists" in result.stderr
    result = run_cli(db_url, "token", "regenerate", "nope", "--yes", check=False)
    assert result.returncode == 1 and "no connection" in result.stderr


def test_connection_settings_show_configure_and_take_effect(
    db_url: str, live_server: Server
) -> None:
    name = _tenant()
    cli_json(db_url, "tenant", "create", name)
    created = cli_json(db_url, "connection", "create", "--tenant", name, "--idp", "entra")
    shown = cli_json(db_url, "connection", "show", created["id"])
    assert shown["profile"] == "entra"
    settings = {s["name"]: (s["value"], s["source"]) for s in shown["settings"]}
    assert settings["boolean_strings"] == (True, "entra profile")
    assert settings["group_patch_response"] == ("no_content", "entra profile")

    base = created["base_url"].replace("http://127.0.0.1:8000", live_server.url)
    auth = {"Authorization": f"Bearer {created['token']}"}
    group = httpx.post(f"{base}/Groups", json={"displayName": "G"}, headers=auth).json()
    rename = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "displayName", "value": "H"}],
    }
    assert httpx.patch(f"{base}/Groups/{group['id']}", json=rename, headers=auth).status_code == 204

    changed = cli_json(
        db_url, "connection", "configure", created["id"], "--set", "group_patch_response=resource"
    )
    settings = {s["name"]: (s["value"], s["source"]) for s in changed["settings"]}
    assert settings["group_patch_response"] == ("resource", "override")
    # The next request already speaks the new setting: nothing is cached across requests.
    assert httpx.patch(f"{base}/Groups/{group['id']}", json=rename, headers=auth).status_code == 200
    human = run_cli(db_url, "connection", "show", created["id"]).stdout
    assert "group_patch_response" in human and "override" in human

    refused = run_cli(
        db_url,
        "connection",
        "configure",
        created["id"],
        "--set",
        "boolean_strings=maybe",
        check=False,
    )
    assert refused.returncode == 1 and "takes one of false, true" in refused.stderr
    log = cli_json(db_url, "log", "--tenant", name)
    assert any("group_patch_response = resource" in (e["detail"] or "") for e in log)
    other = cli_json(db_url, "connection", "create", "--tenant", name, "--idp", "okta")
    for_group = cli_json(
        db_url, "log", "--tenant", name, "--connection", created["id"], "--resource-type", "group"
    )
    assert [e["method"] for e in for_group] == ["PATCH", "PATCH", "POST"]
    assert {e["connection_uid"] for e in for_group} == {created["id"]}
    assert cli_json(db_url, "log", "--tenant", name, "--connection", other["id"])[0]["path"] == (
        "connection.create"
    )
    human = run_cli(db_url, "log", "--tenant", name, "--connection", created["id"]).stdout
    assert f"conn {created['id'][:8]}" in human
    reset = cli_json(
        db_url, "connection", "configure", created["id"], "--reset", "group_patch_response"
    )
    settings = {s["name"]: (s["value"], s["source"]) for s in reset["settings"]}
    assert settings["group_patch_response"] == ("no_content", "entra profile")
