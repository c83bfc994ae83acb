"""The employee directory end to end: the ``roster`` CLI as an admin runs it, SCIM over
HTTP to a live ``roster serve``, and the read API as the host app calls it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine

from roster.directory.admin import apikeys, tenancy
from roster.directory.admin.connections import delete_connection
from roster.directory.journal import system_log
from tests.e2e.conftest import Server, cli_json, run_cli
from tests.openapi_check import check_http, check_response

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


PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class _Live:
    """A tenant with an API key, and its connections, talking to the live server. Made
    in-process through the actions: the CLI is tested where it is what a test is about."""

    def __init__(self, db_url: str, server: Server, engine: Engine) -> None:
        self.db_url, self.server, self.engine = db_url, server, engine
        self.tenant = f"dir-{os.urandom(4).hex()}"
        with engine.begin() as conn:
            self.tenant_id = tenancy.create_tenant(conn, self.tenant).id
            self.api_key = apikeys.create(conn, self.tenant_id, "host app").key

    def connection(self, idp: str) -> tuple[str, httpx.Client]:
        with self.engine.begin() as conn:
            issued = tenancy.create_connection(conn, self.tenant, idp, f"{idp} live")
        row = issued.connection
        base = f"{self.server.url}/scim/v2/{row.tenant_slug}/{row.uid}"
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {issued.token}"})
        return row.uid, client

    def log(self) -> list[system_log.LogEntry]:
        """The tenant's system log, oldest first."""
        with self.engine.connect() as conn:
            return list(reversed(system_log.recent(conn, self.tenant_id, limit=500)))

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
    db_url: str, live_server: Server, engine: Engine, tmp_path: Path
) -> None:
    live = _Live(db_url, live_server, engine)
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
    assert run_cli(db_url, "connection", "delete", okta_id, "--json", check=False).returncode == 1
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


def test_primary_location_mapping_and_lifecycle_over_http(
    db_url: str, live_server: Server, engine: Engine
) -> None:
    live = _Live(db_url, live_server, engine)
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
    assert set(spec["paths"]) == {
        "/employees",
        "/employees/{employee_id}",
        "/groups",
        "/locations",
        "/events",
    }


def _patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def test_an_entra_user_without_mail_joins_when_it_gets_one(
    db_url: str, live_server: Server, engine: Engine
) -> None:
    """Entra sends no emails for a user whose mail is empty: provisioning succeeds, the
    person joins the directory when mail is filled in (Entra's PATCH Add on the work
    email), and keeps their employee with the last email when mail is cleared."""
    live = _Live(db_url, live_server, engine)
    connection_id, entra = live.connection("entra")
    upn = "kim@contoso.onmicrosoft.com"
    created = entra.post("/Users", json={"schemas": [USER], "userName": upn, "active": True})
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    assert live.people() == {}
    shown = cli_json(db_url, "connection", "show", connection_id)["not_in_directory"]
    assert shown["total"] == 1
    assert shown["reasons"] == [{"reason": "no primary email", "count": 1, "examples": [upn]}]
    work = 'emails[type eq "work"].value'
    given = entra.patch(
        f"/Users/{user_id}",
        json=_patch({"op": "Add", "path": work, "value": "kim@contoso.com"}),
    )
    assert given.status_code == 204, given.text
    person = live.people()["kim@contoso.com"]
    assert person["source"]["userName"] == upn and person["status"] == "active"
    assert cli_json(db_url, "connection", "show", connection_id)["not_in_directory"]["total"] == 0
    cleared = entra.patch(f"/Users/{user_id}", json=_patch({"op": "Remove", "path": work}))
    assert cleared.status_code == 204, cleared.text
    # RFC 7644 §3.5.2.2: the sub-attribute goes, the element keeps its type.
    assert [e.get("value") for e in entra.get(f"/Users/{user_id}").json()["emails"]] == [None]
    assert live.people()["kim@contoso.com"]["id"] == person["id"]
    [kept] = [e for e in live.log() if e.path == "employee.email_kept"]
    assert "keeps its last primary email 'kim@contoso.com'" in (kept.detail or "")


def test_what_the_host_app_sees_of_each_sync_outcome(
    db_url: str, live_server: Server, engine: Engine
) -> None:
    live = _Live(db_url, live_server, engine)
    connection_id, okta = live.connection("okta")

    # No primary email: stored and answered, kept out of the directory, and the system
    # log says why (a warning on the request's entry).
    kept_out = okta.post("/Users", json={"schemas": [USER], "userName": "nomail"})
    assert kept_out.status_code == 201, kept_out.text
    assert live.people() == {}
    [entry] = [e for e in live.log() if e.method == "POST"]
    assert (entry.actor, entry.path, entry.status) == ("scim", "/Users", 201)
    assert "is not in the directory: no primary email" in (entry.detail or "")
    assert okta.delete(f"/Users/{kept_out.json()['id']}").status_code == 204

    # Assistants: waiting while the assistant is unknown, resolved when they arrive.
    boss = okta.post(
        "/Users", json=_user("exec", "exec@corp.test", **{ENVOY: {"assistants": ["pa@corp.test"]}})
    )
    assert boss.status_code == 201, boss.text
    [waiting] = live.people()["exec@corp.test"]["assistants"]
    assert waiting == {"value": "pa@corp.test", "resolved": False, "employee": None}
    assert okta.post("/Users", json=_user("pa", "pa@corp.test")).status_code == 201
    people = live.people()
    [arrived] = people["exec@corp.test"]["assistants"]
    assert arrived["resolved"] is True
    assert arrived["employee"]["id"] == people["pa@corp.test"]["id"]

    # Locales: normalised when valid; stored as sent, and flagged, when not.
    okta.post("/Users", json=_user("us", "us@corp.test", locale="en-US"))
    okta.post("/Users", json=_user("odd", "odd@corp.test", locale="english"))
    people = live.people()
    assert people["us@corp.test"]["locale"] == "en_US"
    assert people["odd@corp.test"]["locale"] == "english"
    [flag] = [e for e in live.log() if e.path == "employee.locale"]
    assert flag.resource_id == people["odd@corp.test"]["id"] and "'english'" in (flag.detail or "")

    # Remote status: an alias is accepted as its canonical value; anything else refused
    # with the accepted values, and the employee keeps what it had.
    on_site = okta.post(
        "/Users", json=_user("site", "site@corp.test", **{ENVOY: {"remoteStatus": "On-Site"}})
    )
    assert on_site.status_code == 201
    assert live.people()["site@corp.test"]["remoteStatus"] == "In person"
    moon = okta.patch(
        f"/Users/{on_site.json()['id']}",
        json=_patch({"op": "replace", "path": f"{ENVOY}:remoteStatus", "value": "moon"}),
    )
    assert moon.status_code == 400 and moon.json()["scimType"] == "invalidValue"
    detail = moon.json()["detail"]
    assert "'moon'" in detail and "working from home" in detail and "office based" in detail
    assert live.people()["site@corp.test"]["remoteStatus"] == "In person"

    # Deactivate and reactivate by PATCH (Okta's shape: no path, a value object).
    pa_user = okta.get("/Users", params={"filter": 'userName eq "pa"'}).json()["Resources"][0]
    off = okta.patch(
        f"/Users/{pa_user['id']}", json=_patch({"op": "replace", "value": {"active": False}})
    )
    assert off.status_code == 200, off.text
    assert list(live.people(status="inactive")) == ["pa@corp.test"]
    assert "pa@corp.test" not in live.people(status="active")
    on = okta.patch(
        f"/Users/{pa_user['id']}", json=_patch({"op": "replace", "value": {"active": True}})
    )
    assert on.status_code == 200, on.text
    assert live.people(status="inactive") == {}
    assert live.people()["pa@corp.test"]["status"] == "active"

    # The read API's errors, as the host app meets them over HTTP: the documented shape.
    auth = {"Authorization": f"Bearer {live.api_key}"}
    api = f"{live_server.url}/api/v1"
    for method, path, params, status, template in (
        ("GET", "/employees", {"location": "NoSuchPlace"}, 400, "/employees"),
        ("GET", "/employees/nobody", {}, 404, "/employees/{employee_id}"),
        ("POST", "/employees", {}, 405, None),
        ("GET", "/nothing", {}, 404, None),
    ):
        answer = httpx.request(method, api + path, params=params, headers=auth)
        assert answer.status_code == status, (method, path, answer.text)
        check_http(template, status, answer.headers["content-type"], answer.json())
    assert httpx.get(api + "/locations").status_code == 401

    # Deleting the connection keeps everyone it synced, as manual employees.
    with engine.begin() as conn:
        assert delete_connection(conn, connection_id).employees_kept == 5
    people = live.people()
    assert sorted(people) == [
        "exec@corp.test",
        "odd@corp.test",
        "pa@corp.test",
        "site@corp.test",
        "us@corp.test",
    ]
    assert all(p["source"] == {"type": "manual", "connection": None} for p in people.values())
    # References resolve to synced employees only: the assistant, manual now, is shown as
    # the IdP sent it.
    assert people["exec@corp.test"]["assistants"] == [
        {"value": "pa@corp.test", "resolved": False, "employee": None}
    ]
    assert live.people(source="synced") == {}
    assert okta.get("/Users").status_code == 401
