"""End to end against real ``roster serve`` processes."""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.conftest import LiveConnection, Server

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def test_two_server_processes_share_one_database(
    live_connection: LiveConnection, live_server: Server, start_server: Callable[[], Server]
) -> None:
    second = start_server()
    via_second = live_connection.base_url.replace(live_server.url, second.url)
    with live_connection.client() as one:
        created = one.post(
            "/Users",
            json={
                "schemas": [USER],
                "userName": "shared@example.com",
                "emails": [{"value": "shared@example.com"}],
            },
        )
        assert created.status_code == 201
    with live_connection.client() as client:
        client.base_url = via_second
        read = client.get(f"/Users/{created.json()['id']}")
        assert read.status_code == 200
        assert read.json()["userName"] == "shared@example.com"
        # ... and a write through the second is seen through the first.
        patched = client.patch(
            f"/Users/{created.json()['id']}",
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "title", "value": "Seen"}],
            },
        )
        assert patched.status_code == 200
    with live_connection.client() as one:
        assert one.get(f"/Users/{created.json()['id']}").json()["title"] == "Seen"
        conflict = one.post(
            "/Users",
            json={
                "schemas": [USER],
                "userName": "SHARED@example.com",
                "emails": [{"value": "other@example.com"}],
            },
        )
        assert conflict.status_code == 409
