"""Accounts, set-password links, sign-in with rate limits, sessions with idle and absolute
timeouts (driven by the console's clock), sign-out, and CSRF refusals."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from roster import console
from roster.directory.admin import admins
from roster.directory.admin.admins import hash_secret
from roster.directory.journal import system_log
from roster.settings import Settings
from roster.storage.tables import admin_accounts, admin_sessions, connections
from tests.console.conftest import (
    PASSWORD,
    Admin,
    Clock,
    browser,
    connect,
    csrf_of,
    make_account,
    new_tenant,
    sign_in,
)


def _set_password(http: TestClient, token: str, password: str, confirm: str | None = None) -> Any:
    page = http.get(f"/admin/password/{token}")
    assert page.status_code == 200, page.text
    return http.post(
        f"/admin/password/{token}",
        data={"csrf": csrf_of(page.text), "password": password, "confirm": confirm or password},
    )


def test_a_set_password_link_works_once_and_only_until_it_expires(
    app: Starlette, engine: Engine, clock: Clock
) -> None:
    name, _, _ = new_tenant(engine)
    with engine.begin() as conn:
        issued = admins.create_account(conn, name, "Ann@Example.test", clock())
        stored = conn.execute(select(admin_accounts.c.password_hash)).scalars().all()
    assert issued.token not in str(stored)
    http = browser(app)
    refused = _set_password(http, issued.token, "short")
    assert refused.status_code == 400 and "at least 12 characters" in refused.text
    differ = _set_password(http, issued.token, PASSWORD, PASSWORD + "x")
    assert differ.status_code == 400 and "differ" in differ.text
    assert sign_in(http, "ann@example.test").status_code == 401  # no password yet
    done = _set_password(http, issued.token, PASSWORD)
    assert done.status_code == 200 and "Password set" in done.text
    assert http.get(f"/admin/password/{issued.token}").status_code == 404  # used up
    # Sign-in names are case-insensitive; the hash is argon2id, never the password.
    assert sign_in(http, "ANN@example.test").status_code == 303
    with engine.connect() as conn:
        account = admins.get_account(conn, "ann@example.test")
    assert account.password_hash and account.password_hash.startswith("$argon2id$")

    with engine.begin() as conn:
        again = admins.reset_account(conn, "ann@example.test", clock())
    clock.advance(days=3, seconds=1)
    assert http.get(f"/admin/password/{again.token}").status_code == 404  # expired


def test_sign_in_sets_a_hardened_session_cookie_and_logs_the_admin(
    admin: Admin, engine: Engine, settings: Settings, clock: Clock
) -> None:
    cookie = next(c for c in admin.http.cookies.jar if c.name == "roster_admin_session")
    assert cookie.path == "/admin" and not cookie.secure  # public URL is http here
    assert cookie.has_nonstandard_attr("HttpOnly")
    # The session table holds the cookie's hash only.
    with engine.connect() as conn:
        ids = conn.execute(select(admin_sessions.c.id_hash)).scalars().all()
    assert hash_secret(str(cookie.value)) in ids and str(cookie.value) not in ids
    with engine.connect() as conn:
        entries = system_log.recent(conn, admin.tenant_id, limit=5)
    assert any(e.actor == f"admin:{admin.email}" and e.path == "admin.sign_in" for e in entries)

    # Over https the cookie is Secure too, and always SameSite=Lax.
    https = settings.model_copy(update={"public_url": "https://roster.example.test"})
    app = Starlette(routes=[Mount("/admin", app=console.build(https, engine, clock=clock))])
    http = browser(app, base_url="https://testserver")
    response = sign_in(http, admin.email)
    assert response.status_code == 303
    header = response.headers["set-cookie"]
    assert "Secure" in header and "HttpOnly" in header and "SameSite=lax" in header


def test_wrong_passwords_are_refused_and_rate_limited_per_account(
    app: Starlette, engine: Engine, clock: Clock
) -> None:
    name, _, _ = new_tenant(engine)
    email = make_account(engine, clock, name)
    http = browser(app)
    for _ in range(admins.MAX_FAILURES_PER_ACCOUNT):
        assert sign_in(http, email, "wrong password!").status_code == 401
    # Now even the right password is refused, without being checked.
    limited = sign_in(http, email)
    assert limited.status_code == 429 and "too many failed sign-ins" in limited.text
    clock.advance(minutes=16)  # the window passes
    assert sign_in(http, email).status_code == 303


def test_sign_in_attempts_are_rate_limited_per_address(
    app: Starlette, engine: Engine, clock: Clock
) -> None:
    name, _, _ = new_tenant(engine)
    victim = make_account(engine, clock, name)
    http = browser(app)  # every attempt comes from the same client address
    for n in range(admins.MAX_FAILURES_PER_ADDRESS):
        assert sign_in(http, f"nobody-{n}@example.test", "guess guess guess").status_code == 401
    assert sign_in(http, victim).status_code == 429
    clock.advance(minutes=16)
    assert sign_in(http, victim).status_code == 303


def test_a_session_ends_after_30_idle_minutes(admin: Admin, clock: Clock) -> None:
    home = f"/admin/t/{admin.slug}/"
    clock.advance(minutes=29)
    assert admin.get(home).status_code == 200  # activity keeps it alive
    clock.advance(minutes=29)
    assert admin.get(home).status_code == 200
    clock.advance(minutes=31)
    expired = admin.get(home)
    assert expired.status_code == 303
    assert expired.headers["location"].startswith("/admin/login")
    clock.advance(minutes=-40)  # gone for good, not just hidden by the clock
    assert admin.get(home).status_code == 303


def test_a_session_ends_after_12_hours_however_active(admin: Admin, clock: Clock) -> None:
    home = f"/admin/t/{admin.slug}/"
    for _ in range(12 * 2):
        clock.advance(minutes=29)
        assert admin.get(home).status_code == 200
    clock.advance(minutes=29)  # 12 h 5 min after sign-in
    assert admin.get(home).status_code == 303


def test_sign_out_ends_the_session_and_needs_the_csrf_token(admin: Admin) -> None:
    home = f"/admin/t/{admin.slug}/"
    stolen = admin.http.cookies.get("roster_admin_session")
    forged = admin.http.post("/admin/logout", data={"csrf": "0" * 64}, follow_redirects=False)
    assert forged.status_code == 403
    assert admin.get(home).status_code == 200
    out = admin.post("/admin/logout")
    assert out.status_code == 303
    assert admin.get(home).status_code == 303
    # The old cookie value is dead on the server, not just deleted from the browser.
    admin.http.cookies.set("roster_admin_session", str(stolen), path="/admin")
    assert admin.get(home).status_code == 303


def test_state_changing_forms_without_the_right_csrf_token_change_nothing(
    admin: Admin, admin_factory: Any, engine: Engine
) -> None:
    scim = connect(engine, admin.http, admin)
    action = f"/admin/t/{admin.slug}/connections/{scim.connection_id}/regenerate"

    def token_hash() -> str:
        with engine.connect() as conn:
            return str(
                conn.execute(
                    select(connections.c.token_hash).where(connections.c.uid == scim.connection_id)
                ).scalar_one()
            )

    before = token_hash()
    other = admin_factory((admin.tenant, admin.slug, admin.tenant_id))  # same tenant
    for bad in (None, "", "0" * 64, other.csrf(f"/admin/t/{admin.slug}/")):
        data = {} if bad is None else {"csrf": bad}
        response = admin.http.post(action, data=data, follow_redirects=False)
        assert response.status_code == 403, response.text
        assert "CSRF" in response.text
    deactivate = f"/admin/t/{admin.slug}/connections/{scim.connection_id}/deactivate"
    assert admin.http.post(deactivate, data={"csrf": "x"}).status_code == 403
    rules = f"/admin/t/{admin.slug}/rules"
    assert admin.http.post(rules, data={"name": "All"}, follow_redirects=False).status_code == 403
    apply = f"/admin/t/{admin.slug}/rules/apply"
    assert admin.http.post(apply, data={}).status_code == 403
    assert token_hash() == before
    assert scim.get("/Users").status_code == 200  # the old token still works
    assert "rule 'All'" not in admin.http.get(rules).text
    # With its own token, the same form works.
    assert admin.post(action).status_code == 200
    assert token_hash() != before


def test_sign_in_itself_needs_the_pre_session_csrf_token(
    app: Starlette, engine: Engine, clock: Clock
) -> None:
    name, _, _ = new_tenant(engine)
    email = make_account(engine, clock, name)
    http = browser(app)
    refused = http.post(
        "/admin/login", data={"email": email, "password": PASSWORD}, follow_redirects=False
    )
    assert refused.status_code == 403


def test_pages_need_a_session_and_next_never_leaves_the_console(
    app: Starlette, engine: Engine, clock: Clock
) -> None:
    http = browser(app)
    response = http.get("/admin/t/whatever/rules", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login?next=/admin/t/whatever/rules"
    name, slug, _ = new_tenant(engine)
    email = make_account(engine, clock, name)
    for target in ("https://evil.example/", "//evil.example/admin/", "/scim/v2/x"):
        page = http.get("/admin/login")
        out = http.post(
            "/admin/login",
            data={"csrf": csrf_of(page.text), "email": email, "password": PASSWORD, "next": target},
            follow_redirects=False,
        )
        assert out.headers["location"] == "/admin/"
    assert http.get("/admin/", follow_redirects=False).headers["location"] == f"/admin/t/{slug}/"


def test_console_responses_carry_security_headers(admin: Admin) -> None:
    response = admin.get(f"/admin/t/{admin.slug}/")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert admin.get("/admin/static/htmx.min.js").status_code == 200


def test_unknown_console_paths_answer_in_html(admin: Admin) -> None:
    missing = admin.get("/admin/no/such/page")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert admin.http.get("/admin").url.path == f"/admin/t/{admin.slug}/"
    # htmx asks for fragments; a history restore (back button) needs the whole page.
    url = f"/admin/t/{admin.slug}/employees"
    assert "<html" not in admin.get(url, headers={"HX-Request": "true"}).text
    restore = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    assert "<html" in admin.get(url, headers=restore).text
