"""Crash safety (issue 15): ``kill -9`` of ``roster serve`` while 8 clients write, then a
restart on the same database; every write the server acknowledged (2xx) is there.

Each client creates users and PATCHes each one's ``displayName`` through numbered
versions. A create answered 201 must exist after the restart; a PATCH answered 200 must be
there or be overtaken by a later version of the same client (one sent but never answered
may or may not have committed: the client was never told). The counts are printed
(``pytest -s``). Bounded: writes run until the kill (after at least 2 s and 100
acknowledged writes, at most 15 s), the check is one list request.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import Engine

from roster.directory.admin import tenancy
from tests.e2e.conftest import Server

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
WRITERS = 8


@dataclass
class Writer:
    name: str
    created: dict[str, str] = field(default_factory=dict)  # id -> userName, answered 201
    version: dict[str, int] = field(default_factory=dict)  # id -> last version answered 200
    sent: int = 0
    unanswered: int = 0  # requests the kill cut off
    failures: list[str] = field(default_factory=list)  # any other answer


def _write(writer: Writer, base: str, headers: dict[str, str], stop: threading.Event) -> None:
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        n = 0
        while not stop.is_set():
            n += 1
            body: dict[str, Any] = {
                "schemas": [USER],
                "userName": f"{writer.name}-{n}",
                "emails": [{"value": f"{writer.name}-{n}@crash.test", "primary": True}],
                "displayName": "v0",
            }
            try:
                writer.sent += 1
                got = client.post("/Users", json=body)
                if got.status_code != 201:
                    writer.failures.append(f"POST {got.status_code} {got.text[:200]}")
                    continue
                uid = got.json()["id"]
                writer.created[uid] = body["userName"]
                writer.version[uid] = 0
                for v in (1, 2):
                    writer.sent += 1
                    ops = [{"op": "replace", "path": "displayName", "value": f"v{v}"}]
                    got = client.patch(
                        f"/Users/{uid}", json={"schemas": [PATCH_OP], "Operations": ops}
                    )
                    if got.status_code != 200:
                        writer.failures.append(f"PATCH {got.status_code} {got.text[:200]}")
                        break
                    writer.version[uid] = v
            except httpx.TransportError:
                writer.unanswered += 1
                return  # the server is gone


def test_kill_9_under_8_writers_loses_no_acknowledged_write(
    engine: Engine, start_server: Callable[..., Server]
) -> None:
    name = f"crash-{os.urandom(4).hex()}"
    with engine.begin() as db:
        tenancy.create_tenant(db, name)
        issued = tenancy.create_connection(db, name, "okta", "okta")
    row = issued.connection
    path = f"/scim/v2/{row.tenant_slug}/{row.uid}"
    headers = {"Authorization": f"Bearer {issued.token}", "Content-Type": "application/scim+json"}

    server = start_server()
    writers = [Writer(f"w{i}") for i in range(WRITERS)]
    stop = threading.Event()
    started = time.monotonic()
    with ThreadPoolExecutor(WRITERS) as pool:
        futures = [pool.submit(_write, w, server.url + path, headers, stop) for w in writers]
        # Let the writes get going; polled, and bounded (the kill is the point, not a race).
        while time.monotonic() - started < 15:
            acked = sum(len(w.created) + sum(w.version.values()) for w in writers)
            if acked >= 100 and time.monotonic() - started >= 2:
                break
            time.sleep(0.05)
        os.kill(server.process.pid, signal.SIGKILL)  # mid-flight: no shutdown of any kind
        server.process.wait(timeout=10)
        stop.set()
        for future in futures:
            future.result()
    killed_after = time.monotonic() - started

    restarted = start_server()
    with httpx.Client(base_url=restarted.url + path, headers=headers, timeout=30) as client:
        assert httpx.get(restarted.url + "/readyz", timeout=10).status_code == 200
        listed = client.get("/Users", params={"count": 1000, "attributes": "displayName"})
        assert listed.status_code == 200
        found = {r["id"]: r for r in listed.json()["Resources"]}

    created = {uid: w for w in writers for uid in w.created}
    patches = sum(sum(w.version.values()) for w in writers)
    unanswered = sum(w.unanswered for w in writers)
    lost = [uid for uid in created if uid not in found]
    stale = [
        uid
        for w in writers
        for uid, v in w.version.items()
        if uid in found and int(found[uid]["displayName"].removeprefix("v")) < v
    ]
    print(
        f"\n{engine.dialect.name}: kill -9 after {killed_after:.1f} s; {len(created)} creates "
        f"and {patches} PATCHes acknowledged, {unanswered} requests cut off; after the "
        f"restart {len(found)} users present ({len(found) - len(created)} of them from "
        f"unanswered creates), {len(lost)} acknowledged creates lost, {len(stale)} "
        "acknowledged PATCHes lost"
    )
    assert not [f for w in writers for f in w.failures]
    assert len(created) >= WRITERS  # the kill came with writes done and writes in flight
    assert unanswered == WRITERS  # every writer ran until the kill cut it off
    assert lost == [] and stale == []
    # An unanswered create may have committed; nothing else can have appeared.
    assert len(found) - len(created) <= unanswered
