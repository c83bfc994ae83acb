"""Bearer tokens, connection status, and isolation between tenants and connections."""

from __future__ import annotations

from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from roster.directory.admin import tenancy
from roster.storage.tables import connections
from tests.conftest import USER_SCHEMA, Scim, new_connection


def test_token_is_random_and_only_its_hash_is_stored(engine: Engine, scim: Scim) -> None:
    assert scim.token.startswith("roster_") and len(scim.token) >= 7 + 43  # 32 bytes, base64url
    with engine.connect() as conn:
        stored = conn.execute(
            select(connections.c.token_hash).where(connections.c.uid == scim.connection_id)
        ).scalar_one()
    assert stored == tenancy.hash_token(scim.token)
    assert scim.token not in stored


def test_missing_or_wrong_token_is_401_with_www_authenticate(scim: Scim) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {scim.token}"}):
        response = scim.http.get(scim.base + "/Users", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["status"] == "401"


def test_okta_header_auth_app_may_send_the_token_without_bearer(scim: Scim) -> None:
    # Okta's "SCIM 2.0 Test App (Header Auth)" puts its API Token field in the header as is.
    ok = scim.http.get(scim.base + "/Users", headers={"Authorization": scim.token})
    assert ok.status_code == 200
    for header in (scim.token[:-1], f"{scim.token} x", f"Token {scim.token}", "roster_"):
        response = scim.http.get(scim.base + "/Users", headers={"Authorization": header})
        assert response.status_code == 401, header


def test_regenerating_revokes_old_token_at_once(engine: Engine, scim: Scim) -> None:
    assert scim.get("/Users").status_code == 200
    with engine.begin() as conn:
        new = tenancy.regenerate_token(conn, scim.connection_id).token
    assert scim.get("/Users").status_code == 401
    scim.token = new
    assert scim.get("/Users").status_code == 200


def test_inactive_connection_is_refused_with_reason(engine: Engine, scim: Scim) -> None:
    with engine.begin() as conn:
        tenancy.set_status(conn, scim.connection_id, "inactive")
    response = scim.get("/Users")
    assert response.status_code == 401
    assert "inactive" in response.json()["detail"]
    with engine.begin() as conn:
        tenancy.set_status(conn, scim.connection_id, "active")
    assert scim.get("/Users").status_code == 200


def test_token_only_works_on_its_own_base_url(
    engine: Engine, client: TestClient, scim: Scim
) -> None:
    other = new_connection(engine, client)
    response = client.get(other.base + "/Users", headers={"Authorization": f"Bearer {scim.token}"})
    assert response.status_code == 401
    sibling = new_connection(engine, client, tenant=scim.tenant)  # same tenant, other connection
    response = client.get(
        sibling.base + "/Users", headers={"Authorization": f"Bearer {scim.token}"}
    )
    assert response.status_code == 401


def test_one_tenant_cannot_read_list_change_or_delete_anothers_resources(
    engine: Engine, client: TestClient, scim: Scim
) -> None:
    victim_user = scim.create_user("victim@example.com", title="Original")
    victim_group = scim.create_group("Victims", [victim_user["id"]])
    victim_user = scim.get(f"/Users/{victim_user['id']}").json()  # its groups changed
    attacker = new_connection(engine, client)
    for rt, rid in (("Users", victim_user["id"]), ("Groups", victim_group["id"])):
        assert attacker.get(f"/{rt}/{rid}").status_code == 404
        assert (
            attacker.put(
                f"/{rt}/{rid}", {"schemas": [USER_SCHEMA], "userName": "x", "displayName": "x"}
            ).status_code
            == 404
        )
        assert (
            attacker.patch(
                f"/{rt}/{rid}", [{"op": "replace", "path": "displayName", "value": "x"}]
            ).status_code
            == 404
        )
        assert attacker.delete(f"/{rt}/{rid}").status_code == 404
    assert attacker.get("/Users").json()["totalResults"] == 0
    assert (
        attacker.get("/Users", params={"filter": 'userName eq "victim@example.com"'}).json()[
            "totalResults"
        ]
        == 0
    )
    assert (
        attacker.get(
            "/Groups", params={"filter": f'members[value eq "{victim_user["id"]}"]'}
        ).json()["totalResults"]
        == 0
    )
    # An attacker group cannot take the victim as a member either: the id names nothing
    # of the attacker's connection, so it is skipped (strict_members off) or refused (on).
    response = attacker.post(
        "/Groups",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Grab",
            "members": [{"value": victim_user["id"]}],
        },
    )
    assert response.status_code == 201
    assert response.json()["members"] == []
    # Nothing changed for the victim.
    assert (
        scim.get(f"/Users/{victim_user['id']}").json()
        == scim.get(f"/Users/{victim_user['id']}").json()
    )
    after = scim.get(f"/Users/{victim_user['id']}").json()
    assert after["title"] == "Original"
    assert after["meta"]["version"] == victim_user["meta"]["version"]
    group_after = scim.get(f"/Groups/{victim_group['id']}").json()
    assert [m["value"] for m in group_after["members"]] == [victim_user["id"]]


def test_same_username_may_exist_in_two_connections(
    engine: Engine, client: TestClient, scim: Scim
) -> None:
    sibling = new_connection(engine, client, tenant=scim.tenant)
    scim.create_user("shared@example.com")
    # Another person (the primary email is the tenant-wide identity: see tests/directory).
    sibling.create_user("shared@example.com", emails=[{"value": "other@example.com"}])
    assert sibling.get("/Users").json()["totalResults"] == 1


def test_a_sibling_connection_of_the_same_tenant_cannot_see_or_touch_resources(
    engine: Engine, client: TestClient, scim: Scim
) -> None:
    user = scim.create_user("mine@example.com", title="Mine")
    sibling = new_connection(engine, client, tenant=scim.tenant)
    assert sibling.get(f"/Users/{user['id']}").status_code == 404
    assert (
        sibling.patch(
            f"/Users/{user['id']}", [{"op": "replace", "path": "title", "value": "x"}]
        ).status_code
        == 404
    )
    assert sibling.delete(f"/Users/{user['id']}").status_code == 404
    assert (
        sibling.get("/Users", params={"filter": 'userName eq "mine@example.com"'}).json()[
            "totalResults"
        ]
        == 0
    )
    assert scim.get(f"/Users/{user['id']}").json()["title"] == "Mine"
