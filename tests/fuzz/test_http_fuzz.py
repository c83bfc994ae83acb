"""An HTTP fuzz over every SCIM route (issue 15), in-process through the ASGI app on the
suite's database: hypothesis-generated bodies, filters, PATCH operations, search and Bulk
requests, query parameters and headers, for Users and Groups under Okta, Entra and generic
connections — zero 5xx, and every error in the SCIM error shape.

Bounded (a fixed number of examples per route, derandomized, no deadline), so it takes
the same inputs and about the same time on every run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from starlette.testclient import TestClient

from roster.scim.schema import BULK_REQUEST, ERROR, GROUP, SEARCH_REQUEST, USER
from tests.conftest import Scim, new_connection
from tests.fuzz.strategies import (
    attr_path,
    filter_text,
    json_value,
    odd_text,
    patch_body,
    resource_body,
)

HTTP = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def targets(engine: Engine, client: TestClient) -> Iterator[list[tuple[Scim, str, str]]]:
    """Per IdP kind: a connection, a user and a group of it (which the fuzz may change)."""
    out = []
    for idp in ("okta", "entra", "generic"):
        scim = new_connection(engine, client, idp)
        user = scim.create_user(f"fuzz-{idp}@example.test")["id"]
        group = scim.create_group(f"fuzz-{idp}", [user])["id"]
        out.append((scim, user, group))
    yield out


def _check(response: Any) -> None:
    # 501 is a deliberate answer (RFC 7644 §3.11: /Me not supported), never a crash.
    assert response.status_code < 500 or response.status_code == 501, response.text
    if response.status_code >= 400 and response.content:
        body = response.json()
        assert body["schemas"] == [ERROR] and body["status"] == str(response.status_code)


def _send(scim: Scim, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return scim.http.request(
        method,
        scim.base + path,
        content=None if body is None else content,
        headers=scim.headers(kw.pop("headers", None)),
        **kw,
    )


which = st.integers(0, 2)
rt_of = st.sampled_from([USER, GROUP])


@HTTP
@given(pick=which, rt=rt_of, data=st.data())
def test_create_and_replace(targets: list[Any], pick: int, rt: Any, data: st.DataObject) -> None:
    scim, user, group = targets[pick]
    body = data.draw(resource_body(rt))
    _check(_send(scim, "POST", f"/{rt.endpoint.strip('/')}", body))
    existing = user if rt is USER else group
    _check(_send(scim, "PUT", f"/{rt.endpoint.strip('/')}/{existing}", body))


@HTTP
@given(pick=which, rt=rt_of, data=st.data())
def test_patch(targets: list[Any], pick: int, rt: Any, data: st.DataObject) -> None:
    scim, user, group = targets[pick]
    body = data.draw(patch_body(rt))
    existing = user if rt is USER else group
    _check(_send(scim, "PATCH", f"/{rt.endpoint.strip('/')}/{existing}", body))


@HTTP
@given(pick=which, rt=rt_of, data=st.data())
def test_list_and_search(targets: list[Any], pick: int, rt: Any, data: st.DataObject) -> None:
    scim, _, _ = targets[pick]
    names = [
        "filter",
        "startIndex",
        "count",
        "sortBy",
        "sortOrder",
        "attributes",
        "excludedAttributes",
        "x",
    ]
    values = st.one_of(filter_text(rt), attr_path(rt), st.integers().map(str), odd_text)
    query = data.draw(st.dictionaries(st.sampled_from(names), values, max_size=4))
    endpoint = f"/{rt.endpoint.strip('/')}"
    _check(_send(scim, "GET", endpoint, params=query))
    search = {"schemas": [SEARCH_REQUEST], **query}
    if data.draw(st.booleans()):
        search = data.draw(st.one_of(st.just(search), json_value))
    _check(_send(scim, "POST", f"{endpoint}/.search", search))
    _check(_send(scim, "POST", "/.search", search))


@HTTP
@given(pick=which, data=st.data())
def test_bulk(targets: list[Any], pick: int, data: st.DataObject) -> None:
    scim, user, _ = targets[pick]
    operation = st.fixed_dictionaries(
        {
            "method": st.sampled_from(["POST", "PUT", "PATCH", "DELETE", "GET", "post"]),
            "path": st.sampled_from(["/Users", "/Groups", f"/Users/{user}", "/Users/bulkId:a", ""]),
        },
        optional={
            "bulkId": st.sampled_from(["a", "b", ""]),
            "data": st.one_of(resource_body(USER), patch_body(USER), resource_body(GROUP)),
            "version": odd_text,
        },
    )
    body = data.draw(
        st.one_of(
            st.fixed_dictionaries(
                {
                    "schemas": st.just([BULK_REQUEST]),
                    "Operations": st.lists(operation, max_size=4),
                },
                optional={"failOnErrors": st.one_of(st.integers(-1, 3), json_value)},
            ),
            json_value,
        )
    )
    _check(_send(scim, "POST", "/Bulk", body))


@HTTP
@given(
    pick=which,
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]),
    path=st.one_of(
        st.sampled_from(
            [
                "/Users",
                "/Groups",
                "/ServiceProviderConfig",
                "/ResourceTypes",
                "/Schemas",
                "/ResourceTypes/User",
                "/Schemas/x",
                "/Me",
                "/Bulk",
                "/Users/x/y",
                "/.search",
            ]
        ),
        st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=20).map(
            lambda p: "/" + quote(p.lstrip("/"), safe="/.?=&%")
        ),
    ),
    raw=st.one_of(
        st.none(), st.binary(max_size=64), json_value.map(lambda v: json.dumps(v).encode())
    ),
    headers=st.dictionaries(
        st.sampled_from(["If-Match", "If-None-Match", "Content-Type", "Accept"]),
        st.sampled_from(['W/"1"', "*", '"x"', "application/json", "text/plain", "", "a;b"]),
        max_size=2,
    ),
)
def test_any_method_path_body_and_headers(
    targets: list[Any],
    pick: int,
    method: str,
    path: str,
    raw: bytes | None,
    headers: dict[str, str],
) -> None:
    scim, _, _ = targets[pick]
    _check(scim.http.request(method, scim.base + path, content=raw, headers=scim.headers(headers)))
