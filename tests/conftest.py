"""Shared fixtures: a migrated real database (SQLite by default, PostgreSQL when
ROSTER_TEST_DATABASE_URL points at one), the app in-process, and per-test tenants.

Tests isolate by tenant: every test makes its own tenant and connection, and every query
Roster makes is scoped by them — which is itself what the isolation tests prove.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from starlette.testclient import TestClient

from roster.directory.admin import tenancy
from roster.http.app import create_app
from roster.settings import Settings
from roster.storage.engine import BACKGROUND, LIMITER, make_engine, normalise_url
from roster.storage.migrate import upgrade

# No app of the suite runs a webhook delivery loop (its statements would count in the
# statement-budget tests, its refused http attempts would race the webhook tests): the
# webhook tests deliver themselves, or start what delivers with this set to true.
os.environ.setdefault("ROSTER_WEBHOOK_DELIVERY", "false")

SCIM = "application/scim+json"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
UNTHROTTLED = 1_000_000  # a rate and burst no test reaches


def _reset_postgres(url: str) -> None:
    # The whole schema, not metadata.drop_all: a database last migrated by another
    # branch may hold tables this checkout does not know.
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("ROSTER_TEST_DATABASE_URL")
    if url:
        url = normalise_url(url)
        _reset_postgres(url)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'roster.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def settings(db_url: str) -> Settings:
    # Read requests' entries written at once, so a test can read a request's entry right
    # after it (the batched writer has tests of its own: tests/api/test_read_log.py).
    # The rate limiter runs (it leases) but never refuses: tests of other things send
    # faster than any client may (its own tests: tests/api/test_rate_limit.py). No hourly
    # log pruning behind the tests' backs (its own tests: tests/api/test_log_retention.py).
    return Settings(
        database_url=db_url,
        public_url="http://testserver",
        read_log_flush_seconds=0,
        rate_limit=UNTHROTTLED,
        rate_burst=UNTHROTTLED,
        log_retention_days=0,
    )


@pytest.fixture(scope="session")
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine)) as c:
        yield c


def default_email(user_name: str) -> str:
    return user_name if "@" in user_name else f"{user_name}@example.test"


@dataclass
class Scim:
    """A SCIM client bound to one connection's base URL and token."""

    http: TestClient
    base: str  # path part of the base URL
    token: str
    tenant: str
    connection_id: str  # the public uid, as in the base URL
    tenant_id: int
    connection_pk: int  # the internal key that scopes rows

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": SCIM, **(extra or {})}

    def get(self, path: str, **kw: Any) -> Any:
        return self.http.get(self.base + path, headers=self.headers(kw.pop("headers", None)), **kw)

    def post(self, path: str, body: Any, **kw: Any) -> Any:
        return self.http.post(
            self.base + path, json=body, headers=self.headers(kw.pop("headers", None)), **kw
        )

    def put(self, path: str, body: Any, **kw: Any) -> Any:
        return self.http.put(
            self.base + path, json=body, headers=self.headers(kw.pop("headers", None)), **kw
        )

    def patch(self, path: str, operations: list[dict[str, Any]], **kw: Any) -> Any:
        body = {"schemas": [PATCH_OP], "Operations": operations}
        return self.http.patch(
            self.base + path, json=body, headers=self.headers(kw.pop("headers", None)), **kw
        )

    def delete(self, path: str, **kw: Any) -> Any:
        return self.http.delete(
            self.base + path, headers=self.headers(kw.pop("headers", None)), **kw
        )

    def create_user(self, user_name: str, **attrs: Any) -> dict[str, Any]:
        body = {"schemas": [USER_SCHEMA], "userName": user_name, **attrs}
        # The directory syncs only users with a primary email: give one unless the test
        # chose the emails itself.
        if not any(k.lower() == "emails" for k in body):
            body["emails"] = [{"value": default_email(user_name), "primary": True}]
        response = self.post("/Users", body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def create_group(self, name: str, members: list[str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"schemas": [GROUP_SCHEMA], "displayName": name}
        if members is not None:
            body["members"] = [{"value": m} for m in members]
        response = self.post("/Groups", body)
        assert response.status_code == 201, response.text
        return dict(response.json())


def new_connection(
    engine: Engine, http: TestClient, idp: str = "generic", tenant: str | None = None
) -> Scim:
    name = tenant or f"t-{uuid.uuid4().hex[:10]}"
    with engine.begin() as conn:
        if tenant is None:
            tenancy.create_tenant(conn, name)
        issued = tenancy.create_connection(conn, name, idp, f"{idp}-{uuid.uuid4().hex[:6]}")
    row = issued.connection
    return Scim(
        http,
        f"/scim/v2/{row.tenant_slug}/{row.uid}",
        issued.token,
        name,
        row.uid,
        row.tenant_id,
        row.id,
    )


@pytest.fixture
def scim(engine: Engine, client: TestClient) -> Scim:
    return new_connection(engine, client)


def wait_for_lock_waiter(engine: Engine) -> None:
    """PostgreSQL: wait (bounded) until some transaction is blocked on a lock, so a race a
    test sets up really happens. Polls the server's own view; it does not time a result."""
    deadline = time.monotonic() + 10
    with engine.connect() as probe:
        while time.monotonic() < deadline:
            waiting = probe.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            ).scalar_one()
            probe.rollback()
            if waiting:
                return
    raise AssertionError("no transaction ever waited on a lock")


class StatementCounter:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements: list[tuple[str, Any]] = []

    def _on(self, conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        # The batched read log writes on its own schedule, for no request in particular; the
        # rate limiter's leases are amortised over many requests (counted on their own).
        found = conn.get_execution_options()
        if not found.get(BACKGROUND) and not found.get(LIMITER):
            self.statements.append((statement, parameters))

    def __enter__(self) -> StatementCounter:
        event.listen(self.engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._on)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_statements(engine: Engine) -> Callable[[], StatementCounter]:
    return lambda: StatementCounter(engine)


REPO = Path(__file__).resolve().parents[1]
