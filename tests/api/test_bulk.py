"""Bulk (RFC 7644 §3.7): bulkId references, failOnErrors, limits."""

from __future__ import annotations

from typing import Any

from tests.conftest import GROUP_SCHEMA, USER_SCHEMA, Scim

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def _bulk(scim: Scim, ops: list[dict[str, Any]], **extra: Any) -> Any:
    return scim.post("/Bulk", {"schemas": [BULK], "Operations": ops, **extra})


def test_bulk_ids_resolve_across_operations_in_any_order(scim: Scim) -> None:
    response = _bulk(
        scim,
        [
            # The group refers to a user created later in the request (§3.7.1).
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "g1",
                "data": {
                    "schemas": [GROUP_SCHEMA],
                    "displayName": "Tour Guides",
                    "members": [{"type": "User", "value": "bulkId:u1"}],
                },
            },
            {
                "method": "POST",
                "path": "/Users",
                "bulkId": "u1",
                "data": {
                    "schemas": [USER_SCHEMA],
                    "userName": "alice",
                    "emails": [{"value": "alice@example.test"}],
                },
            },
            {
                "method": "PATCH",
                "path": "/Users/bulkId:u1",
                "data": {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "title", "value": "Guide"}],
                },
            },
        ],
    )
    assert response.status_code == 200, response.text
    ops = response.json()["Operations"]
    assert [o["status"] for o in ops] == ["201", "201", "200"]
    assert ops[0]["bulkId"] == "g1" and ops[0]["location"].count("/Groups/") == 1
    user_id = ops[1]["location"].rsplit("/", 1)[1]
    group = scim.get(
        ops[0]["location"].split(scim.base, 1)[1]
        if scim.base in ops[0]["location"]
        else "/Groups/" + ops[0]["location"].rsplit("/", 1)[1]
    ).json()
    assert [m["value"] for m in group["members"]] == [user_id]
    assert scim.get(f"/Users/{user_id}").json()["title"] == "Guide"


def test_fail_on_errors_stops_processing(scim: Scim) -> None:
    response = _bulk(
        scim,
        [
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"schemas": [USER_SCHEMA]}},
            {
                "method": "POST",
                "path": "/Users",
                "bulkId": "b",
                "data": {
                    "schemas": [USER_SCHEMA],
                    "userName": "b",
                    "emails": [{"value": "b@example.test"}],
                },
            },
        ],
        failOnErrors=1,
    )
    ops = response.json()["Operations"]
    assert len(ops) == 1
    assert ops[0]["status"] == "400"
    assert ops[0]["response"]["scimType"] == "invalidValue"
    assert scim.get("/Users").json()["totalResults"] == 0


def test_errors_do_not_stop_others_without_fail_on_errors(scim: Scim) -> None:
    response = _bulk(
        scim,
        [
            {
                "method": "POST",
                "path": "/Users",
                "bulkId": "a",
                "data": {
                    "schemas": [USER_SCHEMA],
                    "userName": "dup",
                    "emails": [{"value": "dup@example.test"}],
                },
            },
            {
                "method": "POST",
                "path": "/Users",
                "bulkId": "b",
                "data": {
                    "schemas": [USER_SCHEMA],
                    "userName": "DUP",
                    "emails": [{"value": "DUP@example.test"}],
                },
            },
            {"method": "DELETE", "path": "/Users/missing"},
        ],
    )
    assert [o["status"] for o in response.json()["Operations"]] == ["201", "409", "404"]


def test_circular_references_fail_cleanly(scim: Scim) -> None:
    response = _bulk(
        scim,
        [
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "x",
                "data": {
                    "schemas": [GROUP_SCHEMA],
                    "displayName": "X",
                    "members": [{"value": "bulkId:y"}],
                },
            },
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "y",
                "data": {
                    "schemas": [GROUP_SCHEMA],
                    "displayName": "Y",
                    "members": [{"value": "bulkId:x"}],
                },
            },
        ],
    )
    assert [o["status"] for o in response.json()["Operations"]] == ["409", "409"]  # §3.7.1
    assert scim.get("/Groups").json()["totalResults"] == 0


def test_limits_are_enforced(scim: Scim) -> None:
    ops = [{"method": "DELETE", "path": f"/Users/{i}"} for i in range(1001)]
    assert _bulk(scim, ops).status_code == 413
    body = {
        "schemas": [BULK],
        "Operations": [
            {
                "method": "POST",
                "path": "/Users",
                "bulkId": "a",
                "data": {"userName": "x" * 1_100_000},
            }
        ],
    }
    assert scim.post("/Bulk", body).status_code == 413
    assert scim.post("/Bulk", {"Operations": []}).json()["scimType"] == "invalidSyntax"
    missing_bulk_id = _bulk(scim, [{"method": "POST", "path": "/Users", "data": {"userName": "n"}}])
    assert missing_bulk_id.json()["Operations"][0]["status"] == "400"


# ---- circular bulkId references ----------------------------------------------------------


def test_bulk_circular_references_are_resolved_or_409(scim: Scim) -> None:
    # "The service provider MUST try to resolve circular cross-references between resources
    # in a single bulk job but MAY stop after a failed attempt and instead return 409."
    response = scim.post(
        "/Bulk",
        {
            "schemas": [BULK],
            "Operations": [
                {
                    "method": "POST",
                    "path": "/Groups",
                    "bulkId": "a",
                    "data": {
                        "schemas": [GROUP_SCHEMA],
                        "displayName": "A",
                        "members": [{"value": "bulkId:b"}],
                    },
                },
                {
                    "method": "POST",
                    "path": "/Groups",
                    "bulkId": "b",
                    "data": {
                        "schemas": [GROUP_SCHEMA],
                        "displayName": "B",
                        "members": [{"value": "bulkId:a"}],
                    },
                },
            ],
        },
    )
    assert response.status_code == 200
    statuses = {op["status"] for op in response.json()["Operations"]}
    assert statuses <= {"201", "409"}, statuses
