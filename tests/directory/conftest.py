"""Directory scenario fixtures: the read API as the host app uses it, users with the
attributes the seed integrations send, and the system log's directory notes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from roster.directory.admin import apikeys, connection_settings, tenancy
from roster.directory.journal import system_log
from tests.conftest import USER_SCHEMA, Scim
from tests.openapi_check import check_response

ENVOY = "urn:scim:schemas:extension:envoy:core:1.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@dataclass
class Api:
    """The host app's view: the read API with the tenant's API key. Every answer is
    checked against the OpenAPI document."""

    http: TestClient
    key: str

    def _get(self, path: str, template: str, params: dict[str, Any] | None = None) -> Any:
        response = self.http.get(
            "/api/v1" + path, params=params, headers={"Authorization": f"Bearer {self.key}"}
        )
        check_response(template, response.status_code, response.json())
        return response

    def employees(self, **params: Any) -> list[dict[str, Any]]:
        """Every page, following the cursor."""
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {**params, **({"cursor": cursor} if cursor else {})}
            response = self._get("/employees", "/employees", query)
            assert response.status_code == 200, response.text
            out += response.json()["items"]
            cursor = response.json()["nextCursor"]
            if cursor is None:
                return out

    def employee(self, employee_id: str) -> dict[str, Any] | None:
        response = self._get(f"/employees/{employee_id}", "/employees/{employee_id}")
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        return dict(response.json())

    def by_email(self, email: str) -> dict[str, Any] | None:
        found = [e for e in self.employees() if e["email"].lower() == email.lower()]
        assert len(found) <= 1, found
        # Also read it alone: the single-employee endpoint renders the same.
        return self.employee(found[0]["id"]) if found else None

    def groups(self) -> list[dict[str, Any]]:
        response = self._get("/groups", "/groups")
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    def locations(self) -> list[dict[str, Any]]:
        response = self._get("/locations", "/locations")
        assert response.status_code == 200, response.text
        return list(response.json()["items"])


def api_for(engine: Engine, client: TestClient, tenant: str) -> Api:
    with engine.begin() as conn:
        t = tenancy.get_tenant(conn, tenant)
        issued = apikeys.create(conn, t.id, f"tests-{len(apikeys.list_keys(conn, t.id))}")
    return Api(client, issued.key)


@pytest.fixture
def api(engine: Engine, client: TestClient, scim: Scim) -> Api:
    return api_for(engine, client, scim.tenant)


def user_body(user_name: str, email: str | None = None, **attrs: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [USER_SCHEMA], "userName": user_name, **attrs}
    if email is not None:
        body["emails"] = [{"value": email, "type": "work", "primary": True}]
    return body


def create(scim: Scim, user_name: str, email: str | None = None, **attrs: Any) -> dict[str, Any]:
    response = scim.post("/Users", user_body(user_name, email or f"{user_name}@corp.test", **attrs))
    assert response.status_code == 201, response.text
    return dict(response.json())


def configure(engine: Engine, scim: Scim, **settings: str) -> None:
    with engine.begin() as conn:
        row = tenancy.get_connection(conn, scim.connection_id)
        connection_settings.configure(conn, row, [f"{k}={v}" for k, v in settings.items()], [])


def notes(engine: Engine, scim: Scim, action: str | None = None) -> list[system_log.LogEntry]:
    """The tenant's directory notes (actor "directory"), oldest first."""
    with engine.connect() as conn:
        entries = system_log.recent(conn, scim.tenant_id, limit=500)
    found = [e for e in reversed(entries) if e.actor == "directory"]
    return [e for e in found if action is None or re.fullmatch(action, e.path)]


def request_log(engine: Engine, scim: Scim) -> list[system_log.LogEntry]:
    with engine.connect() as conn:
        entries = system_log.recent(conn, scim.tenant_id, limit=500)
    return [e for e in reversed(entries) if e.actor == "scim"]
