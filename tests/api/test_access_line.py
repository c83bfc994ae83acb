"""The access line's request id (http/access.py): a SCIM response keeps the endpoint's own
X-Request-Id (the one `roster log` shows), any other response gets one, and the line
carries the id its response does; a repeated request header is read first-wins."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from tests.conftest import new_connection


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.__dict__ for r in caplog.records if r.name == "roster.access"]


def test_each_response_and_its_line_share_one_request_id(
    engine: Engine, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    scim = new_connection(engine, client, "generic")
    with caplog.at_level(logging.DEBUG, logger="roster.access"):
        listed = scim.get("/Users")
        unmatched = client.get("/no/such/path")
        health = client.get("/healthz")
        api = client.get("/api/v1/employees")  # no API key: 401, not a SCIM answer
    responses = [listed, unmatched, health, api]
    ids = [r.headers["X-Request-Id"] for r in responses]
    assert all(ids) and len(set(ids)) == len(ids)
    # Exactly one X-Request-Id each: the SCIM endpoint's is not replaced nor doubled.
    assert all(len(r.headers.get_list("x-request-id")) == 1 for r in responses)
    lines = _lines(caplog)
    assert [line["request_id"] for line in lines] == ids
    assert [line["status"] for line in lines] == [200, 404, 200, 401]


def test_a_repeated_header_is_read_first_wins(engine: Engine, client: TestClient) -> None:
    scim = new_connection(engine, client, "generic")
    good = f"Bearer {scim.token}"
    first_good = client.get(
        f"{scim.base}/Users", headers=[("Authorization", good), ("Authorization", "Bearer nope")]
    )
    first_bad = client.get(
        f"{scim.base}/Users", headers=[("Authorization", "Bearer nope"), ("Authorization", good)]
    )
    assert (first_good.status_code, first_bad.status_code) == (200, 401)
