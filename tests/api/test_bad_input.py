"""Bad input never reaches a 500 and never leaves state behind (issue 11; limits in
scim/limits.py and directory/attributes/employee_fields.py, README "Limits").

Each input is one an adversarial run sent: before, SQLite answered some with 500 and
PostgreSQL more (NUL in text, varchar(200) overflows), and a 300-deep extension was stored
although its create answered 500, after which ``GET /Users`` of that connection failed for
everyone. The suite runs on both databases; every case asserts the same answer on each.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from roster.directory.journal import system_log
from roster.directory.places import locations
from roster.errors import InvalidValue
from roster.storage.tables import employees, log_entries, resources
from tests.conftest import GROUP_SCHEMA, PATCH_OP, USER_SCHEMA, Scim
from tests.directory.conftest import api_for

ENVOY = "urn:scim:schemas:extension:envoy:core:1.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


def user(name: str = "bad", /, **attrs: Any) -> dict[str, Any]:
    return {
        "schemas": [USER_SCHEMA],
        "userName": name,
        "emails": [{"value": "bad@example.test", "primary": True}],
        **attrs,
    }


def counts(engine: Engine, scim: Scim) -> tuple[int, int]:
    with engine.connect() as conn:
        stored = conn.execute(
            select(func.count())
            .select_from(resources)
            .where(resources.c.connection_id == scim.connection_pk)
        ).scalar_one()
        people = conn.execute(
            select(func.count())
            .select_from(employees)
            .where(employees.c.tenant_id == scim.tenant_id)
        ).scalar_one()
    return int(stored), int(people)


def last_entry(engine: Engine, scim: Scim) -> system_log.LogEntry:
    with engine.connect() as conn:
        entries = system_log.recent(conn, scim.tenant_id, limit=20)
    return next(e for e in entries if e.actor == "scim")


def assert_still_serves(scim: Scim) -> None:
    """The connection's list still answers, with every attribute rendered."""
    listing = scim.get("/Users")
    assert listing.status_code == 200, listing.text
    assert scim.get("/Groups").status_code == 200


REFUSED_CREATES: list[tuple[str, str, dict[str, Any], str, str]] = [
    # (case, endpoint, body, scimType, a word the detail must contain)
    ("extension nested 300 deep", "/Users", user(**{"urn:x:ext": nested(300)}), "invalidSyntax",
     "64 levels"),
    ("extension nested 65 deep", "/Users", user(**{"urn:x:ext": nested(64)}), "invalidSyntax",
     "urn:x:ext.a"),
    ("NUL in userName", "/Users", user("a\u0000b"), "invalidValue", "userName"),
    ("NUL in a value", "/Users", user(title="t\u0000"), "invalidValue", "title"),
    ("NUL in a key", "/Users", user(**{"urn:x:e": {"k\u0000": 1}}), "invalidValue", "NUL"),
    ("NUL in a group name", "/Groups",
     {"schemas": [GROUP_SCHEMA], "displayName": "g\u0000"}, "invalidValue", "displayName"),
    ("NUL in a member value", "/Groups",
     {"schemas": [GROUP_SCHEMA], "displayName": "g", "members": [{"value": "\u0000"}]},
     "invalidValue", "members[0].value"),
    ("very long attribute string", "/Users", user(title="T" * 100_000), "invalidValue",
     "title"),
    ("very long extension string", "/Users", user(**{"urn:x:e": {"s": "s" * 20_000}}),
     "invalidValue", "urn:x:e.s"),
    ("defaultLocationName over 200", "/Users", user(**{ENVOY: {"defaultLocationName": "L" * 201}}),
     "invalidValue", "defaultLocationName"),
    ("addresses[].locality over 200", "/Users",
     user(addresses=[{"locality": "C" * 201, "primary": True}]), "invalidValue", "locality"),
    ("primary email over 320", "/Users",
     {"schemas": [USER_SCHEMA], "userName": "e",
      "emails": [{"value": "a" * 320 + "@x.test", "primary": True}]},
     "invalidValue", "primary email"),
    ("manager over 512", "/Users", user(**{ENTERPRISE: {"manager": {"value": "m" * 513}}}),
     "invalidValue", "manager"),
    ("assistant over 512", "/Users", user(**{ENVOY: {"assistants": ["a" * 513 + "@x.test"]}}),
     "invalidValue", "assistants"),
    # 300 characters, but 600 once lower-cased (the stored key): İ -> i̇.
    ("userName over 512 lower-cased", "/Users", user("\u0130" * 300), "invalidValue",
     "userName"),
    ("group name over 512 lower-cased", "/Groups",
     {"schemas": [GROUP_SCHEMA], "displayName": "\u0130" * 300}, "invalidValue", "displayName"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("endpoint", "body", "scim_type", "word"),
    [case[1:] for case in REFUSED_CREATES],
    ids=[case[0] for case in REFUSED_CREATES],
)
def test_a_refused_create_is_a_400_and_stores_nothing(
    engine: Engine, scim: Scim, endpoint: str, body: dict[str, Any], scim_type: str, word: str
) -> None:
    scim.create_user("before")
    before = counts(engine, scim)
    response = scim.post(endpoint, body)
    assert response.status_code == 400, response.text
    assert response.json()["scimType"] == scim_type
    assert word in response.json()["detail"]
    assert counts(engine, scim) == before
    entry = last_entry(engine, scim)  # the refusal is in the log, on both databases
    assert (entry.method, entry.status, entry.scim_type) == ("POST", 400, scim_type)
    assert_still_serves(scim)


def test_limits_are_inclusive(scim: Scim) -> None:
    # Exactly at each limit is accepted: 64 levels of body, 200-character key fields.
    body = user(
        "edge",
        addresses=[{"locality": "C" * 200, "primary": True}],
        **{ENVOY: {"defaultLocationName": "L" * 200}, "urn:x:ext": nested(62)},
    )
    response = scim.post("/Users", body)
    assert response.status_code == 201, response.text
    assert_still_serves(scim)


def test_a_refused_bulk_operation_body_stores_nothing(engine: Engine, scim: Scim) -> None:
    before = counts(engine, scim)
    deep = {
        "schemas": [BULK],
        "Operations": [
            {"method": "POST", "bulkId": "1", "path": "/Users", "data": user("ok")},
            {"method": "POST", "bulkId": "2", "path": "/Users", "data": user(x=nested(300))},
        ],
    }
    response = scim.post("/Bulk", deep)
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidSyntax"
    nul_path = {"schemas": [BULK], "Operations": [{"method": "DELETE", "path": "/Users/\u0000"}]}
    response = scim.post("/Bulk", nul_path)
    assert response.status_code == 400
    assert "Operations[0].path" in response.json()["detail"]
    assert counts(engine, scim) == before
    assert_still_serves(scim)


def test_a_refused_patch_or_put_changes_nothing(engine: Engine, scim: Scim) -> None:
    created = scim.create_user("kept", title="Before")
    uid = created["id"]
    ops: list[dict[str, Any]] = [{"op": "replace", "path": "title", "value": "a\u0000b"}]
    assert scim.patch(f"/Users/{uid}", ops).status_code == 400
    ops = [{"op": "add", "path": f"{ENVOY}:defaultLocationName", "value": "L" * 300}]
    response = scim.patch(f"/Users/{uid}", ops)
    assert response.status_code == 400 and "defaultLocationName" in response.json()["detail"]
    ops = [{"op": "add", "value": {"urn:x:ext": nested(300)}}]
    assert scim.patch(f"/Users/{uid}", ops).json()["scimType"] == "invalidSyntax"
    assert scim.put(f"/Users/{uid}", user("kept", title="x" * 20_000)).status_code == 400
    after = scim.get(f"/Users/{uid}").json()
    assert after["title"] == "Before"
    assert after["meta"]["version"] == created["meta"]["version"]


AT_LIMIT = "\U0001f600" * 9_980  # 4-byte characters: the longest LIKE pattern a filter makes


@pytest.mark.parametrize("endpoint", ["/Users", "/Groups"])
@pytest.mark.parametrize(
    ("params", "status", "scim_type"),
    [
        ({"startIndex": "99999999999999999999"}, 400, "invalidValue"),
        ({"startIndex": "2147483648"}, 400, "invalidValue"),
        ({"startIndex": "9" * 5000}, 400, "invalidValue"),
        ({"startIndex": "-99999999999999999999"}, 200, None),  # read as 1 (RFC 7644 §3.4.2.4)
        ({"count": "99999999999999999999"}, 200, None),  # cut to maxResults
        ({"count": "-99999999999999999999"}, 200, None),  # read as 0
        ({"startIndex": "2147483647", "count": "99999999999999999999"}, 200, None),
        ({"filter": 'displayName co "' + "a" * 20_000 + '"'}, 400, "invalidFilter"),
        # Too long for any body string (16,384): refused naming the filter, as a value.
        ({"filter": 'userName co "' + "a" * 100_000 + '"'}, 400, "invalidValue"),
        ({"filter": 'externalId co "' + "%_\\\\" * 4000 + '"'}, 400, "invalidFilter"),
        ({"filter": 'externalId co "' + AT_LIMIT + '"'}, 200, None),
        ({"filter": 'displayName co "' + "%_" * 4_990 + '"'}, 200, None),
        ({"filter": "meta.created gt 99999999999999999999"}, 400, "invalidFilter"),
        ({"filter": 'id eq "\u0000"'}, 400, "invalidValue"),
        ({"attributes": "\u0000"}, 400, "invalidValue"),
        ({"\u0000": "x"}, 400, "invalidValue"),
    ],
)
def test_list_parameters_get_a_value_or_a_400(
    scim: Scim, endpoint: str, params: dict[str, str], status: int, scim_type: str | None
) -> None:
    scim.create_user("listed")
    scim.create_group("Listed")
    if len(urlencode(params)) > 60_000:
        # Too long for a URL (the client refuses it): the same parameters through
        # POST /.search (RFC 7644 §3.4.3), which carries them in the body.
        response = scim.post(f"{endpoint}/.search", {"schemas": [SEARCH], **params})
    else:
        response = scim.get(endpoint, params=params)
    assert response.status_code == status, response.text
    if scim_type is not None:
        assert response.json()["scimType"] == scim_type
    else:
        assert response.json()["totalResults"] in (0, 1)
    assert_still_serves(scim)


@pytest.mark.parametrize("endpoint", ["/Users/.search", "/Groups/.search", "/.search"])
def test_search_bodies_bound_start_index_and_count(scim: Scim, endpoint: str) -> None:
    scim.create_user("found")
    big = {"schemas": [SEARCH], "startIndex": 99999999999999999999}
    response = scim.post(endpoint, big)
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
    assert "startIndex" in response.json()["detail"]
    many = {"schemas": [SEARCH], "count": 99999999999999999999}
    response = scim.post(endpoint, many)
    assert response.status_code == 200
    assert response.json()["itemsPerPage"] == response.json()["totalResults"]
    response = scim.post(endpoint, {"schemas": [SEARCH], "filter": 'id eq "\u0000"'})
    assert response.status_code == 400
    assert_still_serves(scim)


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("endpoint", ["/Users", "/Groups"])
def test_nul_in_a_resource_id_is_refused_and_logged(
    engine: Engine, scim: Scim, method: str, endpoint: str
) -> None:
    body: Any = None
    if method == "PUT":
        body = user() if endpoint == "/Users" else {"schemas": [GROUP_SCHEMA], "displayName": "g"}
    if method == "PATCH":
        body = {"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": "title"}]}
    response = scim.http.request(
        method, f"{scim.base}{endpoint}/%00", json=body, headers=scim.headers()
    )
    assert response.status_code == 400, response.text
    assert response.json()["scimType"] == "invalidValue"
    entry = last_entry(engine, scim)  # PostgreSQL text cannot hold NUL: it is written %00
    assert (entry.status, entry.path) == (400, f"{endpoint}/%00")
    assert_still_serves(scim)


def test_nul_in_a_base_url_is_an_unknown_base_url(scim: Scim, client: TestClient) -> None:
    for path in ("/scim/v2/%00/%00/Users", f"/scim/v2/{scim.tenant}/%00/Users"):
        response = client.get(path, headers=scim.headers())
        assert response.status_code == 401
    response = scim.get("/%00")
    assert response.status_code == 404


def test_nul_in_the_read_api_is_a_400(engine: Engine, client: TestClient, scim: Scim) -> None:
    api = api_for(engine, client, scim.tenant)
    headers = {"Authorization": f"Bearer {api.key}"}
    response = client.get("/api/v1/employees/%00", headers=headers)
    assert response.status_code == 400
    assert "NUL" in response.json()["error"]["detail"]
    for name in ("status", "email", "location", "source", "updated_since", "cursor"):
        response = client.get("/api/v1/employees", params={name: "\u0000"}, headers=headers)
        assert response.status_code == 400, (name, response.text)
    response = client.get("/api/v1/groups", params={"cursor": "\u0000"}, headers=headers)
    assert response.status_code == 400
    # A cursor is base64 of JSON: a NUL inside it is not one the API returned.
    forged = base64.urlsafe_b64encode(json.dumps(["2026-01-01T00:00:00", "\u0000"]).encode())
    for path in ("/api/v1/employees", "/api/v1/groups"):
        response = client.get(path, params={"cursor": forged.decode()}, headers=headers)
        assert response.status_code == 400
        assert "cursor" in response.json()["error"]["detail"]
    response = client.get("/api/v1/employees", params={"limit": "9" * 5000}, headers=headers)
    assert response.status_code == 400
    response = client.get("/api/v1/employees", params={"limit": "²"}, headers=headers)
    assert response.status_code == 400
    response = client.get("/api/v1/employees", headers={"Authorization": "Bearer rk_\u0000_x"})
    assert response.status_code == 401


def test_admin_location_names_are_bounded_alike(engine: Engine, scim: Scim) -> None:
    # The CLI's `location add` and `location map`: 200 characters, as the SCIM side.
    with engine.begin() as conn:
        locations.add(conn, scim.tenant_id, "H" * 200)
        with pytest.raises(InvalidValue, match="200"):
            locations.add(conn, scim.tenant_id, "H" * 201)
        locations.map_value(conn, scim.tenant_id, "v" * 200, "H" * 200)
        with pytest.raises(InvalidValue, match="200"):
            locations.map_value(conn, scim.tenant_id, "v" * 201, "H" * 200)


# ---- values longer than the columns ------------------------------------------------------


def test_an_overlong_user_name_is_refused_alike_on_both_databases(scim: Scim) -> None:
    # PostgreSQL: unique_key/display/external_id are VARCHAR(512); a longer userName once
    # raised DataError -> opaque 500 there while SQLite stored it. Now both refuse it.
    response = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "u" * 600})
    assert response.status_code == 400, response.text
    assert response.json()["scimType"] == "invalidValue"


def test_request_for_an_overlong_id_is_still_logged(scim: Scim, engine: Engine) -> None:
    # PostgreSQL: log_entries.resource_id is VARCHAR(36); the failure entry for
    # GET /Users/<40 chars> cannot be written, so the request leaves no system-log entry.
    def count() -> int:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(log_entries)
                    .where(log_entries.c.tenant_id == scim.tenant_id)
                ).scalar_one()
            )

    before = count()
    assert scim.get("/Users/" + "x" * 40).status_code == 404
    assert count() == before + 1
