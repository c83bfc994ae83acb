"""The console's pages over real data: the dashboard's counts, a connection's settings and
actions behind confirmations, the directory, rules (add, dry run, apply) and the log."""

from __future__ import annotations

import csv
import io
import re

from sqlalchemy import Engine

from roster.directory.admin import rulebook
from roster.directory.journal import system_log
from roster.directory.places import locations
from roster.storage import events as event_store
from tests.console.conftest import Admin, connect


def _actors(engine: Engine, admin: Admin) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [(e.actor, e.path) for e in system_log.recent(conn, admin.tenant_id, limit=200)]


def test_dashboard_counts_requests_errors_users_and_groups(admin: Admin, engine: Engine) -> None:
    scim = connect(engine, admin.http, admin)
    ann = scim.create_user("ann@example.test")
    scim.create_user("bob@example.test")
    scim.create_group("Eng", [ann["id"]])
    assert (
        scim.post("/Users", {"schemas": [], "userName": "x", "active": "maybe"}).status_code == 400
    )
    page = admin.get(f"/admin/t/{admin.slug}/").text
    row = page.split(f'connections/{scim.connection_id}">')[1].split("</tr>")[0]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    # idp, status, last request, requests, errors, users, groups, employees, chart
    assert cells[0] == "okta" and "active" in cells[1] and "UTC" in cells[2]
    assert cells[3] == "4" and ">1</a>" in cells[4]
    assert cells[5].startswith("2") and cells[6] == "1" and cells[7] == "2"
    assert "4 requests, 1 errors in the last 24 hours" in cells[8]


def test_connection_page_and_token_regeneration_behind_a_confirmation(
    admin: Admin, engine: Engine
) -> None:
    scim = connect(engine, admin.http, admin)
    scim.create_user("ann@example.test")
    base = f"/admin/t/{admin.slug}/connections/{scim.connection_id}"
    page = admin.get(base).text
    assert f"http://testserver/scim/v2/{admin.slug}/{scim.connection_id}" in page
    assert "location_sync" in page and "unique_identifier" in page  # every setting...
    assert "okta profile" in page  # ... with where its value comes from
    assert "POST /Users" in page  # the latest requests from the IdP
    assert scim.token not in page

    confirm = admin.get(f"{base}/regenerate")
    assert confirm.status_code == 200
    assert "The current token stops working at once" in confirm.text
    assert scim.get("/Users").status_code == 200  # a confirmation page changes nothing
    done = admin.post(f"{base}/regenerate", page=f"{base}/regenerate")
    assert done.status_code == 200
    new_token = done.text.split('id="token">')[1].split("<")[0]
    assert scim.get("/Users").status_code == 401  # the old token is revoked
    scim.token = new_token
    assert scim.get("/Users").status_code == 200

    assert "401" in admin.get(f"{base}/deactivate").text
    assert admin.post(f"{base}/deactivate").status_code == 303
    refused = scim.get("/Users")
    assert refused.status_code == 401 and "inactive" in refused.text
    assert admin.post(f"{base}/activate").status_code == 303
    assert scim.get("/Users").status_code == 200
    actor = f"admin:{admin.email}"
    logged = _actors(engine, admin)
    for action in ("regenerate", "deactivate", "activate"):
        assert (actor, f"console.connection.{action}") in logged
    assert admin.get(f"{base}/delete").status_code == 404
    # The host app hears of both, as of the CLI's (docs/events.md).
    with engine.connect() as conn:
        found = [
            (e.type, e.actor, e.resource_id)
            for e in event_store.page(
                conn,
                admin.tenant_id,
                after=None,
                before=None,
                types=["connection.deactivated", "connection.activated"],
                limit=10,
            )
        ]
    assert found == [
        ("connection.deactivated", "admin", scim.connection_id),
        ("connection.activated", "admin", scim.connection_id),
    ]


def test_employees_search_filter_and_paging(admin: Admin, engine: Engine) -> None:
    scim = connect(engine, admin.http, admin)
    scim.create_user("ann.lee@example.test", name={"givenName": "Ann", "familyName": "Lee"})
    bob = scim.create_user("bob@example.test", displayName="Bob Stone")
    scim.patch(f"/Users/{bob['id']}", [{"op": "replace", "path": "active", "value": False}])
    for n in range(30):
        scim.create_user(f"p{n:02}@example.test")
    url = f"/admin/t/{admin.slug}/employees"
    assert "32 employees" in admin.get(url).text
    by_name = admin.get(url, params={"q": "ann lee"}).text
    assert "1 employee matching" in by_name and "ann.lee@example.test" in by_name
    assert "bob@example.test" in admin.get(url, params={"q": "STONE"}).text
    assert "1 employee" in admin.get(url, params={"status": "inactive"}).text
    assert "0 employees" in admin.get(url, params={"q": "100%_"}).text  # LIKE wildcards escaped
    first = admin.get(url).text
    second = admin.get(url, params={"page": "2"}).text
    assert "page 1 of 2" in first and "page 2 of 2" in second
    partial = admin.get(url, params={"q": "bob"}, headers={"HX-Request": "true"}).text
    assert "<html" not in partial and "bob@example.test" in partial


def test_rule_added_dry_run_applied_and_explained(admin: Admin, engine: Engine) -> None:
    scim = connect(engine, admin.http, admin)
    with engine.begin() as conn:
        locations.add(conn, admin.tenant_id, "Boston HQ", cities=["Boston"])
        rulebook.add_access_group(conn, admin.tenant_id, "Doors", None)
    ann = scim.create_user(
        "ann@example.test", addresses=[{"type": "work", "locality": "Boston", "primary": True}]
    )
    scim.create_user("bob@example.test")
    rules = f"/admin/t/{admin.slug}/rules"
    bad = admin.post(rules, {"name": "Boston", "conditions": "city equals Boston"}, page=rules)
    assert bad.status_code == 400 and 'class="error"' in bad.text  # the CLI's validation
    added = admin.post(
        rules,
        {
            "name": "Boston staff",
            "conditions": 'city eq "Boston"',
            "match": "all",
            "access_group": "Doors",
            "location": "Boston HQ",
        },
        page=rules,
    )
    assert added.status_code == 303, added.text
    assert "Boston staff" in admin.get(rules).text
    dry = admin.get(f"{rules}/dry-run", headers={"HX-Request": "true"}).text
    assert "ann@example.test" in dry and "bob@example.test" not in dry
    assert "+ access group &#39;Doors&#39;" in dry or "+ access group 'Doors'" in dry
    applied = admin.job(admin.post(f"{rules}/apply", page=rules))
    assert "Rules applied" in applied and "<strong>1</strong> changed" in applied
    after = admin.get(f"{rules}/dry-run").text
    assert "would change nothing" in after

    employee_id = _employee_id(admin, "ann@example.test")
    page = admin.get(f"/admin/t/{admin.slug}/employees/{employee_id}").text
    assert "rule &#39;Boston staff&#39;" in page and "FIRED" in page
    assert "granted by rule “Boston staff”" in page
    assert ann["id"] in page or "ann@example.test" in page
    actor = f"admin:{admin.email}"
    logged = _actors(engine, admin)
    assert (actor, "console.rule.add") in logged and (actor, "console.rule.apply") in logged


def test_log_filters_trail_and_csv(admin: Admin, engine: Engine) -> None:
    scim = connect(engine, admin.http, admin)
    response = scim.post(
        "/Users", {"schemas": [], "userName": "=cmd|' /C calc'!A0", "active": "maybe"}
    )
    assert response.status_code == 400
    request_id = response.headers["x-request-id"]
    scim.create_user("ann@example.test")
    log = f"/admin/t/{admin.slug}/log"
    errors = admin.get(log, params={"outcome": "error"}).text
    assert "400" in errors and "POST /Users" in errors
    outcomes = re.findall(r'<span class="(ok|bad)">(\d+)</span>', errors)
    assert outcomes and all(kind == "bad" and int(code) >= 400 for kind, code in outcomes)
    trail = admin.get(log, params={"request_id": request_id}).text
    assert trail.count("<tr>") == 2  # header + the one entry of that request
    entry_id = re.search(rf"{log}/(\d+)", trail)
    assert entry_id
    detail = admin.get(f"{log}/{entry_id.group(1)}").text
    assert request_id in detail and "The request's trail" in detail
    assert admin.get(f"{log}/999999999").status_code == 404
    assert admin.get(log, params={"outcome": "maybe"}).status_code == 400
    exported = admin.get(f"{log}.csv", params={"connection": scim.connection_id})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["status"] for r in rows} >= {"400", "201"}
    assert all(not r["detail"].startswith("=") for r in rows)


def _employee_id(admin: Admin, email: str) -> str:
    page: str = admin.get(f"/admin/t/{admin.slug}/employees", params={"q": email}).text
    found = re.search(rf'employees/([0-9a-f-]{{36}})">{re.escape(email)}<', page)
    assert found, page
    return found.group(1)


def test_rules_move_and_remove(admin: Admin, engine: Engine) -> None:
    rules = f"/admin/t/{admin.slug}/rules"
    for name in ("First", "Second", "Third"):
        assert admin.post(rules, {"name": name, "conditions": ""}, page=rules).status_code == 303
    with engine.connect() as conn:
        ids = {r.name: r.id for r in rulebook.rules(conn, admin.tenant_id)}
    moved = admin.post(f"{rules}/{ids['Third']}/move", {"to": "1"}, page=rules)
    assert moved.status_code == 303
    assert admin.post(f"{rules}/{ids['First']}/remove", page=rules).status_code == 303
    with engine.connect() as conn:
        assert [r.name for r in rulebook.rules(conn, admin.tenant_id)] == ["Third", "Second"]
    assert admin.post(f"{rules}/{ids['Third']}/move", {"to": "9"}, page=rules).status_code == 400
    assert admin.post(f"{rules}/{ids['Third']}/rename", page=rules).status_code == 404
    assert admin.post(f"{rules}/Third/remove", page=rules).status_code == 404  # ids only
    actor = f"admin:{admin.email}"
    logged = _actors(engine, admin)
    assert (actor, "console.rule.move") in logged and (actor, "console.rule.remove") in logged
    page = admin.get(rules).text
    assert page.index("Third") < page.index("Second") and 'aria-label="Move Third down"' in page


def test_groups_with_their_members(admin: Admin, engine: Engine) -> None:
    scim = connect(engine, admin.http, admin)
    ann = scim.create_user("ann@example.test")
    scim.create_group("Engineering", [ann["id"]])
    scim.create_group("Empty")
    page = admin.get(f"/admin/t/{admin.slug}/groups").text
    row = page.split("Engineering")[1].split("</tr>")[0]
    assert "ann@example.test" in row and scim.connection_id in row
    assert "none" in page.split("Empty")[1].split("</tr>")[0]


def test_dashboard_says_which_users_are_not_in_the_directory_and_why(
    admin: Admin, engine: Engine
) -> None:
    scim = connect(engine, admin.http, admin)
    scim.create_user("ann@example.test")
    for name, emails in (("kim", []), ("odd", [{"value": "not-an-address", "primary": True}])):
        body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name}
        assert scim.post("/Users", {**body, "emails": emails}).status_code == 201
    page = admin.get(f"/admin/t/{admin.slug}/").text
    row = page.split(f'connections/{scim.connection_id}">')[1].split("</tr>")[0]
    assert "2 not in the directory" in row
    assert "1: no primary email (e.g. kim)" in row
    assert "1: primary email is not an email address (e.g. odd)" in row
