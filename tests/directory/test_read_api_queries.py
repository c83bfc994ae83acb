"""Read API gaps found in issue 11: the ``email`` filter, unknown query parameters, and the
SCIM userName in an employee's ``source``. Every answer is checked against the OpenAPI
document (tests/openapi_check.py)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from roster.directory.people import employees
from roster.directory.people.employees import ManualEmployee
from tests.conftest import Scim, new_connection
from tests.directory.conftest import Api, api_for, create
from tests.openapi_check import check_http


def get(api: Api, path: str, template: str, params: Any = None) -> Any:
    response = api.http.get(
        "/api/v1" + path, params=params, headers={"Authorization": f"Bearer {api.key}"}
    )
    check_http(template, response.status_code, response.headers["content-type"], response.json())
    return response


def test_email_filter_is_exact_and_case_insensitive(engine: Engine, scim: Scim, api: Api) -> None:
    create(scim, "bob", "Bob@Acme.test")
    create(scim, "bobby", "bobby@acme.test")
    create(scim, "ann", "ann@acme.test")
    with engine.begin() as conn:
        employees.add_manual(conn, scim.tenant_id, ManualEmployee("temp@acme.test", {}))
    for asked in ("bob@acme.test", "BOB@ACME.TEST", " bob@acme.test "):
        page = get(api, "/employees", "/employees", {"email": asked}).json()
        assert [e["email"] for e in page["items"]] == ["Bob@Acme.test"], asked
        assert page["nextCursor"] is None
    # Exact: no prefix, substring or pattern match.
    for asked in ("bob", "bob@acme", "%@acme.test", "ob@acme.test", "nobody@acme.test"):
        assert get(api, "/employees", "/employees", {"email": asked}).json()["items"] == []
    # Manual employees too, and with the other filters.
    page = get(api, "/employees", "/employees", {"email": "TEMP@acme.test"}).json()
    assert [e["email"] for e in page["items"]] == ["temp@acme.test"]
    both = {"email": "temp@acme.test", "source": "synced"}
    assert get(api, "/employees", "/employees", both).json()["items"] == []


def test_another_tenants_employee_is_not_found_by_email(
    engine: Engine, client: TestClient, scim: Scim, api: Api
) -> None:
    other = new_connection(engine, client)
    create(other, "eve", "eve@other.test")
    assert get(api, "/employees", "/employees", {"email": "eve@other.test"}).json()["items"] == []
    assert len(api_for(engine, client, other.tenant).employees(email="eve@other.test")) == 1


@pytest.mark.parametrize(
    ("path", "template", "params", "named"),
    [
        ("/employees", "/employees", {"mail": "bob@acme.test"}, "'mail'"),
        ("/employees", "/employees", {"Email": "bob@acme.test"}, "'Email'"),
        ("/employees", "/employees", {"status": "active", "zzz": "1", "aaa": ""}, "'aaa', 'zzz'"),
        ("/employees/{id}", "/employees/{employee_id}", {"expand": "all"}, "'expand'"),
        ("/groups", "/groups", {"status": "active"}, "'status'"),
        ("/locations", "/locations", {"limit": "10"}, "'limit'"),
    ],
)
def test_unknown_query_parameters_are_a_400_naming_them(
    scim: Scim, api: Api, path: str, template: str, params: dict[str, str], named: str
) -> None:
    real = path.replace("{id}", api.employees()[0]["id"])  # the fixture made one
    response = get(api, real, template, params)
    assert response.status_code == 400
    detail = response.json()["error"]["detail"]
    assert named in detail and "unknown query parameter" in detail


@pytest.fixture
def api(engine: Engine, client: TestClient, scim: Scim) -> Api:
    create(scim, "someone", "someone@acme.test")
    return api_for(engine, client, scim.tenant)


def test_a_parameter_given_twice_is_a_400(api: Api) -> None:
    response = get(api, "/employees", "/employees", [("status", "active"), ("status", "inactive")])
    assert response.status_code == 400
    assert "more than once: status" in response.json()["error"]["detail"]


def test_source_user_name_is_the_scim_user_name(scim: Scim, api: Api) -> None:
    # Neither the displayName nor the lower-cased unique key: the userName as sent.
    user = create(scim, "Bob.Jensen@Acme.test", "bjensen@acme.test", displayName="Bob J")
    found = get(api, "/employees", "/employees", {"email": "bjensen@acme.test"}).json()["items"]
    assert len(found) == 1
    one = get(api, f"/employees/{found[0]['id']}", "/employees/{employee_id}").json()
    assert one["source"]["userName"] == "Bob.Jensen@Acme.test"
    assert one["source"]["scimUserId"] == user["id"]
    assert found[0]["source"]["userName"] == "Bob.Jensen@Acme.test"
    # A rename in the IdP shows.
    renamed = scim.patch(
        f"/Users/{user['id']}", [{"op": "replace", "path": "userName", "value": "BJ@Acme.test"}]
    )
    assert renamed.status_code == 200
    one = get(api, f"/employees/{found[0]['id']}", "/employees/{employee_id}").json()
    assert one["source"]["userName"] == "BJ@Acme.test"


def test_the_openapi_document_lists_the_email_filter(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    names = [p["name"] for p in doc["paths"]["/employees"]["get"]["parameters"]]
    assert "email" in names
