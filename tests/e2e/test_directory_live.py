"""The employee directory end to end: the ``roster`` CLI as an admin runs it, SCIM over
HTTP to a live ``roster serve``, and the read API as the host app calls it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import Server, cli_json, run_cli
from tests.openapi_check import check_response

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENVOY = "urn:scim:schemas:extension:envoy:core:1.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def _user(user_name: str, email: str, **attrs: Any) -> dict[str, Any]:
    return {
        "schemas": [USER],
        "userName": user_name,
        "emails": [{"value": email, "primary": True}],
        **attrs,
    }


class _Live:
    def __init__(self, db_url: str, server: Server) -> None:
        self.db_url, self.server = db_url, server
        self.tenant = f"dir-{os.urandom(4).hex()}"
        cli_json(db_url, "tenant", "create", self.tenant)
        self.api_key = cli_json(db_url, "apikey", "create", "--tenant", self.tenant)["key"]

    def connection(self, idp: str) -> tuple[str, httpx.Client]:
        data = cli_json(self.db_url, "connection", "create", "--tenant", self.tenant, "--idp", idp)
        base = data["base_url"].replace("http://127.0.0.1:8000", self.server.url)
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {data['token']}"})
        return data["id"], client

    def read(self, path: str, template: str, **params: Any) -> Any:
        response = httpx.get(
            f"{self.server.url}/api/v1{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.api_key}"},
        )
        check_response(template, response.status_code, response.json())
        assert response.status_code == 200, response.text
        return response.json()

    def people(self, **params: Any) -> dict[str, dict[str, Any]]:
        items = self.read("/employees", "/employees", **params)["items"]
        return {e["email"]: e for e in items}


def test_csv_import_linking_conflict_locations_and_connection_deletion(
    db_url: str, live_server: Server, tmp_path: Path
) -> None:
    live = _Live(db_url, live_server)
    t = live.tenant
    cli_json(db_url, "location", "add", "--tenant", t, "SF", "--city", "San Francisco")
    cli_json(db_url, "location", "add", "--tenant", t, "Paris", "--locale", "fr_FR")
    okta_id, okta = live.connection("okta")
    configured = run_cli(
        db_url, "connection", "configure", okta_id, "--set", "location_sync=per_location"
    )
    assert "location_sync" in configured.stdout

    # CSV import: good rows land, bad rows are reported by row number, none aborts others.
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(
        "email,givenName,familyName,title,locations\n"
        "dana@corp.test,Dana,Ng,Contractor,SF\n"
        "not-an-email,X,,,\n"
        "temp@corp.test,Tim,,Temp,\n"
        "ghost@corp.test,G,,,Atlantis\n"
        "DANA@corp.test,Again,,,\n"
    )
    result = run_cli(
        db_url, "employee", "import", "--tenant", t, str(csv_file), "--json", check=False
    )
    assert result.returncode == 1  # some rows were refused...
    report = json.loads(result.stdout)
    assert report["imported"] == 2  # ...and the good ones are in
    assert [(f["row"], f["email"]) for f in report["failed"]] == [
        (3, "not-an-email"),
        (5, "ghost@corp.test"),
        (6, "DANA@corp.test"),
    ]
    assert "Atlantis" in report["failed"][1]["error"]
    human = run_cli(db_url, "employee", "list", "--tenant", t).stdout
    assert "dana@corp.test" in human and "temp@corp.test" in human

    # An Okta push for Dana links to the imported employee: no duplicate, Okta's values win.
    created = okta.post(
        "/Users",
        json=_user(
            "dana",
            "Dana@Corp.test",
            title="Engineer",
            addresses=[{"locality": "Paris"}],
            locale="fr-FR",
        ),
    )
    assert created.status_code == 201, created.text
    people = live.people()
    assert sorted(people) == ["Dana@Corp.test", "temp@corp.test"]
    dana = people["Dana@Corp.test"]
    assert dana["id"] == report["employees"][0]["id"]
    assert dana["title"] == "Engineer" and dana["source"]["connection"]["id"] == okta_id
    assert [loc["name"] for loc in dana["locations"]] == ["Paris"]  # by locale, per location

    # The same person pushed by a second active connection: 409, naming the conflict.
    entra_id, entra = live.connection("entra")
    conflict = entra.post("/Users", json=_user("dana@corp.test", "dana@corp.test"))
    assert conflict.status_code == 409 and conflict.json()["scimType"] == "uniqueness"
    assert okta_id in conflict.json()["detail"]
    assert entra.get("/Users").json()["totalResults"] == 0
    log = cli_json(db_url, "log", "--tenant", t, "--outcome", "error")
    assert any(e["status"] == 409 and e["connection_uid"] == entra_id for e in log)

    # A manager arriving after the employee, over HTTP.
    okta.post(
        "/Users",
        json=_user(
            "ron",
            "ron@corp.test",
            **{ENTERPRISE: {"manager": {"value": "00u9", "displayName": "boss@corp.test"}}},
        ),
    )
    assert live.people()["ron@corp.test"]["manager"]["resolved"] is False
    okta.post("/Users", json=_user("boss", "boss@corp.test"))
    assert live.people()["ron@corp.test"]["manager"]["employee"]["email"] == "boss@corp.test"

    # Deleting the Okta connection keeps its employees, as manual ones.
    assert run_cli(db_url, "connection", "delete", okta_id, "--json", check=False).returncode == 2
    deleted = cli_json(db_url, "connection", "delete", okta_id, "--yes")
    assert deleted["employees_kept"] == 3
    assert okta.get("/Users").status_code == 401
    people = live.people(source="manual")
    assert sorted(people) == ["Dana@Corp.test", "boss@corp.test", "ron@corp.test", "temp@corp.test"]
    assert people["Dana@Corp.test"]["title"] == "Engineer"
    # ...and now the Entra connection can take Dana over by linking.
    assert entra.post("/Users", json=_user("dana@corp.test", "dana@corp.test")).status_code == 201
    assert live.people(source=entra_id)["dana@corp.test"]["id"] == dana["id"]
    shown = cli_json(db_url, "employee", "show", "--tenant", t, "dana@corp.test")
    assert shown["source"]["connection"]["id"] == entra_id


def test_primary_location_mapping_and_lifecycle_over_http(db_url: str, live_server: Server) -> None:
    live = _Live(db_url, live_server)
    t = live.tenant
    cli_json(db_url, "location", "add", "--tenant", t, "London")
    _, okta = live.connection("okta")
    user = okta.post(
        "/Users",
        json=_user(
            "lou", "lou@corp.test", **{ENVOY: {"defaultLocationName": "LDN", "remoteStatus": "WFH"}}
        ),
    ).json()
    assert cli_json(db_url, "location", "unmapped", "--tenant", t) == [
        {"value": "LDN", "employees": 1}
    ]
    cli_json(db_url, "location", "map", "--tenant", t, "LDN", "London")
    lou = live.people()["lou@corp.test"]
    assert lou["primaryLocation"]["location"]["name"] == "London"
    assert lou["remoteStatus"] == "Remote"
    refused = okta.patch(
        f"/Users/{user['id']}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": f"{ENVOY}:remoteStatus", "value": "moon"}],
        },
    )
    assert refused.status_code == 400 and "working from home" in refused.json()["detail"]
    deactivate = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": False}}],
    }
    assert okta.patch(f"/Users/{user['id']}", json=deactivate).status_code in (200, 204)
    assert live.people(status="inactive")["lou@corp.test"]["id"] == lou["id"]
    assert okta.delete(f"/Users/{user['id']}").status_code == 204
    assert live.people() == {}
    missing = httpx.get(
        f"{live_server.url}/api/v1/employees/{lou['id']}",
        headers={"Authorization": f"Bearer {live.api_key}"},
    )
    assert missing.status_code == 404
    spec = httpx.get(f"{live_server.url}/api/v1/openapi.json").json()
    assert set(spec["paths"]) == {"/employees", "/employees/{employee_id}", "/groups", "/locations"}
