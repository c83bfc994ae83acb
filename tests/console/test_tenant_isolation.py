"""Every console route of tenant B, tried with tenant A's session: 404 (as if B did not
exist), and nothing of B's changes. Then B's objects through A's own URLs, the same."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine, func, select
from starlette.routing import Route

from roster import console
from roster.directory.admin import console_jobs, role_admin, rulebook
from roster.directory.admin.rulebook import RuleSpec
from roster.directory.outbound import webhooks
from roster.directory.outbound.webhook_signature import new_secret
from roster.directory.outbound.webhook_urls import UrlPolicy
from roster.directory.people import employees as employees_actions
from roster.directory.people.employees import ManualEmployee
from roster.directory.places import locations
from roster.settings import Settings
from roster.storage.tables import connections, employees, log_entries
from roster.storage.tables import console_jobs as jobs
from tests.console.conftest import Admin, Clock, browser, connect, csrf_of, make_account, sign_in


def _state(engine: Engine, tenant_id: int) -> tuple[Any, ...]:
    with engine.connect() as conn:
        conns = conn.execute(
            select(
                connections.c.uid,
                connections.c.status,
                connections.c.token_hash,
                connections.c.options,
            )
            .where(connections.c.tenant_id == tenant_id)
            .order_by(connections.c.uid)
        ).all()
        entries = conn.execute(
            select(func.count()).where(log_entries.c.tenant_id == tenant_id)
        ).scalar_one()
        rules = [
            (r.id, r.name, r.position, r.conditions, r.actions)
            for r in rulebook.rules(conn, tenant_id)
        ]
        people = conn.execute(
            select(employees.c.id, employees.c.email, employees.c.fields)
            .where(employees.c.tenant_id == tenant_id)
            .order_by(employees.c.id)
        ).all()
        places = [(p.id, p.name) for p in locations.list_all(conn, tenant_id)]
        aliases = locations.mappings(conn, tenant_id)
        mapped = [(m.id, m.role) for m in role_admin.mappings(conn, tenant_id)]
        hooks = [(e.uid, e.status, p) for e, p in webhooks.listing(conn, tenant_id)]
        pinged = webhooks.recent_attempts(conn, tenant_id, None, 10)
        queued = conn.execute(
            select(jobs.c.id, jobs.c.state, jobs.c.done, jobs.c.error)
            .where(jobs.c.tenant_id == tenant_id)
            .order_by(jobs.c.id)
        ).all()
    return (
        tuple(conns),
        entries,
        tuple(rules),
        tuple(tuple(p) for p in people),
        tuple(places),
        tuple(aliases),
        tuple(mapped),
        tuple(hooks),
        tuple(pinged),
        tuple(tuple(j) for j in queued),
    )


def _tenant_routes(settings: Settings, engine: Engine, clock: Clock) -> set[tuple[str, str]]:
    app = console.build(settings, engine, clock=clock)
    out = set()
    for route in app.routes:
        if isinstance(route, Route) and "{slug}" in route.path:
            for method in route.methods or ():
                if method != "HEAD":
                    out.add((method, route.path))
    return out


def test_another_tenants_routes_answer_404_and_change_nothing(
    admin_factory: Any, engine: Engine, settings: Settings, clock: Clock
) -> None:
    a: Admin = admin_factory(None)
    b: Admin = admin_factory(None)
    b_scim = connect(engine, b.http, b)
    user = b_scim.create_user("bea@example.test")
    with engine.begin() as conn:
        b_rule = rulebook.add_rule(conn, b.tenant_id, RuleSpec("B's rule"))
        rulebook.add_rule(conn, b.tenant_id, RuleSpec("B's other rule"))
        b_place = locations.add(conn, b.tenant_id, "B's office")
        locations.map_value(conn, b.tenant_id, "B HQ", b_place.id)
        b_mapping = role_admin.map_group(
            conn, b.tenant_id, b_scim.connection_id, "Admins", "Global admin"
        )
        b_manual = employees_actions.add_manual(
            conn, b.tenant_id, ManualEmployee("temp@b.test", {"title": "Temp"})
        )
        b_hook = webhooks.add(
            conn,
            b.tenant_id,
            "http://127.0.0.1:9/b-hook",
            None,
            UrlPolicy(allow_http=True, allow_private=True),
            new_secret(),
        ).endpoint
        # A job of B's: an apply B's admin started, still running (its beat is fresh).
        b_job = console_jobs.create(conn, b.tenant_id, "rule.apply", 2, "admin:b", clock())
    employee_id = _employee_id(b)
    entry_id = _some_entry(engine, b.tenant_id)
    assert user["id"]

    values = {
        "slug": b.slug,
        "uid": b_scim.connection_id,
        "action": "regenerate",
        "id": b_manual.id,  # a manual one: its edit and remove would succeed for B
        "rule": b_rule.id,
        "verb": "move",
        "location": b_place.id,
        "mapping": b_mapping.id,
        "endpoint": b_hook.uid,
        "job": b_job.id,
    }
    # What B's own admin would post to each route, so each attempt would change something.
    form = {
        "csrf": "",
        "name": "sneaky",
        "conditions": "",
        "to": "2",
        "email": "sneaky@b.test",
        "title": "Owner",
        "value": "B HQ",
        "location": b_place.id,
        "connection": b_scim.connection_id,
        "group": "Sneaks",
        "role": "Global admin",
        "pasted": "email\nsneaky2@b.test\n",
    }
    per_route = {
        "/t/{slug}/connections/{uid}/settings": {"name": "strict_members", "value": "true"}
    }
    tried: set[tuple[str, str]] = set()
    before = _state(engine, b.tenant_id)
    a_csrf = a.csrf(f"/admin/t/{a.slug}/")

    def attempt(method: str, template: str, **override: str) -> None:
        path = "/admin" + template.replace(":str}", "}").format(**{**values, **override})
        if method == "GET":
            response = a.get(path)
        else:
            response = a.http.post(
                path,
                data={**form, "csrf": a_csrf, **per_route.get(template, {})},
                follow_redirects=False,
            )
        assert response.status_code == 404, (method, path, response.status_code)
        assert b.tenant not in response.text and b_scim.connection_id not in response.text
        tried.add((method, template))

    for method, template in sorted(_tenant_routes(settings, engine, clock)):
        if "{action}" in template:
            for action in ("regenerate", "deactivate", "activate"):
                attempt(method, template, action=action)
        elif "{verb" in template:
            for verb in ("move", "remove"):
                attempt(method, template, verb=verb)
        elif template == "/t/{slug}/log/{id}":
            attempt(method, template, id=str(entry_id))
        else:
            attempt(method, template)
    assert tried == _tenant_routes(settings, engine, clock)  # every tenant route was tried
    assert _state(engine, b.tenant_id) == before

    # B's objects through A's own tenant URLs: not found either.
    for path in (
        f"/admin/t/{a.slug}/connections/{b_scim.connection_id}",
        f"/admin/t/{a.slug}/connections/{b_scim.connection_id}/regenerate",
        f"/admin/t/{a.slug}/employees/{employee_id}",
        f"/admin/t/{a.slug}/employees/{b_manual.id}/edit",
        f"/admin/t/{a.slug}/employees/{b_manual.id}/remove",
        f"/admin/t/{a.slug}/locations/{b_place.id}/remove",
        f"/admin/t/{a.slug}/rules/{b_rule.id}/edit",
        f"/admin/t/{a.slug}/log/{entry_id}",
        f"/admin/t/{a.slug}/jobs/{b_job.id}",
    ):
        assert a.get(path).status_code == 404, path
    for path, data in (
        (
            f"/admin/t/{a.slug}/connections/{b_scim.connection_id}/settings",
            per_route["/t/{slug}/connections/{uid}/settings"],
        ),
        (f"/admin/t/{a.slug}/employees/{b_manual.id}/edit", {"email": "x@b.test"}),
        (f"/admin/t/{a.slug}/employees/{b_manual.id}/remove", {}),
        (f"/admin/t/{a.slug}/locations/{b_place.id}/remove", {}),
        (f"/admin/t/{a.slug}/roles/{b_mapping.id}/remove", {}),
        (f"/admin/t/{a.slug}/rules/{b_rule.id}/edit", {"name": "x"}),
    ):
        assert a.post(path, data, csrf=a_csrf).status_code == 404, path
    # A's forms naming B's location or connection: refused, B unchanged.
    a_map = a.post(
        f"/admin/t/{a.slug}/roles",
        {"connection": b_scim.connection_id, "group": "G", "role": "Global admin"},
        csrf=a_csrf,
    )
    # ... answered as for a connection that does not exist (the id is A's own input).
    assert a_map.status_code == 404 and "in this tenant" in a_map.text
    assert b.tenant not in a_map.text
    a_filter = a.get(f"/admin/t/{a.slug}/employees?location={b_place.id}")
    assert a_filter.status_code == 404
    assert a.get(f"/admin/t/{a.slug}/employees?source={b_scim.connection_id}").status_code == 400
    for action in ("regenerate", "deactivate", "activate"):
        path = f"/admin/t/{a.slug}/connections/{b_scim.connection_id}/{action}"
        assert a.post(path, csrf=a_csrf).status_code == 404
    # A filter naming B's connection or request finds nothing of B's in A's log.
    log = a.get(f"/admin/t/{a.slug}/log?connection={b_scim.connection_id}")
    assert log.status_code == 200 and "No entries match" in log.text
    export = a.get(f"/admin/t/{a.slug}/log.csv?connection={b_scim.connection_id}")
    assert export.text.strip().count("\n") == 0  # the header row only
    assert _state(engine, b.tenant_id) == before
    assert b_scim.get("/Users").status_code == 200  # B's token still works
    # ... and B itself still sees all of it.
    assert b.get(f"/admin/t/{b.slug}/connections/{b_scim.connection_id}").status_code == 200


def test_an_operator_sees_every_tenant(
    admin_factory: Any, app: Any, engine: Engine, clock: Clock
) -> None:
    a: Admin = admin_factory(None)
    b: Admin = admin_factory(None)
    email = make_account(engine, clock, None)
    http = browser(app)
    assert sign_in(http, email).status_code == 303
    home = http.get("/admin/")
    assert a.tenant in home.text and b.tenant in home.text
    for who in (a, b):
        assert http.get(f"/admin/t/{who.slug}/").status_code == 200
    assert csrf_of(home.text)


def _employee_id(admin: Admin) -> str:
    page: str = admin.get(f"/admin/t/{admin.slug}/employees").text
    found = re.search(rf"/admin/t/{admin.slug}/employees/([0-9a-f-]{{36}})\"", page)
    assert found, "no employee on the page"
    return found.group(1)


def _some_entry(engine: Engine, tenant_id: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.max(log_entries.c.id)).where(log_entries.c.tenant_id == tenant_id)
            ).scalar_one()
        )
