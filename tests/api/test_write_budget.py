"""The statement budget of the hot SCIM requests, log entries included (issue 10;
docs/design/write-path.md): what an Okta initial import and its group pushes cost.

Counted on the engine, without SQLite's ``BEGIN`` (a statement there, not on
PostgreSQL). A rise shows up here before it shows up in a benchmark."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from tests.conftest import USER_SCHEMA, Scim, StatementCounter, new_connection

BUDGET = {"create": 10, "patch": 10, "member add": 6, "member remove": 6, "lookup": 3}


def _count(counter: StatementCounter) -> int:
    return sum(1 for sql, _ in counter.statements if not sql.startswith("BEGIN"))


def _okta_user(name: str) -> dict[str, Any]:
    # What Okta's SCIM 2.0 app sends on create (docs/idp/okta.md transcripts).
    return {
        "schemas": [USER_SCHEMA],
        "userName": f"{name}@corp.test",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"primary": True, "value": f"{name}@corp.test", "type": "work"}],
        "displayName": "Ada Lovelace",
        "locale": "en-US",
        "externalId": f"00u{name}",
        "groups": [],
        "password": "x-Secret-1",
        "active": True,
    }


def _costs(okta: Scim, counter: Callable[[], StatementCounter], group_size: int) -> dict[str, int]:
    run = uuid.uuid4().hex[:6]
    members = [okta.create_user(f"{run}-m{i}")["id"] for i in range(group_size)]
    group = okta.create_group(f"g-{run}", members)["id"]
    costs: dict[str, int] = {}
    with counter() as c:
        created = okta.post("/Users", _okta_user(f"{run}-new"))
    assert created.status_code == 201, created.text
    costs["create"] = _count(c)
    uid = created.json()["id"]
    with counter() as c:
        patched = okta.patch(
            f"/Users/{uid}",
            [
                {"op": "replace", "path": "name.givenName", "value": "Augusta"},
                {"op": "replace", "path": "displayName", "value": "Augusta Ada"},
            ],
        )
    assert patched.status_code == 200 and patched.json()["name"]["givenName"] == "Augusta"
    costs["patch"] = _count(c)
    with counter() as c:
        added = okta.patch(
            f"/Groups/{group}", [{"op": "add", "path": "members", "value": [{"value": uid}]}]
        )
    assert added.status_code == 204
    costs["member add"] = _count(c)
    with counter() as c:
        removed = okta.patch(
            f"/Groups/{group}", [{"op": "remove", "path": f'members[value eq "{uid}"]'}]
        )
    assert removed.status_code == 204
    costs["member remove"] = _count(c)
    with counter() as c:
        found = okta.get("/Users", params={"filter": f'userName eq "{run}-new@corp.test"'})
    assert found.json()["totalResults"] == 1
    costs["lookup"] = _count(c)
    got = okta.get(f"/Groups/{group}").json()
    assert len(got["members"]) == group_size  # the adds and removes netted out
    return costs


@pytest.mark.parametrize("group_size", [1, 60])
def test_hot_requests_stay_within_the_statement_budget(
    engine: Engine,
    client: TestClient,
    count_statements: Callable[[], StatementCounter],
    group_size: int,
) -> None:
    okta = new_connection(engine, client, "okta")
    costs = _costs(okta, count_statements, group_size)
    assert all(costs[k] <= BUDGET[k] for k in BUDGET), costs
    # The figures today (docs/design/write-path.md); PostgreSQL adds the configuration
    # lock to each write (and folds the member touches into one statement).
    postgres = engine.dialect.name == "postgresql"
    assert costs == {
        "create": 8 if postgres else 7,
        "patch": 10 if postgres else 9,
        "member add": 6,
        "member remove": 6,
        "lookup": 3,
    }


def test_member_changes_cost_the_same_in_any_group_size(
    engine: Engine, client: TestClient, count_statements: Callable[[], StatementCounter]
) -> None:
    okta = new_connection(engine, client, "okta")
    small = _costs(okta, count_statements, 1)
    large = _costs(okta, count_statements, 60)
    assert small == large
