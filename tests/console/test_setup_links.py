"""Setup links: the CLI prints a one-time URL; the customer's IT admin, without an account,
creates a connection with it, sees the base URL and token once with the setup guide, and
the IdP's first request with that token succeeds. The link is used up."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine, select
from starlette.applications import Starlette
from typer.testing import CliRunner

from roster.cli import app as cli_app
from roster.directory.admin import setup_links
from roster.directory.journal import system_log
from roster.errors import InvalidValue
from roster.storage.tables import setup_links as setup_links_table
from tests.conftest import SCIM, USER_SCHEMA
from tests.console.conftest import Clock, browser, csrf_of, new_tenant


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, db_url: str) -> Any:
    monkeypatch.setenv("ROSTER_DATABASE_URL", db_url)
    monkeypatch.setenv("ROSTER_PUBLIC_URL", "http://testserver")
    runner = CliRunner()

    def run(*args: str) -> Any:
        result = runner.invoke(cli_app, [*args, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    return run


def test_a_setup_link_creates_a_connection_whose_token_works_once(
    app: Starlette, engine: Engine, cli: Any
) -> None:
    name, slug, tenant_id = new_tenant(engine)
    link = cli("setup-link", "create", "--tenant", name, "--expires", "2d")
    assert link["url"].startswith("http://testserver/admin/setup/")
    path = link["url"].removeprefix("http://testserver")
    token = path.rsplit("/", 1)[1]
    with engine.connect() as conn:
        stored = conn.execute(select(setup_links_table.c.token_hash)).scalars().all()
    assert token not in stored  # only its hash

    http = browser(app)
    form = http.get(path)
    assert form.status_code == 200 and f"Set up provisioning for {name}" in form.text
    done = http.post(path, data={"csrf": csrf_of(form.text), "idp": "okta", "name": "Okta prod"})
    assert done.status_code == 200, done.text
    assert done.headers["cache-control"] == "no-store"
    page = done.text
    base_url = page.split('id="base-url">')[1].split("<")[0]
    scim_token = page.split('id="token">')[1].split("<")[0]
    assert base_url.startswith(f"http://testserver/scim/v2/{slug}/")
    assert scim_token.startswith("roster_")
    # The Okta guide, with this connection's base URL and token filled in.
    assert "Add the app in Okta" in page
    assert page.count(base_url) >= 2 and page.count(scim_token) >= 2
    assert "roster_XKipNTt348vIgfg1u1qnnshK9dnHJiHCrwsfFg_k5ug" not in page

    # What Okta sends first: a user, with the token shown.
    created = http.post(
        base_url.removeprefix("http://testserver") + "/Users",
        json={
            "schemas": [USER_SCHEMA],
            "userName": "ann@example.test",
            "name": {"givenName": "Ann", "familyName": "Lee"},
            "emails": [{"primary": True, "value": "ann@example.test", "type": "work"}],
            "active": True,
        },
        headers={"Authorization": f"Bearer {scim_token}", "Content-Type": SCIM},
    )
    assert created.status_code == 201, created.text

    # Used up: the page and a second POST are refused, and no second connection appears.
    assert http.get(path).status_code == 404
    again = http.post(path, data={"csrf": csrf_of(form.text), "idp": "okta", "name": "Okta 2"})
    assert again.status_code == 404
    connections = cli("connection", "list", "--tenant", name)
    assert [c["name"] for c in connections] == ["Okta prod"]
    listed = cli("setup-link", "list", "--tenant", name)
    assert listed[0]["used_at"] and listed[0]["connection"] == connections[0]["id"]
    with engine.connect() as conn:
        entries = system_log.recent(conn, tenant_id, limit=20)
    assert any(e.actor.startswith("setup-link:") and e.path == "setup_link.use" for e in entries)


def test_a_refused_creation_leaves_the_link_usable(
    app: Starlette, engine: Engine, clock: Clock
) -> None:
    name, _, _ = new_tenant(engine)
    with engine.begin() as conn:
        issued = setup_links.create(conn, name, clock())
    http = browser(app)
    path = f"/admin/setup/{issued.token}"
    form = http.get(path)
    bad = http.post(path, data={"csrf": csrf_of(form.text), "idp": "ldap", "name": ""})
    assert bad.status_code == 400 and "unknown IdP kind" in bad.text
    forged = http.post(path, data={"csrf": "f" * 64, "idp": "okta"})
    assert forged.status_code == 403
    ok = http.post(path, data={"csrf": csrf_of(form.text), "idp": "generic", "name": ""})
    assert ok.status_code == 200 and 'id="token"' in ok.text


def test_an_expired_or_unknown_setup_link_is_refused(
    app: Starlette, engine: Engine, clock: Clock
) -> None:
    name, _, _ = new_tenant(engine)
    with engine.begin() as conn:
        issued = setup_links.create(conn, name, clock(), setup_links.parse_duration("1h"))
    http = browser(app)
    assert http.get(f"/admin/setup/{issued.token}").status_code == 200
    clock.advance(hours=1)
    gone = http.get(f"/admin/setup/{issued.token}")
    assert gone.status_code == 404 and "expired" in gone.text
    assert http.get("/admin/setup/not-a-token").status_code == 404


def test_setup_link_durations() -> None:
    assert setup_links.parse_duration("7d").days == 7
    assert setup_links.parse_duration("36h").total_seconds() == 36 * 3600
    for bad in ("0d", "91d", "soon", "7w"):
        with pytest.raises(InvalidValue):
            setup_links.parse_duration(bad)


def test_admin_commands(engine: Engine, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    name, _, _ = new_tenant(engine)
    created = cli("admin", "create", "--tenant", name, "--email", "it@acme.test")
    assert created["set_password_url"].startswith("http://testserver/admin/password/")
    assert created["tenant"] == name and not created["password_set"]
    operator = cli("admin", "create", "--operator", "--email", f"op-{name}@roster.test")
    assert operator["operator"] and operator["tenant"] is None
    assert [a["email"] for a in cli("admin", "list", "--tenant", name)] == ["it@acme.test"]
    reset = cli("admin", "reset", "it@acme.test", "--yes")
    assert reset["set_password_url"] != created["set_password_url"]
    assert cli("admin", "remove", "it@acme.test", "--yes")["email"] == "it@acme.test"
    assert cli("admin", "list", "--tenant", name) == []
    runner = CliRunner()
    both = runner.invoke(cli_app, ["admin", "create", "--email", "x@y.test"])
    assert both.exit_code == 2
    dup = runner.invoke(
        cli_app, ["admin", "create", "--operator", "--email", f"OP-{name}@roster.test"]
    )
    assert dup.exit_code == 1 and "already exists" in dup.output
