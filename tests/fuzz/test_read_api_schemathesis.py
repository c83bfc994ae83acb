"""Schemathesis against the read API's own OpenAPI document (``/api/v1/openapi.json``,
http/openapi.py), in-process through the ASGI app on the suite's database: generated
paths, query parameters and API keys for every operation, checked against the document
(status codes, content types, response schemas) and for 5xx.

Bounded: a fixed number of examples per operation, derandomized, no deadline."""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import Engine
from starlette.testclient import TestClient

from roster.directory.admin import apikeys
from roster.http.app import create_app
from roster.settings import Settings
from tests.conftest import new_connection


@pytest.fixture(scope="module")
def api_key(engine: Engine, client: TestClient) -> str:
    scim = new_connection(engine, client, "okta")
    user = scim.create_user("st-reader@example.test")["id"]
    scim.create_group("st-group", [user])
    with engine.begin() as conn:
        return apikeys.create(conn, scim.tenant_id, "schemathesis").key


def test_the_read_api_answers_as_its_openapi_document_says(
    settings: Settings, engine: Engine, api_key: str
) -> None:
    # Loaded from the app itself, so the test checks the document the server serves; an
    # app of its own, since schemathesis runs the app's lifespan around each call.
    # (Schemathesis' own pytest integration does not run under pytest 9: each operation
    # is driven here with its case strategy instead.)
    app = create_app(settings, engine)
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {api_key}"}
    results = list(schema.get_all_operations())
    operations = [r.ok() for r in results if isinstance(r, Ok)]
    assert len(operations) == len(results), results  # the document itself is valid
    assert len(operations) == 5  # employees, one employee, groups, locations, events

    for operation in operations:

        @hypothesis.settings(
            max_examples=25,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            response = case.call(headers=headers)
            # Every check but "schema-valid data is accepted": a cursor is an opaque string
            # this API issued, so a made-up one is rightly a 400 (documented as such).
            case.validate_response(response, excluded_checks=[positive_data_acceptance])

        run()
