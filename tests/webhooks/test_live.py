"""Webhooks delivered to a REAL receiver (tests/webhooks/receiver.py: uvicorn in a thread,
verifying every signature with the ``standardwebhooks`` verifier) by real ``roster
worker`` processes: the receiver down and then up, a worker killed with SIGKILL in the
middle of a delivery, two workers at once. Backoff, lease and poll settings are small so
this runs in seconds; every wait polls with a deadline."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select
from starlette.testclient import TestClient
from typer.testing import CliRunner

from roster.cli import app as cli_app
from roster.storage.tables import events as events_table
from roster.storage.tables import webhook_attempts
from tests.conftest import Scim, new_connection
from tests.e2e.conftest import ROSTER, free_port, roster_env
from tests.webhooks.receiver import Received, Receiver, Served, deduped

FAST = {
    "ROSTER_WEBHOOK_ALLOW_HTTP": "true",
    "ROSTER_WEBHOOK_ALLOW_PRIVATE": "true",
    "ROSTER_WEBHOOK_POLL_SECONDS": "0.05",
    "ROSTER_WEBHOOK_RETRY_BASE_SECONDS": "0.1",
    "ROSTER_WEBHOOK_RETRY_CAP_SECONDS": "0.5",
    "ROSTER_WEBHOOK_TIMEOUT_SECONDS": "5",
    "ROSTER_WEBHOOK_LEASE_SECONDS": "8",
    "ROSTER_WEBHOOK_CONCURRENCY": "4",
}


def wait_until(check: Callable[[], bool], what: str, seconds: float = 45) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)  # polling a condition with a deadline, not timing a result
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, db_url: str) -> Callable[..., Any]:
    monkeypatch.setenv("ROSTER_DATABASE_URL", db_url)
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> Any:
        result = runner.invoke(cli_app, [*args, "--json"])
        assert result.exit_code == code, result.output
        return json.loads(result.stdout)

    return run


@pytest.fixture
def tenant(engine: Engine, client: TestClient) -> Scim:
    return new_connection(engine, client)


class Workers:
    def __init__(self, db_url: str, folder: Path) -> None:
        self.db_url = db_url
        self.folder = folder
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, **env: str) -> subprocess.Popen[bytes]:
        log = (self.folder / f"worker-{len(self.started)}.log").open("wb")
        process = subprocess.Popen(
            [ROSTER, "worker"],
            env={**roster_env(self.db_url), **FAST, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for p in self.started:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


@pytest.fixture
def workers(db_url: str, tmp_path: Path) -> Iterator[Workers]:
    made = Workers(db_url, tmp_path)
    yield made
    made.stop_all()


def make_events(scim: Scim, users: int, renames: int) -> None:
    """``users`` users, each renamed ``renames`` times: several resources, each with a
    sequence of events whose order matters."""
    ids = [scim.create_user(f"u{i}-{uuid.uuid4().hex[:6]}")["id"] for i in range(users)]
    for round_ in range(renames):
        for i, user_id in enumerate(ids):
            op = {"op": "replace", "path": "displayName", "value": f"name {i}.{round_}"}
            assert scim.patch(f"/Users/{user_id}", [op]).status_code in (200, 204)


def expected(engine: Engine, tenant_id: int) -> dict[str, list[str]]:
    """Each resource's event ids in feed order (what each resource's arrivals must be)."""
    e = events_table.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(e.uid, e.resource_type, e.resource_id)
            .where(e.tenant_id == tenant_id)
            .order_by(e.ordered_at, e.id)
        ).all()
    out: dict[str, list[str]] = {}
    for uid, rtype, rid in rows:
        out.setdefault(f"{rtype}/{rid}", []).append(uid)
    return out


def check_arrivals(received: list[Received], want: dict[str, list[str]]) -> None:
    """Deduplicated by webhook-id: every event, each resource's in order; a repeated id
    carries the same body (a retry, never another event under an old id)."""
    first: dict[str, dict[str, Any]] = {}
    for r in received:
        assert first.setdefault(r.webhook_id, r.body) == r.body
        assert r.body["id"] == r.webhook_id
    got: dict[str, list[str]] = {}
    for r in deduped(received):
        key = f"{r.body['resource']['type']}/{r.body['resource']['id']}"
        got.setdefault(key, []).append(r.webhook_id)
    assert got == want


def add_endpoint(cli: Callable[..., Any], scim: Scim, port: int) -> tuple[str, str]:
    added = cli("webhook", "add", "--tenant", scim.tenant, "--url", f"http://127.0.0.1:{port}/h")
    return str(added["id"]), str(added["secret"])


def test_the_webhook_commands_against_a_real_receiver(
    cli: Callable[..., Any], tenant: Scim, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    receiver = Receiver()
    served = Served(receiver, port)
    try:
        uid, secret = add_endpoint(cli, tenant, port)
        receiver.secret = secret
        listed = cli("webhook", "list", "--tenant", tenant.tenant)
        assert [e["id"] for e in listed] == [uid] and "secret" not in listed[0]
        assert listed[0]["status"] == "enabled" and listed[0]["events"] is None
        pong = cli("webhook", "test", "--tenant", tenant.tenant, uid)
        assert pong["ok"] and pong["status"] == 200 and pong["response"] == '{"ok":true}'
        (ping,) = receiver.snapshot()
        assert ping.body["type"] == "ping" and ping.body["data"] == {"endpoint": uid}
        assert receiver.bad == []
        (attempt,) = cli("webhook", "deliveries", "--tenant", tenant.tenant)
        assert attempt["type"] == "ping" and attempt["status"] == 200
        assert attempt["webhook_id"] == ping.webhook_id
        assert cli("webhook", "disable", "--tenant", tenant.tenant, uid)["changed"]
        assert cli("webhook", "list", "--tenant", tenant.tenant)[0]["status"] == "disabled"
        assert cli("webhook", "enable", "--tenant", tenant.tenant, uid)["changed"]
        since = "2000-01-01T00:00:00Z"
        assert cli("webhook", "replay", "--tenant", tenant.tenant, uid, "--since", since) == {
            "queued": 0  # the tenant has no events yet
        }
        # Refusals: unknown endpoint, unknown type, http without the setting.
        refused = cli("webhook", "remove", "--tenant", tenant.tenant, "nope", "--yes", code=1)
        assert "no webhook endpoint" in refused["error"]
        url = f"http://127.0.0.1:{port}/h"
        bad = cli(
            "webhook", "add", "--tenant", tenant.tenant, "--url", url, "--events", "x.y", code=1
        )
        assert "unknown event type" in bad["error"]
        monkeypatch.setenv("ROSTER_WEBHOOK_ALLOW_HTTP", "false")
        plain = cli("webhook", "add", "--tenant", tenant.tenant, "--url", url, code=1)
        assert "must use https" in plain["error"]
        monkeypatch.setenv("ROSTER_WEBHOOK_ALLOW_PRIVATE", "false")
        tls = f"https://127.0.0.1:{port}/h"
        local = cli("webhook", "add", "--tenant", tenant.tenant, "--url", tls, code=1)
        assert "loopback" in local["error"]
        assert cli("webhook", "remove", "--tenant", tenant.tenant, uid, "--yes") == {"removed": uid}
        assert cli("webhook", "list", "--tenant", tenant.tenant) == []
    finally:
        served.stop()


def test_receiver_down_then_up_every_event_arrives_in_order_once_per_id(
    cli: Callable[..., Any], tenant: Scim, engine: Engine, workers: Workers
) -> None:
    port = free_port()
    uid, secret = add_endpoint(cli, tenant, port)
    make_events(tenant, users=6, renames=3)
    want = expected(engine, tenant.tenant_id)
    workers.start()
    a = webhook_attempts.c

    def failed_attempts() -> int:
        with engine.connect() as conn:
            rows = conn.execute(
                select(a.error).where(a.tenant_id == tenant.tenant_id, a.status_code.is_(None))
            ).all()
        return len(rows)

    # Nothing listens on the port: attempts fail (connection refused) and back off.
    wait_until(lambda: failed_attempts() >= 6, "failed attempts while the receiver is down")
    receiver = Receiver(secret=secret)
    served = Served(receiver, port)
    try:
        total = sum(len(v) for v in want.values())
        wait_until(lambda: len(receiver.ids()) >= total, "every event at the receiver")
        wait_until(
            lambda: cli("webhook", "list", "--tenant", tenant.tenant)[0]["pending"] == 0,
            "no delivery left pending",
        )
    finally:
        served.stop()
    assert receiver.bad == []
    check_arrivals(receiver.snapshot(), want)
    # The trail of one request shows its event's attempts, the failed ones too.
    request = next(iter(want.values()))[0]
    with engine.connect() as conn:
        e = events_table.c
        correlation = conn.execute(select(e.request_id).where(e.uid == request)).scalar_one()
    trail = cli("log", "--request", correlation)
    hooks = [i for i in trail["items"] if i["kind"] == "webhook"]
    assert hooks and hooks[-1]["status"] == 200 and hooks[-1]["endpoint"] == uid
    assert any(i["status"] is None and i["error"] for i in hooks)  # the receiver was down


def test_a_worker_killed_mid_delivery_loses_nothing_after_restart(
    cli: Callable[..., Any], tenant: Scim, engine: Engine, workers: Workers
) -> None:
    port = free_port()
    _, secret = add_endpoint(cli, tenant, port)
    make_events(tenant, users=8, renames=2)
    want = expected(engine, tenant.tenant_id)
    # A slow receiver: the worker is surely in the middle of deliveries when killed.
    receiver = Receiver(secret=secret, delay_seconds=1.0)
    served = Served(receiver, port)
    try:
        first = workers.start(ROSTER_WEBHOOK_LEASE_SECONDS="3")
        wait_until(
            lambda: bool(receiver._in_flight and max(receiver._in_flight.values()) > 0),
            "a delivery in flight",
        )
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        in_flight_at_kill = {k for k, v in receiver._in_flight.items() if v > 0}
        assert in_flight_at_kill
        receiver.delay_seconds = 0.0
        workers.start(ROSTER_WEBHOOK_LEASE_SECONDS="3")
        total = sum(len(v) for v in want.values())
        wait_until(lambda: len(receiver.ids()) >= total, "every event after the restart")
    finally:
        served.stop()
    assert receiver.bad == []
    check_arrivals(receiver.snapshot(), want)


def test_two_workers_never_deliver_one_event_at_once(
    cli: Callable[..., Any], tenant: Scim, engine: Engine, workers: Workers
) -> None:
    port = free_port()
    _, secret = add_endpoint(cli, tenant, port)
    make_events(tenant, users=16, renames=2)
    want = expected(engine, tenant.tenant_id)
    receiver = Receiver(secret=secret, delay_seconds=0.1)
    served = Served(receiver, port)
    try:
        # Long leases: a lease never runs out here, so any copy would be a concurrent one.
        workers.start(ROSTER_WEBHOOK_LEASE_SECONDS="60")
        workers.start(ROSTER_WEBHOOK_LEASE_SECONDS="60")
        total = sum(len(v) for v in want.values())
        wait_until(lambda: len(receiver.ids()) >= total, "every event at the receiver")
    finally:
        served.stop()
    received = receiver.snapshot()
    assert receiver.overlapping == set() and receiver.bad == []
    assert len(received) == total  # the receiver always answered 200: no copy at all
    check_arrivals(received, want)
    a = webhook_attempts.c
    with engine.connect() as conn:
        attempts = (
            conn.execute(select(a.message_id).where(a.tenant_id == tenant.tenant_id))
            .scalars()
            .all()
        )
    assert sorted(attempts) == sorted(r.webhook_id for r in received)


def test_roster_serve_delivers_webhooks_itself(
    cli: Callable[..., Any], tenant: Scim, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    port = free_port()
    _, secret = add_endpoint(cli, tenant, port)
    receiver = Receiver(secret=secret)
    served = Served(receiver, port)
    server_port = free_port()
    url = f"http://127.0.0.1:{server_port}"
    env = {**roster_env(db_url, url), **FAST, "ROSTER_WEBHOOK_DELIVERY": "true"}
    server = subprocess.Popen(
        [ROSTER, "serve", "--host", "127.0.0.1", "--port", str(server_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "serve.log").open("wb"),
    )
    try:

        def ready() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, "roster serve to answer")
        headers = {"Authorization": f"Bearer {tenant.token}"}
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "served",
            "emails": [{"value": "served@example.test", "primary": True}],
        }
        created = httpx.post(f"{url}{tenant.base}/Users", json=body, headers=headers)
        assert created.status_code == 201, created.text
        wait_until(lambda: len(receiver.ids()) >= 1, "the creation at the receiver")
    finally:
        server.terminate()
        server.wait(timeout=15)
        served.stop()
    (got,) = receiver.snapshot()
    assert got.body["type"] == "employee.created"
    assert got.body["data"]["email"] == "served@example.test"
    assert got.body["correlationId"] == created.headers["x-request-id"]
    assert receiver.bad == []
