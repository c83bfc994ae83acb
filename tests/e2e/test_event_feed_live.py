"""The event feed under concurrent writers (issue 13): 8 threads write users and groups
through a live ``roster serve --workers 2`` while a consumer follows
GET /api/v1/events. The consumer's final view holds every committed event exactly once,
and each resource's events in the order their changes committed.

Commit order of one resource's changes is what the writers were told: a thread that
writes a resource alone sends its next write after the previous answer (v1..vN); two
threads writing one user race, and the SCIM version each answer carries (bumped under
the resource's row lock) is that resource's commit order.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from roster.directory.admin import apikeys, tenancy
from roster.storage.tables import events as events_table
from tests.e2e.conftest import Server

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
THREADS = 8
VERSIONS = 12


@pytest.fixture(scope="module")
def server(start_server: Callable[..., Server]) -> Server:
    return start_server(workers=2, env={"ROSTER_READ_LOG_FLUSH_SECONDS": "1"})


def _patch(value: str | bool, path: str = "displayName") -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": path, "value": value}]}


def test_a_consumer_following_the_feed_misses_and_reorders_nothing(
    engine: Engine, server: Server
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers of one tenant exist on PostgreSQL (SQLite: one writer)")
    tenant = f"feed-{os.urandom(4).hex()}"
    with engine.begin() as db:
        tenancy.create_tenant(db, tenant)
        issued = tenancy.create_connection(db, tenant, "generic", "idp")
        key = apikeys.create(db, issued.connection.tenant_id, "consumer").key
    row = issued.connection
    base = f"{server.url}/scim/v2/{row.tenant_slug}/{row.uid}"
    headers = {"Authorization": f"Bearer {issued.token}", "Content-Type": "application/scim+json"}
    run = uuid.uuid4().hex[:6]

    with httpx.Client(timeout=60) as c:
        # Users that two threads will patch at once.
        shared = [
            c.post(
                base + "/Users",
                json={
                    "schemas": [USER],
                    "userName": f"shared{i}-{run}",
                    "emails": [{"value": f"shared{i}-{run}@corp.test", "primary": True}],
                },
                headers=headers,
            ).json()["id"]
            for i in range(THREADS // 2)
        ]
    # SCIM user id -> [(version, displayName)] as the writers' answers said.
    answered: dict[str, list[tuple[int, str]]] = {}
    own_users: dict[int, str] = {}
    own_groups: dict[int, str] = {}
    lock = threading.Lock()
    writers_done = threading.Event()

    def writer(t: int) -> None:
        with httpx.Client(timeout=60) as c:
            user = c.post(
                base + "/Users",
                json={
                    "schemas": [USER],
                    "userName": f"w{t}-{run}",
                    "emails": [{"value": f"w{t}-{run}@corp.test", "primary": True}],
                },
                headers=headers,
            )
            assert user.status_code == 201, user.text
            uid = user.json()["id"]
            group = c.post(
                base + "/Groups",
                json={"schemas": [GROUP], "displayName": f"g{t}-{run}"},
                headers=headers,
            )
            assert group.status_code == 201, group.text
            gid = group.json()["id"]
            with lock:
                own_users[t], own_groups[t] = uid, gid
            target = shared[t % len(shared)]
            for v in range(1, VERSIONS + 1):
                got = c.patch(f"{base}/Users/{uid}", json=_patch(f"v{v}"), headers=headers)
                assert got.status_code == 200, got.text
                raced = c.patch(f"{base}/Users/{target}", json=_patch(f"t{t}-{v}"), headers=headers)
                assert raced.status_code == 200, raced.text
                with lock:
                    answered.setdefault(target, []).append(
                        (int(raced.json()["meta"]["version"].strip('W/"')), f"t{t}-{v}")
                    )
                op = "add" if v % 2 else "remove"
                members = (
                    {"op": "add", "path": "members", "value": [{"value": uid}]}
                    if op == "add"
                    else {"op": "remove", "path": f'members[value eq "{uid}"]'}
                )
                body = {"schemas": [PATCH_OP], "Operations": [members]}
                moved = c.patch(f"{base}/Groups/{gid}", json=body, headers=headers)
                assert moved.status_code in (200, 204), moved.text
                renamed = c.patch(
                    f"{base}/Groups/{gid}", json=_patch(f"g{t}-{run}-v{v}"), headers=headers
                )
                assert renamed.status_code in (200, 204), renamed.text
            # The end of a user: deactivated, then deleted.
            last = c.patch(f"{base}/Users/{uid}", json=_patch(False, "active"), headers=headers)
            assert last.status_code == 200, last.text
            assert c.delete(f"{base}/Users/{uid}", headers=headers).status_code == 204

    seen: list[dict[str, Any]] = []

    def consumer() -> None:
        """Follows the feed while the writers write, then until it has every event."""
        cursor = None
        deadline: float | None = None
        with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {key}"}) as c:
            while True:
                done = writers_done.is_set()
                if done and deadline is None:
                    deadline = time.monotonic() + 120
                assert deadline is None or time.monotonic() < deadline, "the feed stalled"
                params = {"limit": "37", **({"after": cursor} if cursor else {})}
                page = c.get(f"{server.url}/api/v1/events", params=params)
                assert page.status_code == 200, page.text
                items = page.json()["items"]
                seen.extend(items)
                cursor = page.json()["nextCursor"]
                if done and not items and len(seen) >= committed():
                    return

    def committed() -> int:
        with engine.connect() as db:
            rows = db.execute(
                select(events_table.c.id).where(events_table.c.tenant_id == row.tenant_id)
            ).all()
        return len(rows)

    with ThreadPoolExecutor(THREADS + 1) as pool:
        follower = pool.submit(consumer)
        writes = [pool.submit(writer, t) for t in range(THREADS)]
        try:
            for w in writes:
                w.result()
        finally:
            writers_done.set()  # a failed writer must not leave the consumer polling
        follower.result(timeout=120)

    with engine.connect() as db:
        stored = db.execute(
            select(events_table.c.uid, events_table.c.type).where(
                events_table.c.tenant_id == row.tenant_id
            )
        ).all()
    ids = [e["id"] for e in seen]
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    assert set(ids) == {u for u, _ in stored}, "the consumer missed committed events"
    # 4 shared users + 8 own users created; 8 groups; per version: two user updates, one
    # member change, one rename; then a deactivation and a deletion per own user.
    kinds = [e["type"] for e in seen]
    assert kinds.count("employee.created") == THREADS + len(shared)
    assert kinds.count("employee.updated") == 2 * THREADS * VERSIONS
    assert kinds.count("group.updated") == THREADS * VERSIONS
    assert kinds.count("employee.deleted") == THREADS

    def updates_of(email: str) -> list[str]:
        return [
            e["data"]["displayName"]
            for e in seen
            if e["type"] == "employee.updated" and e["data"].get("email") == email
        ]

    for t in range(THREADS):
        assert updates_of(f"w{t}-{run}@corp.test") == [f"v{v}" for v in range(1, VERSIONS + 1)]
        own = [e["type"] for e in seen if e["data"].get("email") == f"w{t}-{run}@corp.test"]
        assert own[0] == "employee.created" and own[-2:] == [
            "employee.deactivated",
            "employee.deleted",
        ], own
        gid = own_groups[t]
        renames = [
            e["data"]["displayName"]
            for e in seen
            if e["type"] == "group.updated" and e["resource"]["id"] == gid
        ]
        assert renames == [f"g{t}-{run}-v{v}" for v in range(1, VERSIONS + 1)]
        moves = [
            e["type"]
            for e in seen
            if e["type"].startswith("group.member") and e["resource"]["id"] == gid
        ]
        assert moves == ["group.member_added", "group.member_removed"] * (VERSIONS // 2)
    for i, target in enumerate(shared):
        in_commit_order = [value for _, value in sorted(answered[target])]
        assert updates_of(f"shared{i}-{run}@corp.test") == in_commit_order
