"""The console's editing pages over real data: connection settings, locations and their
primary-location mappings, group-role mappings, manual employees (add, edit, remove, CSV
import), rule edits, the employee list's location and source filters, the log's time
filter and the mail outbox. Each action is the CLI's (same checks, same log entries) and
is logged with the admin as actor; every state-changing route refuses a missing or wrong
CSRF token and changes nothing."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from starlette.applications import Starlette

from roster.directory.admin import connection_settings, role_admin, rulebook, tenancy
from roster.directory.admin.rulebook import RuleSpec
from roster.directory.entitlements import onboarding
from roster.directory.journal import system_log
from roster.directory.people import employees
from roster.directory.people.employees import ManualEmployee
from roster.directory.places import locations
from roster.storage.tables import connections, log_entries
from tests.console.conftest import Admin, Clock, browser, connect, make_account, sign_in

ENVOY = "urn:scim:schemas:extension:envoy:core:1.0:User"
T0 = datetime(2031, 3, 3, 9, 0, 0)  # far from the real clock: no delivery loop picks it up


def _logged(engine: Engine, admin: Admin) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        return [
            (e.actor, e.path, e.detail or "")
            for e in system_log.recent(conn, admin.tenant_id, limit=300)
        ]


def _did(engine: Engine, admin: Admin, action: str) -> bool:
    return any(a == f"admin:{admin.email}" and p == action for a, p, _ in _logged(engine, admin))


def _options(engine: Engine, uid: str) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(
            conn.execute(select(connections.c.options).where(connections.c.uid == uid)).scalar_one()
        )


def test_connection_settings_are_edited_with_the_clis_action(admin: Admin, engine: Engine) -> None:
    scim = connect(engine, admin.http, admin)
    base = f"/admin/t/{admin.slug}/connections/{scim.connection_id}"
    page = admin.get(base).text
    assert 'id="set-strict_members"' in page and 'id="set-group_role_prefix"' in page
    assert "a group write naming a member" in page  # each setting with its meaning

    saved = admin.post(f"{base}/settings", {"name": "strict_members", "value": "true"}, page=base)
    assert saved.status_code == 303 and "saved=" in saved.headers["location"]
    assert _options(engine, scim.connection_id)["strict_members"] is True
    shown = admin.get(saved.headers["location"]).text
    assert "Saved: strict_members = true (override)" in shown
    # The CLI's entry (connection.configure) and the admin's, both in the log.
    logged = _logged(engine, admin)
    assert any(p == "connection.configure" and "strict_members" in d for _, p, d in logged)
    assert _did(engine, admin, "console.connection.configure")

    # The same validation as `roster connection configure`: refused, nothing written.
    bad = admin.post(
        f"{base}/settings", {"name": "unique_identifier", "value": "nickname"}, page=base
    )
    assert bad.status_code == 400 and "is not one of: userName, email" in bad.text
    unknown = admin.post(f"{base}/settings", {"name": "colour", "value": "red"}, page=base)
    assert unknown.status_code == 400 and "unknown connection setting" in unknown.text
    assert "unique_identifier" not in _options(engine, scim.connection_id)

    reset = admin.post(f"{base}/settings", {"name": "strict_members", "do": "reset"}, page=base)
    assert reset.status_code == 303
    assert "strict_members" not in _options(engine, scim.connection_id)


def test_locations_added_removed_and_primary_values_mapped(admin: Admin, engine: Engine) -> None:
    scim = connect(engine, admin.http, admin)
    scim.create_user("ann@example.test", **{ENVOY: {"defaultLocationName": "Boston Office"}})
    url = f"/admin/t/{admin.slug}/locations"
    page = admin.get(url).text
    assert "Boston Office" in page.split('id="unmapped-heading"')[1]  # listed, 1 employee

    added = admin.post(
        url, {"name": "Boston HQ", "cities": "Boston, Cambridge", "locales": "en_US"}, page=url
    )
    assert added.status_code == 303
    with engine.connect() as conn:
        place = locations.get(conn, admin.tenant_id, "Boston HQ")
    assert place.cities == ["boston", "cambridge"] and place.locales == ["en_US"]
    bad = admin.post(url, {"name": "Paris", "locales": "french"}, page=url)
    assert bad.status_code == 400 and "is not ISO 639-1" in bad.text
    assert 'value="Paris"' in bad.text  # the form as typed
    taken = admin.post(url, {"name": "boston hq"}, page=url)
    assert taken.status_code == 409

    mapped = admin.post(f"{url}/map", {"value": "Boston Office", "location": place.id}, page=url)
    assert mapped.status_code == 303
    with engine.connect() as conn:
        assert locations.mappings(conn, admin.tenant_id) == [("Boston Office", "Boston HQ")]
        assert locations.unmapped(conn, admin.tenant_id) == []
    assert "Every value is mapped" in admin.get(url).text
    assert admin.post(f"{url}/unmap", {"value": "Boston Office"}, page=url).status_code == 303
    with engine.connect() as conn:
        assert locations.mappings(conn, admin.tenant_id) == []

    confirm = admin.get(f"{url}/{place.id}/remove")
    assert confirm.status_code == 200 and "Remove the location" in confirm.text
    with engine.connect() as conn:
        assert len(locations.list_all(conn, admin.tenant_id)) == 1  # a confirmation only
    assert admin.post(f"{url}/{place.id}/remove", page=url).status_code == 303
    with engine.connect() as conn:
        assert locations.list_all(conn, admin.tenant_id) == []
    for action in ("add", "map", "unmap", "remove"):
        assert _did(engine, admin, f"console.location.{action}"), action
    assert admin.get(f"{url}/{place.id}/remove").status_code == 404


def test_group_role_mappings_with_their_ranking(admin: Admin, engine: Engine) -> None:
    scim = connect(engine, admin.http, admin)
    ann = scim.create_user("ann@example.test")
    scim.create_group("Desk", [ann["id"]])
    with engine.begin() as conn:
        place = locations.add(conn, admin.tenant_id, "HQ")
    url = f"/admin/t/{admin.slug}/roles"
    page = admin.get(url).text
    assert page.index("Location admin") < page.index("Front desk admin")  # highest first

    # The CLI's checks: a location role needs its locations.
    bad = admin.post(
        url,
        {"connection": scim.connection_id, "group": "Desk", "role": "Front desk admin"},
        page=url,
    )
    assert bad.status_code == 400 and "is a location role" in bad.text
    done = admin.post(
        url,
        {
            "connection": scim.connection_id,
            "group": "Desk",
            "role": "Front desk admin",
            "location": place.id,
        },
        page=url,
    )
    assert done.status_code == 303
    page = admin.get(url).text
    assert "2nd of 4 location roles" in page
    with engine.connect() as conn:
        (mapping,) = role_admin.mappings(conn, admin.tenant_id)
        ann_row = employees.find(conn, admin.tenant_id, "ann@example.test")
        held = role_admin.held(conn, admin.tenant_id, ann_row)
    assert [(r.role, r.source) for r in held] == [("Front desk admin", "group")]  # at once

    assert admin.post(f"{url}/{mapping.id}/remove", page=url).status_code == 303
    with engine.connect() as conn:
        assert role_admin.mappings(conn, admin.tenant_id) == []
        assert role_admin.held(conn, admin.tenant_id, ann_row) == []
    assert admin.post(f"{url}/{mapping.id}/remove", page=url).status_code == 404
    assert _did(engine, admin, "console.role.map") and _did(engine, admin, "console.role.unmap")


def test_manual_employees_added_edited_and_removed(admin: Admin, engine: Engine) -> None:
    with engine.begin() as conn:
        hq = locations.add(conn, admin.tenant_id, "HQ")
        lab = locations.add(conn, admin.tenant_id, "Lab")
    new = f"/admin/t/{admin.slug}/employees/new"
    assert 'for="f-givenName"' in admin.get(new).text
    added = admin.post(
        new,
        {"email": "temp@example.test", "givenName": "Tess", "title": "Temp", "location": hq.id},
        page=new,
    )
    assert added.status_code == 303
    employee_id = added.headers["location"].rsplit("/", 1)[1]
    page = admin.get(added.headers["location"]).text
    assert "temp@example.test" in page and "HQ" in page and "/edit" in page

    # The CLI's checks, and its log entry of the refusal.
    again = admin.post(new, {"email": "TEMP@example.test"}, page=new)
    assert again.status_code == 409 and "already exists" in again.text
    assert any("console: manual employee" in d for _, _, d in _logged(engine, admin))
    assert admin.post(new, {"email": "nobody"}, page=new).status_code == 400

    edit = f"/admin/t/{admin.slug}/employees/{employee_id}/edit"
    form = admin.get(edit).text
    assert 'value="Tess"' in form and f'value="{hq.id}" checked' in form
    edited = admin.post(
        edit,
        {"email": "tess@example.test", "givenName": "Tess", "title": "Lead", "location": lab.id},
        page=edit,
    )
    assert edited.status_code == 303
    with engine.connect() as conn:
        row = employees.find(conn, admin.tenant_id, employee_id)
        places = locations.of_employee(conn, admin.tenant_id, row.pk)
    assert row.email == "tess@example.test" and row.fields["title"] == "Lead"
    assert [p.name for p in places] == ["Lab"]
    assert admin.post(edit, {"email": "x@", "title": "Boss"}, page=edit).status_code == 400
    with engine.connect() as conn:
        assert employees.find(conn, admin.tenant_id, employee_id).fields["title"] == "Lead"

    remove = f"/admin/t/{admin.slug}/employees/{employee_id}/remove"
    assert "Remove the employee" in admin.get(remove).text
    assert admin.post(remove, page=remove).status_code == 303
    assert admin.get(f"/admin/t/{admin.slug}/employees/{employee_id}").status_code == 404
    for action in ("add", "edit", "remove"):
        assert _did(engine, admin, f"console.employee.{action}"), action
    events = [p for _, p, _ in _logged(engine, admin) if p.startswith("employee.")]
    assert {"employee.add", "employee.edit", "employee.remove"} <= set(events)


def test_a_synced_employee_is_not_edited_or_removed_here(admin: Admin, engine: Engine) -> None:
    scim = connect(engine, admin.http, admin)
    scim.create_user("ann@example.test")
    with engine.connect() as conn:
        ann = employees.find(conn, admin.tenant_id, "ann@example.test")
    edit = f"/admin/t/{admin.slug}/employees/{ann.id}/edit"
    assert admin.get(edit).status_code == 409
    assert admin.post(edit, {"email": "x@example.test"}).status_code == 409
    remove = f"/admin/t/{admin.slug}/employees/{ann.id}/remove"
    assert "remove or unassign the user there" in admin.get(remove).text
    assert admin.post(remove).status_code == 409
    with engine.connect() as conn:
        assert employees.find(conn, admin.tenant_id, ann.id).email == "ann@example.test"


def test_csv_import_reports_each_row(admin: Admin, engine: Engine) -> None:
    with engine.begin() as conn:
        locations.add(conn, admin.tenant_id, "HQ")
        employees.add_manual(conn, admin.tenant_id, ManualEmployee("old@example.test", {}))
    url = f"/admin/t/{admin.slug}/employees/import"
    body = (
        "email,givenName,locations\n"
        "a@example.test,Ann,HQ\n"
        "old@example.test,Old,\n"
        "b@example.test,Bob,Nowhere\n"
        "c@example.test,Cy\n"
    )
    csrf = admin.csrf(url)
    response = admin.http.post(
        url,
        data={"csrf": csrf},
        files={"file": ("people.csv", body.encode(), "text/csv")},
        follow_redirects=False,
    )
    page = admin.job(response)  # imported in the background; its page has the report
    assert "1 of 4 rows imported, 3 refused" in page
    rows = re.findall(r'<th scope="row">(\d+)</th>\s*<td data-label="Email">([^<]*)</td>', page)
    assert rows == [
        ("2", "a@example.test"),
        ("3", "old@example.test"),
        ("4", "b@example.test"),
        ("5", "c@example.test"),
    ]
    assert "already exists" in page and "no location called" in page and "2 values" in page
    with engine.connect() as conn:
        assert employees.find(conn, admin.tenant_id, "a@example.test").fields["givenName"] == "Ann"
    logged = _logged(engine, admin)
    assert any(p == "employee.import" and "people.csv" in d for _, p, d in logged)
    assert _did(engine, admin, "console.employee.import")

    pasted = admin.http.post(url, data={"csrf": csrf, "pasted": "name\nx\n"})
    assert pasted.status_code == 400 and "unknown column" in pasted.text


def test_a_rule_is_edited_in_place(admin: Admin, engine: Engine) -> None:
    with engine.begin() as conn:
        rulebook.add_access_group(conn, admin.tenant_id, "Doors", None)
        first = rulebook.add_rule(conn, admin.tenant_id, RuleSpec("First"))
        rulebook.add_rule(conn, admin.tenant_id, RuleSpec("Second"))
    url = f"/admin/t/{admin.slug}/rules/{first.id}/edit"
    assert 'value="First"' in admin.get(url).text
    bad = admin.post(url, {"name": "First", "conditions": "city equals X"}, page=url)
    assert bad.status_code == 400
    taken = admin.post(url, {"name": "second"}, page=url)
    assert taken.status_code == 409
    done = admin.post(
        url,
        {"name": "Boston", "conditions": 'city eq "Boston"', "access_group": "Doors"},
        page=url,
    )
    assert done.status_code == 303
    with engine.connect() as conn:
        rows = rulebook.rules(conn, admin.tenant_id)
        text = rulebook.describe(conn, admin.tenant_id, rows[0])
    assert (rows[0].id, rows[0].name, rows[0].position) == (first.id, "Boston", 1)
    assert text == "if all of: city eq Boston -> access groups 'Doors'"
    form = admin.get(url).text
    assert 'value="Doors" checked' in form and "city eq Boston" in form
    logged = _logged(engine, admin)
    assert any(p == "rule.edit" and "renamed from 'First'" in d for _, p, d in logged)
    assert _did(engine, admin, "console.rule.edit")


def test_employee_filters_by_location_and_source(admin: Admin, engine: Engine) -> None:
    scim = connect(engine, admin.http, admin)
    other = connect(engine, admin.http, admin, "entra")
    scim.create_user("ann@example.test")
    other.create_user("bob@example.test")
    with engine.begin() as conn:
        for uid in (scim.connection_id, other.connection_id):
            # Per location by city: the synced users (no city) join no location.
            row = tenancy.get_connection(conn, uid)
            connection_settings.configure(conn, row, ["location_sync=per_location"], [])
        hq = locations.add(conn, admin.tenant_id, "HQ", cities=["Boston"])
        employees.add_manual(conn, admin.tenant_id, ManualEmployee("cy@example.test", {}, ["HQ"]))
    url = f"/admin/t/{admin.slug}/employees"

    def emails(**params: str) -> set[str]:
        page = admin.get(url, params=params).text
        return set(re.findall(r'">([a-z]+@example\.test)</a>', page))

    assert emails() == {"ann@example.test", "bob@example.test", "cy@example.test"}
    assert emails(location=hq.id) == {"cy@example.test"}
    assert emails(source="manual") == {"cy@example.test"}
    assert emails(source="synced") == {"ann@example.test", "bob@example.test"}
    assert emails(source=other.connection_id) == {"bob@example.test"}
    assert emails(source=other.connection_id, q="ann") == set()
    assert admin.get(url, params={"source": "elsewhere"}).status_code == 400
    assert admin.get(url, params={"location": "Atlantis"}).status_code == 404


def test_log_time_filter(admin: Admin, engine: Engine) -> None:
    scim = connect(engine, admin.http, admin)
    scim.create_user("ann@example.test")
    with engine.connect() as conn:
        newest = conn.execute(
            select(func.max(log_entries.c.at)).where(log_entries.c.tenant_id == admin.tenant_id)
        ).scalar_one()
    log = f"/admin/t/{admin.slug}/log"
    after = (newest + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    before = (newest - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert "POST /Users" in admin.get(log, params={"from": before}).text
    assert "No entries match" in admin.get(log, params={"from": after}).text
    assert "No entries match" in admin.get(log, params={"to": before}).text
    assert "POST /Users" in admin.get(log, params={"from": before, "to": after}).text
    utc = (newest - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M") + "-05:00"  # = newest + 4h
    assert "No entries match" in admin.get(log, params={"from": utc}).text
    exported = admin.get(f"{log}.csv", params={"from": after}).text
    assert exported.strip().count("\n") == 0
    assert admin.get(log, params={"from": "yesterday"}).status_code == 400


def test_mail_outbox_page(admin: Admin, engine: Engine) -> None:
    url = f"/admin/t/{admin.slug}/mail"
    assert "No emails" in admin.get(url).text
    with engine.begin() as conn:
        ada = employees.add_manual(conn, admin.tenant_id, ManualEmployee("ada@corp.test", {}))
        assert onboarding.queue(conn, admin.tenant_id, ada, 1, rule_name="Keys", at=T0)
    page = admin.get(url).text
    # Another domain than the admins' (admin-<random>@example.test): the text that splits
    # the page is in the recipient's row only.
    row = page.split("ada@corp.test")[1].split("</tr>")[0]
    assert "pending" in row and "next 2031-03-03 09:00:00 UTC" in row
    assert "No emails sent" in admin.get(url, params={"status": "sent"}).text
    assert "ada@corp.test" in admin.get(url, params={"status": "pending"}).text
    assert admin.get(url, params={"status": "lost"}).status_code == 400


def test_operator_sign_in_and_out_are_in_every_tenants_log(
    admin_factory: Any, app: Starlette, engine: Engine, clock: Clock
) -> None:
    a: Admin = admin_factory(None)
    b: Admin = admin_factory(None)
    email = make_account(engine, clock, None)
    http = browser(app)
    assert sign_in(http, email, "wrong password!").status_code == 401
    assert sign_in(http, email).status_code == 303
    home = http.get("/admin/")
    csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', home.text)
    assert csrf
    assert http.post("/admin/logout", data={"csrf": csrf.group(1)}).status_code == 200
    for who in (a, b):
        mine = [(p, d) for actor, p, d in _logged(engine, who) if actor == f"admin:{email}"]
        assert any(
            p == "admin.sign_in" and d.startswith("operator sign-in refused (wrong password)")
            for p, d in mine
        )
        assert any(p == "admin.sign_in" and d.startswith("operator signed in") for p, d in mine)
        assert any(p == "admin.sign_out" and d == "operator signed out" for p, d in mine)


def test_new_forms_need_the_csrf_token(admin: Admin, engine: Engine) -> None:
    scim = connect(engine, admin.http, admin)
    with engine.begin() as conn:
        place = locations.add(conn, admin.tenant_id, "HQ")
        locations.map_value(conn, admin.tenant_id, "Head office", place.id)
        rule = rulebook.add_rule(conn, admin.tenant_id, RuleSpec("Everyone"))
        mapping = role_admin.map_group(
            conn, admin.tenant_id, scim.connection_id, "Admins", "Global admin"
        )
        temp = employees.add_manual(conn, admin.tenant_id, ManualEmployee("t@example.test", {}))
    t = f"/admin/t/{admin.slug}"
    posts: list[tuple[str, dict[str, str]]] = [
        (
            f"{t}/connections/{scim.connection_id}/settings",
            {"name": "strict_members", "value": "true"},
        ),
        (f"{t}/locations", {"name": "Lab"}),
        (f"{t}/locations/map", {"value": "Lab office", "location": place.id}),
        (f"{t}/locations/unmap", {"value": "Head office"}),
        (f"{t}/locations/{place.id}/remove", {}),
        (f"{t}/roles", {"connection": scim.connection_id, "group": "G", "role": "Global admin"}),
        (f"{t}/roles/{mapping.id}/remove", {}),
        (f"{t}/employees/new", {"email": "n@example.test"}),
        (f"{t}/employees/import", {"pasted": "email\nm@example.test\n"}),
        (f"{t}/employees/{temp.id}/edit", {"email": "e@example.test"}),
        (f"{t}/employees/{temp.id}/remove", {}),
        (f"{t}/rules/{rule.id}/edit", {"name": "Renamed"}),
    ]

    def state() -> tuple[Any, ...]:
        with engine.connect() as conn:
            return (
                _options(engine, scim.connection_id),
                [p.name for p in locations.list_all(conn, admin.tenant_id)],
                locations.mappings(conn, admin.tenant_id),
                [m.id for m in role_admin.mappings(conn, admin.tenant_id)],
                [r.name for r in rulebook.rules(conn, admin.tenant_id)],
                conn.execute(
                    select(func.count()).where(log_entries.c.tenant_id == admin.tenant_id)
                ).scalar_one(),
                employees.find(conn, admin.tenant_id, temp.id).email,
            )

    before = state()
    for path, data in posts:
        for bad in (None, "0" * 64):
            sent = data if bad is None else {"csrf": bad, **data}
            response = admin.http.post(path, data=sent, follow_redirects=False)
            assert response.status_code == 403, (path, bad, response.status_code)
    assert state() == before
