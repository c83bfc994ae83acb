"""Wake-on-commit (storage/wakeups.py): with a poll interval of 30 s, a webhook is
delivered within seconds of the SCIM write that caused it — in the writer's own process
(SQLite and PostgreSQL) and, on PostgreSQL, by a ``roster worker`` in another process
(LISTEN/NOTIFY). Every wait is on a condition with a deadline far below the poll
interval, so only a wake-up can meet it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from roster.directory.outbound import webhooks
from roster.directory.outbound.webhook_delivery import Config, WebhookLoop
from roster.directory.outbound.webhook_signature import new_secret
from roster.directory.outbound.webhook_urls import UrlPolicy
from tests.conftest import Scim, new_connection
from tests.e2e.conftest import free_port
from tests.webhooks.receiver import Receiver, Served
from tests.webhooks.test_live import Workers, add_endpoint, cli, wait_until, workers

__all__ = ["cli", "workers"]  # fixtures of test_live, used here

POLL = 30.0  # seconds: far above every deadline below
PROMPT = 5.0  # a delivery this soon after its write was woken, not polled


@pytest.fixture
def tenant(engine: Engine, client: TestClient) -> Scim:
    return new_connection(engine, client)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, int]]:
    port = free_port()
    made = Receiver()
    served = Served(made, port)
    yield made, port
    served.stop()


def _create(scim: Scim, name: str) -> float:
    """A SCIM create; returns when its response arrived (after its commit)."""
    scim.create_user(name)
    return time.monotonic()


def _listening(engine: Engine) -> int:
    """Backends of this database whose last statement was the listener's LISTEN."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND query = 'LISTEN roster_events'"
                )
            ).scalar_one()
        )


def test_a_write_wakes_the_delivery_loop_of_its_own_process(
    engine: Engine, tenant: Scim, receiver: tuple[Receiver, int]
) -> None:
    hook, port = receiver
    hook.secret = new_secret()
    with engine.begin() as conn:
        webhooks.add(
            conn,
            tenant.tenant_id,
            f"http://127.0.0.1:{port}/h",
            None,
            UrlPolicy(allow_http=True, allow_private=True),
            hook.secret,
        )
    config = Config(
        policy=UrlPolicy(allow_http=True, allow_private=True), poll_seconds=POLL, concurrency=2
    )
    loop = WebhookLoop(engine, config)
    loop.start()
    try:
        if loop.listener is not None:  # PostgreSQL: wait for LISTEN (a condition)
            assert loop.listener.listening.wait(PROMPT)
        for n in range(1, 4):
            # The loop waits for its 30 s poll: only a wake-up can deliver in time.
            assert loop.idle.wait(PROMPT)
            committed = _create(tenant, f"woken{n}")
            assert hook.wait_for(n, PROMPT), f"delivery {n} waited for the poll"
            assert time.monotonic() - committed < PROMPT
    finally:
        loop.stop()
    assert hook.bad == []
    assert [r.body["type"] for r in hook.snapshot()] == ["employee.created"] * 3


def test_a_write_wakes_a_worker_in_another_process_on_postgresql(
    cli: Callable[..., Any],
    engine: Engine,
    tenant: Scim,
    workers: Workers,
    receiver: tuple[Receiver, int],
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no NOTIFY: a worker in another process polls")
    hook, port = receiver
    _, hook.secret = add_endpoint(cli, tenant, port)
    before = _listening(engine)
    workers.start(ROSTER_WEBHOOK_POLL_SECONDS=str(POLL))
    wait_until(lambda: _listening(engine) > before, "the worker's LISTEN", seconds=30)
    for n in range(1, 4):
        committed = _create(tenant, f"far{n}")
        assert hook.wait_for(n, PROMPT), f"delivery {n} waited for the poll"
        assert time.monotonic() - committed < PROMPT
    assert hook.bad == []


def test_events_held_behind_a_read_in_flight_go_out_when_it_ends(
    engine: Engine, tenant: Scim, receiver: tuple[Receiver, int]
) -> None:
    """PostgreSQL: a transaction that began before the write holds its events behind
    the write horizon, and ending it (a rollback) notifies nobody: the loop, told that
    events wait, looks again soon instead of at its 30 s poll."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no write horizon: writers commit one at a time")
    hook, port = receiver
    hook.secret = new_secret()
    policy = UrlPolicy(allow_http=True, allow_private=True)
    with engine.begin() as conn:
        webhooks.add(
            conn, tenant.tenant_id, f"http://127.0.0.1:{port}/h", None, policy, hook.secret
        )
    loop = WebhookLoop(engine, Config(policy=policy, poll_seconds=POLL, concurrency=2))
    loop.start()
    try:
        assert loop.listener is not None and loop.listener.listening.wait(PROMPT)
        assert loop.idle.wait(PROMPT)
        with engine.connect() as reader:
            reader.execute(text("SELECT 1"))  # its transaction has begun: the horizon
            _create(tenant, "held")
            # Woken by the commit, the loop finds the event behind the horizon.
            assert not hook.wait_for(1, 0.5)
            reader.rollback()
        ended = time.monotonic()
        assert hook.wait_for(1, PROMPT), "the held event waited for the poll"
        assert time.monotonic() - ended < PROMPT
    finally:
        loop.stop()


def test_only_a_tenant_with_an_enabled_endpoint_notifies(
    engine: Engine, tenant: Scim, client: TestClient
) -> None:
    """PostgreSQL serialises the commits of notifying transactions: a tenant without
    webhooks must not notify. Notifications arrive in commit order, so a marker sent
    after the writes proves which of them notified before it."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no NOTIFY")
    other = new_connection(engine, client)
    with engine.begin() as conn:
        webhooks.add(
            conn,
            other.tenant_id,
            "http://127.0.0.1:9/h",
            None,
            UrlPolicy(allow_http=True, allow_private=True),
            new_secret(),
        )
    fairy = engine.raw_connection()
    fairy.detach()  # closed for good after the test: it LISTENs
    try:
        pg: Any = fairy.dbapi_connection
        pg.rollback()
        pg.autocommit = True
        pg.execute("LISTEN roster_events")

        def heard_until_marker() -> list[str]:
            with engine.begin() as conn:
                conn.execute(text("SELECT pg_notify('roster_events', 'marker')"))
            payloads: list[str] = []
            for note in pg.notifies(timeout=PROMPT):
                payloads.append(note.payload)
                if note.payload == "marker":
                    return payloads
            raise AssertionError(f"the marker never arrived: {payloads}")

        tenant.create_user("unhooked")  # no endpoint: no notification
        assert heard_until_marker() == ["marker"]
        other.create_user("hooked")  # an enabled endpoint: one notification
        assert heard_until_marker() == ["", "marker"]
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE webhook_endpoints SET status = 'disabled' WHERE tenant_id = :t"),
                {"t": other.tenant_id},
            )
        other.create_user("disabled")  # its endpoint disabled: none again
        assert heard_until_marker() == ["marker"]
    finally:
        fairy.close()
