"""Console fixtures: the console mounted beside the SCIM app with a clock the tests drive,
admins of fresh tenants, and a signed-in browser-like client per admin."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from roster import console
from roster.console.jobs import Jobs
from roster.console.web import Console
from roster.directory.admin import admins, tenancy
from roster.http.app import create_app
from roster.settings import Settings
from tests.conftest import Scim

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
_JOB = re.compile(r"/admin/t/[^/]+/jobs/[0-9a-f-]{36}")


class Clock:
    """The console's clock, moved by tests (never a sleep)."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC).replace(tzinfo=None)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(settings: Settings, engine: Engine, clock: Clock) -> Starlette:
    # The console first, with the test clock; everything else from the real app.
    return Starlette(
        routes=[
            Mount("/admin", app=console.build(settings, engine, clock=clock)),
            Mount("/", app=create_app(settings, engine)),
        ]
    )


def browser(app: Starlette, **kw: Any) -> TestClient:
    """A client with an address of its own: sign-in limits count per address, and the
    tests share one database."""
    n = uuid.uuid4().int
    return TestClient(
        app, client=(f"10.{n % 250}.{n // 250 % 250}.{n // 62500 % 250}", 50000), **kw
    )


def jobs_of(http: TestClient) -> Jobs:
    """The background jobs of the console the client talks to (its /admin mount)."""
    for route in http.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Mount) and route.path == "/admin":
            made: Console = cast(Starlette, route.app).state.console
            return made.jobs
    raise AssertionError("no console mounted at /admin")


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


@dataclass
class Admin:
    http: TestClient
    email: str
    tenant: str  # name
    slug: str
    tenant_id: int

    def get(self, path: str, **kw: Any) -> Any:
        return self.http.get(path, follow_redirects=False, **kw)

    def job(self, started: Any, timeout: float = 30) -> str:
        """The page of the job a console action ``started`` (its 303 to the job), once
        the job has finished."""
        assert started.status_code == 303, started.text
        url = started.headers["location"]
        assert _JOB.fullmatch(url), url
        assert jobs_of(self.http).wait(url.rsplit("/", 1)[1], timeout), "the job did not finish"
        page = self.get(url)
        assert page.status_code == 200, page.text
        return str(page.text)

    def csrf(self, page: str = "/admin/") -> str:
        response = self.http.get(page)
        assert response.status_code == 200, response.text
        return csrf_of(response.text)

    def post(
        self,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        csrf: str | None = None,
        page: str | None = None,
    ) -> Any:
        token = csrf if csrf is not None else self.csrf(page or f"/admin/t/{self.slug}/")
        return self.http.post(path, data={"csrf": token, **(data or {})}, follow_redirects=False)


def new_tenant(engine: Engine) -> tuple[str, str, int]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    with engine.begin() as conn:
        row = tenancy.create_tenant(conn, name)
    return row.name, row.slug, row.id


def make_account(engine: Engine, clock: Clock, tenant: str | None, email: str | None = None) -> str:
    email = email or f"admin-{uuid.uuid4().hex[:8]}@example.test"
    with engine.begin() as conn:
        issued = admins.create_account(conn, tenant, email, clock())
        admins.set_password(conn, issued.token, PASSWORD, clock())
    return email


def sign_in(http: TestClient, email: str, password: str = PASSWORD) -> Any:
    page = http.get("/admin/login")
    return http.post(
        "/admin/login",
        data={"csrf": csrf_of(page.text), "email": email, "password": password, "next": "/admin/"},
        follow_redirects=False,
    )


@pytest.fixture
def admin_factory(
    app: Starlette, engine: Engine, clock: Clock
) -> Callable[[tuple[str, str, int] | None], Admin]:
    def make(tenant: tuple[str, str, int] | None = None) -> Admin:
        name, slug, tenant_id = tenant or new_tenant(engine)
        email = make_account(engine, clock, name)
        http = browser(app)
        response = sign_in(http, email)
        assert response.status_code == 303, response.text
        return Admin(http, email, name, slug, tenant_id)

    return make


@pytest.fixture
def admin(admin_factory: Callable[[tuple[str, str, int] | None], Admin]) -> Admin:
    return admin_factory(None)


def connect(engine: Engine, http: TestClient, admin: Admin, idp: str = "okta") -> Scim:
    """A SCIM connection of the admin's tenant, created by the CLI's action."""
    with engine.begin() as conn:
        issued = tenancy.create_connection(conn, admin.tenant, idp, f"{idp}-{uuid.uuid4().hex[:6]}")
    row = issued.connection
    return Scim(
        http,
        f"/scim/v2/{row.tenant_slug}/{row.uid}",
        issued.token,
        admin.tenant,
        row.uid,
        row.tenant_id,
        row.id,
    )
