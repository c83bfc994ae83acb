"""The console in a real browser: Playwright driving Debian's chromium against a live
``roster serve``. Few tests, each a whole journey (they are slow):

- a setup link used end to end: the IT admin picks Okta, the page shows the base URL and
  token once, and Okta's first request (POST /Users) with that token gets 201;
- sign-in (after choosing a password through the set-password link), the dashboard, a
  connection setting changed, and token regeneration with its confirmation page;
- a rule added, dry run, applied; an employee found and explained; the log filtered to
  one request's trail;
- a location added and an unmapped primary-location value mapped to it, a group mapped
  to a role, and a manual employee added;
- a webhook endpoint added (its signing secret shown once), a test ping to a receiver on
  this machine and its delivery attempt, and a replay since a time.

The rule apply runs as a background job: its page polls a progress bar until done.

Set ROSTER_CONSOLE_SCREENSHOTS=docs/console to write the screenshots docs/console.md uses.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from roster.directory.admin import admins, role_admin, rulebook, setup_links, tenancy
from roster.directory.journal import system_log
from roster.directory.journal.system_log import now
from roster.directory.outbound.webhook_signature import sign
from roster.directory.people import employees
from roster.directory.places import locations
from roster.storage.tenancy import lock_configuration
from tests.conftest import SCIM, USER_SCHEMA

CHROMIUM = Path("/usr/bin/chromium")
ENVOY = "urn:scim:schemas:extension:envoy:core:1.0:User"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="browser tests need Debian's chromium at /usr/bin/chromium "
        "(apt-get install -y chromium; .ci/run installs it)",
    ),
]
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "a long browser password"
SHOTS = os.environ.get("ROSTER_CONSOLE_SCREENSHOTS")
ROSTER = str(Path(sys.executable).with_name("roster"))


def shot(page: Any, name: str, *, full_page: bool = False) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=full_page)


@dataclass
class Live:
    url: str


@pytest.fixture(scope="module")
def live(db_url: str) -> Iterator[Live]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "ROSTER_DATABASE_URL": db_url,
        "ROSTER_PUBLIC_URL": url,
        # Webhook receivers on this machine (the test's own), as in development.
        "ROSTER_WEBHOOK_ALLOW_HTTP": "true",
        "ROSTER_WEBHOOK_ALLOW_PRIVATE": "true",
    }
    process = subprocess.Popen(
        [ROSTER, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"roster serve exited with {process.returncode}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # polling for readiness, not racing a result
        yield Live(url)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415  (only when not skipped)

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()


def _tenant(engine: Engine) -> str:
    name = f"Acme {uuid.uuid4().hex[:6]}"
    with engine.begin() as conn:
        tenancy.create_tenant(conn, name)
    return name


def _sign_in(page: Any, live: Live, engine: Engine, tenant: str) -> str:
    email = f"it-{uuid.uuid4().hex[:6]}@acme.test"
    with engine.begin() as conn:
        link = admins.create_account(conn, tenant, email, now())
    page.goto(f"{live.url}/admin/password/{link.token}")
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("The same password again").fill(PASSWORD)
    page.get_by_role("button", name="Set password").click()
    page.get_by_role("heading", name="Password set").wait_for()
    page.get_by_role("link", name="Sign in").click()
    shot(page, "sign-in")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()
    return email


def _scim_user(base_url: str, token: str, email: str, **attrs: Any) -> httpx.Response:
    return httpx.post(
        f"{base_url}/Users",
        json={
            "schemas": [USER_SCHEMA],
            "userName": email,
            "emails": [{"value": email, "primary": True, "type": "work"}],
            "active": True,
            **attrs,
        },
        headers={"Authorization": f"Bearer {token}", "Content-Type": SCIM},
    )


def test_setup_link_sign_in_and_token_regeneration(page: Any, live: Live, engine: Engine) -> None:
    tenant = _tenant(engine)
    with engine.begin() as conn:
        link = setup_links.create(conn, tenant, now())
    page.goto(f"{live.url}/admin/setup/{link.token}")
    page.get_by_role("radio", name="Okta").check()
    page.get_by_label("Connection name").fill("Okta prod")
    shot(page, "setup-link")
    page.get_by_role("button", name="Create the connection").click()
    page.get_by_role("heading", name="Connection “Okta prod” created").wait_for()
    base_url = page.locator("#base-url").inner_text()
    token = page.locator("#token").inner_text()
    assert page.get_by_role("heading", name="Step 2: Add the app in Okta").is_visible()
    shot(page, "setup-link-done")
    created = _scim_user(base_url, token, "ann@acme.test")
    assert created.status_code == 201, created.text
    page.reload()  # the link is used up
    assert page.get_by_role("heading", name="Not found").is_visible()

    _sign_in(page, live, engine, tenant)
    row = page.get_by_role("row").filter(has_text="Okta prod")
    assert "okta" in row.inner_text()
    shot(page, "dashboard")
    row.get_by_role("link", name="Okta prod").click()
    page.get_by_role("heading", name="Connection “Okta prod”").wait_for()
    assert page.locator("#base-url").inner_text() == base_url
    shot(page, "connection")
    page.get_by_label("New value of strict_members").select_option("true")
    page.get_by_role("button", name="Save strict_members").click()
    page.get_by_text("Saved: strict_members = true (override)").wait_for()
    if SHOTS:
        settings = page.locator("section[aria-labelledby=settings-heading]")
        settings.screenshot(path=str(Path(SHOTS) / "connection-settings.png"))
    page.get_by_role("link", name="Regenerate token…").click()
    assert "The current token stops working at once" in page.locator("main").inner_text()
    shot(page, "confirm-regenerate")
    page.get_by_role("button", name="Regenerate the token").click()
    page.get_by_role("heading", name="New token for “Okta prod”").wait_for()
    new_token = page.locator("#token").inner_text()
    assert new_token != token
    assert _scim_user(base_url, token, "bob@acme.test").status_code == 401
    assert _scim_user(base_url, new_token, "bob@acme.test").status_code == 201

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live.url}/admin/")
    shot(page, "dashboard-phone", full_page=True)


def test_rule_dry_run_apply_explain_and_a_requests_trail(
    page: Any, live: Live, engine: Engine
) -> None:
    tenant = _tenant(engine)
    with engine.begin() as conn:
        issued = tenancy.create_connection(conn, tenant, "okta", "Okta")
        tenant_id = issued.connection.tenant_id
        locations.add(conn, tenant_id, "Boston HQ", cities=["Boston"])
        rulebook.add_access_group(conn, tenant_id, "Front doors", "the lobby doors")
    row = issued.connection
    base_url = f"{live.url}/scim/v2/{row.tenant_slug}/{row.uid}"
    boston = {"addresses": [{"type": "work", "locality": "Boston", "primary": True}]}
    named = {"name": {"givenName": "Ann", "familyName": "Lee"}}
    assert _scim_user(base_url, issued.token, "ann@acme.test", **boston, **named).status_code == 201
    assert _scim_user(base_url, issued.token, "bob@acme.test").status_code == 201
    # A value the SCIM core refuses (a user without a usable email is accepted and kept
    # out of the directory instead, issue 11).
    refused = _scim_user(base_url, issued.token, "carl@acme.test", active="maybe")
    assert refused.status_code == 400
    request_id = refused.headers["x-request-id"]
    _sign_in(page, live, engine, tenant)

    page.get_by_role("link", name="Rules").click()
    page.get_by_label("Name", exact=True).fill("Boston staff")
    page.get_by_label("Conditions, one a line").fill('city eq "Boston"')
    page.get_by_label("Front doors").check()
    page.get_by_label("Boston HQ").check()
    page.get_by_role("button", name="Add rule").click()
    page.get_by_text("Rule added").wait_for()
    page.get_by_role("link", name="Dry run").click()  # htmx loads the diff in place
    diff = page.locator("#dry-run")
    diff.get_by_text("ann@acme.test").wait_for()
    assert "+ access group 'Front doors'" in diff.inner_text()
    assert "bob@acme.test" not in diff.inner_text()
    shot(page, "rules-dry-run", full_page=True)
    # On PostgreSQL the test holds the tenant's configuration lock, which the apply's
    # first batch waits for: the job's page provably shows it unfinished first, and only
    # htmx's polling (every second) can bring the result. (SQLite's one write lock
    # would stop the console's own writes too.)
    held = engine.connect() if engine.dialect.name == "postgresql" else None
    if held is not None:
        held.begin()
        lock_configuration(held, tenant_id)
    try:
        page.get_by_role("button", name="Apply the rules").click()
        page.get_by_role("heading", name="Applying the rules").wait_for()
        bar = page.get_by_role("progressbar", name="Employees evaluated")
        assert bar.get_attribute("max") == "2"  # ann and bob (carl was refused)
        if held is not None:
            assert bar.get_attribute("value") == "0"
            assert "Rules applied" not in page.locator("main").inner_text()
    finally:
        if held is not None:
            held.rollback()
            held.close()
    page.get_by_role("heading", name="Rules applied").wait_for()
    assert bar.get_attribute("value") == "2"
    status = page.locator("#job-status").inner_text()
    assert "State: done" in status and "2 of 2" in status and "1 changed" in status
    shot(page, "rules-apply-progress")
    page.set_viewport_size({"width": 390, "height": 844})  # the job's page fits a phone
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    page.set_viewport_size({"width": 1280, "height": 800})

    page.get_by_role("link", name="Employees").click()
    page.get_by_label("Name or email").fill("ann lee")  # htmx searches as one types
    page.get_by_role("link", name="bob@acme.test").wait_for(state="detached")
    shot(page, "employees")
    page.get_by_role("link", name="ann@acme.test").click()
    explain = page.locator("#explain")
    assert "rule 'Boston staff' (match all): FIRED" in explain.inner_text()
    assert "granted by rule “Boston staff”" in page.locator("main").inner_text()
    shot(page, "employee", full_page=True)

    page.get_by_role("link", name="System log").click()
    page.get_by_label("Outcome").select_option("error")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("cell", name="400").first.wait_for()
    page.get_by_role("row").filter(has_text="POST /Users").first.get_by_role("link").click()
    page.get_by_role("heading", name="The request's trail").wait_for()
    page.get_by_role("link", name=request_id).click()
    assert page.get_by_label("Request id").input_value() == request_id
    assert f"request_id={request_id}" in page.url
    rows = page.locator("table.log tbody tr")
    assert rows.count() == 1  # that request wrote one entry: its refusal
    assert "POST /Users" in rows.inner_text() and "400" in rows.inner_text()
    shot(page, "log-trail")


def test_location_role_mapping_and_manual_employee(page: Any, live: Live, engine: Engine) -> None:
    tenant = _tenant(engine)
    with engine.begin() as conn:
        issued = tenancy.create_connection(conn, tenant, "okta", "Okta")
    row = issued.connection
    base_url = f"{live.url}/scim/v2/{row.tenant_slug}/{row.uid}"
    office = {ENVOY: {"defaultLocationName": "Boston Office"}}
    assert _scim_user(base_url, issued.token, "ann@acme.test", **office).status_code == 201
    email = _sign_in(page, live, engine, tenant)

    page.get_by_role("link", name="Locations").click()
    unmapped = page.get_by_role("row").filter(has_text="Boston Office")
    assert "1" in unmapped.inner_text()  # the value the IdP sent, with its head count
    page.get_by_label("Name", exact=True).fill("Boston HQ")
    page.get_by_label("Cities it receives").fill("Boston")
    page.get_by_role("button", name="Add location").click()
    page.get_by_text("Done: location 'Boston HQ' added").wait_for()
    page.get_by_label("Location for Boston Office").select_option(label="Boston HQ")
    page.get_by_role("button", name="Map Boston Office").click()
    page.get_by_text("Every value is mapped").wait_for()
    shot(page, "locations", full_page=True)

    page.get_by_role("link", name="Roles").click()
    page.get_by_label("Group name").fill("Front desk")
    page.get_by_label("Role", exact=True).select_option("Front desk admin")
    page.get_by_label("Boston HQ").check()
    page.get_by_role("button", name="Map group").click()
    mapped = page.get_by_role("row").filter(has_text="Front desk admin")
    assert "2nd of 4 location roles" in mapped.inner_text()
    shot(page, "roles", full_page=True)

    page.get_by_role("link", name="Employees").click()
    page.get_by_role("link", name="Add a manual employee").click()
    page.get_by_label("Email", exact=True).fill("temp@acme.test")
    page.get_by_label("Given name").fill("Tess")
    page.get_by_label("Job title").fill("Contractor")
    page.get_by_label("Boston HQ").check()
    shot(page, "employee-add")
    page.get_by_role("button", name="Add employee").click()
    page.get_by_role("heading", name="temp@acme.test").wait_for()
    facts = page.locator("dl.facts").inner_text()
    assert "manual" in facts and "Boston HQ" in facts and "Contractor" in facts

    with engine.connect() as conn:
        tenant_id = row.tenant_id
        assert [(v, n) for v, n in locations.mappings(conn, tenant_id)] == [
            ("Boston Office", "Boston HQ")
        ]
        (mapping,) = role_admin.mappings(conn, tenant_id)
        assert (mapping.group_name, mapping.role) == ("Front desk", "Front desk admin")
        temp = employees.find(conn, tenant_id, "temp@acme.test")
        actions = {
            e.path
            for e in system_log.recent(conn, tenant_id, limit=50)
            if e.actor == f"admin:{email}"
        }
    assert temp.fields["givenName"] == "Tess"
    assert {"console.location.add", "console.location.map", "console.role.map"} <= actions
    assert "console.employee.add" in actions

    # At phone width the new pages fit the screen: nothing scrolls sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    t = f"{live.url}/admin/t/{row.tenant_slug}"
    for path in ("/locations", "/roles", "/employees/new", f"/connections/{row.uid}", "/mail"):
        page.goto(t + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)
    page.goto(t + "/roles")
    shot(page, "roles-phone", full_page=True)


@dataclass
class Receiver:
    """A webhook receiver on this machine: answers 200 and keeps what it was sent."""

    url: str
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server: ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            kept.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("content-type", "text/plain")
            self.end_headers()
            self.wfile.write(b"received, thanks")

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    kept = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield kept
    server.shutdown()
    server.server_close()


def test_webhook_endpoint_secret_once_ping_and_replay(
    page: Any, live: Live, engine: Engine, receiver: Receiver
) -> None:
    tenant = _tenant(engine)
    _sign_in(page, live, engine, tenant)
    page.get_by_role("link", name="Webhooks").click()
    page.get_by_role("heading", name="Webhooks", exact=True).wait_for()
    assert "No webhook endpoints yet" in page.locator("main").inner_text()
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("Event types").fill("employee.created")
    page.get_by_role("button", name="Add endpoint").click()
    page.get_by_role("heading", name="Endpoint added").wait_for()
    secret = page.locator("#webhook-secret").inner_text()
    assert secret.startswith("whsec_")
    assert "will not be shown again" in page.locator("main").inner_text()
    shot(page, "webhooks", full_page=True)
    page.goto(page.url)  # a reload is a GET: listed, the secret never again
    assert secret not in page.content()
    row = page.get_by_role("row").filter(has_text=receiver.url)
    assert "enabled" in row.inner_text() and "employee.created" in row.inner_text()

    row.get_by_role("button", name=f"Send a test ping to {receiver.url}").click()
    page.get_by_role("heading", name="Webhook endpoint").wait_for()
    page.get_by_text("ping delivered: HTTP 200").wait_for()
    [(headers, body)] = receiver.got
    assert json.loads(body)["type"] == "ping"
    stamp, message_id = int(headers["webhook-timestamp"]), headers["webhook-id"]
    assert sign(secret, message_id, stamp, body.decode()) in headers["webhook-signature"]
    attempt = page.locator("table tbody tr").first
    assert "ping" in attempt.inner_text() and "200" in attempt.inner_text()
    assert "received, thanks" in attempt.inner_text()
    shot(page, "webhook-attempts", full_page=True)

    page.get_by_role("link", name="Replay since…").click()
    page.get_by_role("heading", name="Replay webhook events?").wait_for()
    assert "same webhook-id" in page.locator("main").inner_text()
    page.get_by_label("Replay since").fill("2020-01-01T00:00")
    page.get_by_role("button", name="Replay the events").click()
    page.get_by_text("0 events since 2020-01-01 00:00:00 UTC queued again").wait_for()

    # At phone width these pages fit the screen: nothing scrolls sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    endpoint = page.url.split("?")[0]
    for url in (endpoint.rsplit("/", 1)[0], endpoint, f"{endpoint}/replay"):
        page.goto(url)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (url, overflow)
