"""Webhook delivery in-process, against httpx.MockTransport receivers (the edge): what
is sent and signed, retries under one webhook-id, per-resource order, the 3-day disable,
type filters, replay, the request's trail, and which URLs are refused. The real-receiver
and multi-worker proofs are in test_live.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select
from standardwebhooks.webhooks import Webhook
from starlette.testclient import TestClient

from roster.directory.outbound import webhooks
from roster.directory.outbound.webhook_delivery import Config, Retry, deliver_due, dispatch, utcnow
from roster.directory.outbound.webhook_signature import new_secret, sign
from roster.directory.outbound.webhook_urls import UrlPolicy, check
from roster.directory.reads import feed
from roster.errors import InvalidValue
from roster.storage import system_log as log_store
from roster.storage import webhooks as webhook_store
from roster.storage.tables import webhook_deliveries, webhook_endpoints
from tests.conftest import Scim, new_connection
from tests.scrape import value

PUBLIC = UrlPolicy(resolver=lambda host, port: ["93.184.215.14"])  # example.com: public


class Clock:
    def __init__(self) -> None:
        self.at = utcnow()

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **kw: float) -> None:
        self.at += timedelta(**kw)


class Hook:
    """A MockTransport receiver: records each request, answers what ``answer`` says."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.answer: Callable[[dict[str, Any]], int] = lambda body: 200

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = Webhook(self.secret).verify(request.content, dict(request.headers))
        self.requests.append((request.headers["webhook-id"], body))
        status = self.answer(body)
        return httpx.Response(status, text="nope" if status >= 300 else "ok")

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handler))

    def types(self) -> list[str]:
        return [body["type"] for _, body in self.requests]


def config(**kw: Any) -> Config:
    values: dict[str, Any] = {
        "policy": PUBLIC,
        "retry": Retry(60.0, 3600.0),
        "concurrency": 2,
        "disable_after": timedelta(days=3),
    }
    return Config(**{**values, **kw})


def endpoint(engine: Engine, scim: Scim, types: str | None = None) -> tuple[str, Hook]:
    secret = new_secret()
    with engine.begin() as conn:
        added = webhooks.add(
            conn, scim.tenant_id, "https://hooks.example.test/roster", types, PUBLIC, secret
        )
    return added.endpoint.uid, Hook(secret)


@pytest.fixture
def tenant(engine: Engine, client: TestClient) -> Scim:
    return new_connection(engine, client)


def rename(scim: Scim, user_id: str, name: str) -> str:
    op = {"op": "replace", "path": "displayName", "value": name}
    response = scim.patch(f"/Users/{user_id}", [op])
    assert response.status_code in (200, 204), response.text
    return str(response.headers["x-request-id"])


def test_a_signature_verifies_with_the_standard_webhooks_verifier() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    stamp = int(utcnow().timestamp())
    body = '{"type":"employee.created"}'
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(datetime.now().timestamp())),
    }
    headers["webhook-signature"] = sign(secret, "msg_1", int(headers["webhook-timestamp"]), body)
    assert Webhook(secret).verify(body, headers) == {"type": "employee.created"}
    assert sign(secret, "msg_1", stamp, body) != sign(new_secret(), "msg_1", stamp, body)


@pytest.mark.parametrize(
    ("url", "addresses", "why"),
    [
        ("http://hooks.example.test/x", ["93.184.215.14"], "must use https"),
        ("https://hooks.example.test/x", ["10.1.2.3"], "private"),
        ("https://hooks.example.test/x", ["127.0.0.1"], "loopback"),
        ("https://hooks.example.test/x", ["169.254.169.254"], "link-local"),
        ("https://hooks.example.test/x", ["::ffff:127.0.0.1"], "loopback"),
        ("https://hooks.example.test/x", ["93.184.215.14", "192.168.0.9"], "private"),
        ("https://user:pw@hooks.example.test/x", ["93.184.215.14"], "credentials"),
        ("ftp://hooks.example.test/x", ["93.184.215.14"], "https://"),
    ],
)
def test_urls_that_are_refused(url: str, addresses: list[str], why: str) -> None:
    policy = UrlPolicy(resolver=lambda host, port: addresses)
    with pytest.raises(InvalidValue, match=why):
        check(url, policy)


def test_settings_allow_http_and_private_addresses() -> None:
    loop = UrlPolicy(allow_http=True, allow_private=True, resolver=lambda h, p: ["127.0.0.1"])
    assert check("http://localhost:9/x", loop) == "http://localhost:9/x"
    assert check("https://hooks.example.test/x", PUBLIC) == "https://hooks.example.test/x"


def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(InvalidValue, match="does not resolve"):
        check("https://no-such-host.invalid/x", UrlPolicy())


def test_events_go_out_signed_and_a_retry_keeps_the_webhook_id(
    engine: Engine, tenant: Scim
) -> None:
    uid, hook = endpoint(engine, tenant)
    user = tenant.create_user("ada")
    failing = {"on": True}
    hook.answer = lambda body: 503 if failing["on"] else 204
    clock = Clock()
    with hook.client() as http:
        first = deliver_due(engine, http, config(), clock=clock)
        assert (first.delivered, first.failed) == (0, 1)
        # Not due again before its backoff.
        assert deliver_due(engine, http, config(), clock=clock).handled == 0
        failing["on"] = False
        clock.advance(seconds=61)
        second = deliver_due(engine, http, config(), clock=clock)
    assert (second.delivered, second.failed) == (1, 0)
    (id1, body1), (id2, body2) = hook.requests
    assert id1 == id2 == body1["id"] and body1 == body2
    assert body1["type"] == "employee.created"
    assert body1["resource"] == {"type": "Employee", "id": body1["data"]["id"]}
    assert body1["timestamp"] == body1["at"]
    assert body1["data"]["email"] == "ada@example.test" and user["id"]
    with engine.connect() as conn:
        attempts = webhooks.recent_attempts(conn, tenant.tenant_id, uid, 10)
    assert [(a.attempt, a.status_code) for a in attempts] == [(2, 204), (1, 503)]
    assert attempts[1].error == "HTTP 503" and attempts[1].response_snippet == "nope"


def test_a_later_event_waits_for_an_earlier_one_of_its_resource_only(
    engine: Engine, tenant: Scim
) -> None:
    _, hook = endpoint(engine, tenant, "employee.created,employee.updated")
    ada = tenant.create_user("ada")["id"]
    rename(tenant, ada, "Ada One")
    rename(tenant, ada, "Ada Two")
    assert tenant.create_user("bob")["id"]
    # ada's creation fails until told otherwise; bob's events are not held up by it.
    down = {"ada": True}

    def answer(body: dict[str, Any]) -> int:
        mine = body["data"]["email"] == "ada@example.test"
        return 500 if mine and down["ada"] and body["type"] == "employee.created" else 200

    hook.answer = answer
    clock = Clock()
    with hook.client() as http:
        deliver_due(engine, http, config(), clock=clock)
        sent = [(b["data"]["email"], b["type"]) for _, b in hook.requests]
        assert sent.count(("ada@example.test", "employee.created")) == 1
        # held behind the failed creation
        assert ("ada@example.test", "employee.updated") not in sent
        assert ("bob@example.test", "employee.created") in sent
        down["ada"] = False
        clock.advance(hours=2)
        deliver_due(engine, http, config(), clock=clock)
    of_ada = [
        (b["type"], b["data"].get("displayName"))
        for _, b in hook.requests
        if b["data"]["email"] == "ada@example.test"
    ]
    assert of_ada == [
        ("employee.created", None),
        ("employee.created", None),
        ("employee.updated", "Ada One"),
        ("employee.updated", "Ada Two"),
    ]


def test_an_endpoint_failing_for_three_days_is_disabled_and_the_log_says_so(
    engine: Engine, tenant: Scim
) -> None:
    uid, hook = endpoint(engine, tenant)
    hook.answer = lambda body: 500
    tenant.create_user("ada")
    clock = Clock()
    with hook.client() as http:
        for _ in range(8):  # retried (hourly at most) for three days, then disabled
            report = deliver_due(engine, http, config(), clock=clock)
            assert report.disabled == []
            clock.advance(hours=9)
        clock.advance(hours=1)
        assert deliver_due(engine, http, config(), clock=clock).disabled == [uid]
        tenant.create_user("bob")  # still queued while disabled, not sent
        clock.advance(hours=2)
        assert deliver_due(engine, http, config(), clock=clock).handled == 0
    with engine.connect() as conn:
        ((state, pending),) = [(e, p) for e, p in webhooks.listing(conn, tenant.tenant_id)]
        entries = log_store.entries(conn, tenant.tenant_id, limit=20)
    assert state.status == "disabled" and pending == 2
    assert state.disabled_reason and "failed for 73 h" in state.disabled_reason
    disabled = [e for e in entries if e.path == "webhook.disabled"]
    assert len(disabled) == 1 and uid in (disabled[0].detail or "")
    # Enabled again: the queue goes out, in order.
    hook.answer = lambda body: 200
    with engine.begin() as conn:
        assert webhooks.enable(conn, tenant.tenant_id, uid)
    with hook.client() as http:
        deliver_due(engine, http, config(), clock=clock)
    tail = [b["data"]["email"] for _, b in hook.requests[-2:]]
    assert tail == ["ada@example.test", "bob@example.test"]


def test_an_endpoint_gets_only_the_types_it_asked_for(engine: Engine, tenant: Scim) -> None:
    _, hook = endpoint(engine, tenant, "employee.deleted")
    user = tenant.create_user("ada")
    rename(tenant, user["id"], "Ada")
    assert tenant.delete(f"/Users/{user['id']}").status_code == 204
    with hook.client() as http:
        deliver_due(engine, http, config())
        deliver_due(engine, http, config())
    assert hook.types() == ["employee.deleted"]
    body = hook.requests[0][1]
    assert set(body["data"]) == {"id", "email", "source"}  # the tombstone
    assert body["data"]["email"] == "ada@example.test"


def test_replay_sends_the_same_events_again_under_their_ids(engine: Engine, tenant: Scim) -> None:
    before = utcnow() - timedelta(seconds=1)
    tenant.create_user("ada")
    uid, hook = endpoint(engine, tenant)  # added after the creation: not sent by itself
    tenant.create_user("bob")
    with hook.client() as http:
        deliver_due(engine, http, config())
        assert [b["data"]["email"] for _, b in hook.requests] == ["bob@example.test"]
        with engine.begin() as conn:
            assert webhooks.replay(conn, tenant.tenant_id, uid, before) == 2
        deliver_due(engine, http, config())
    emails = [b["data"]["email"] for _, b in hook.requests]
    assert sorted(emails[1:]) == ["ada@example.test", "bob@example.test"]
    assert hook.requests[0][0] in {i for i, _ in hook.requests[1:]}  # bob's id again


def test_the_request_trail_shows_each_delivery_attempt(engine: Engine, tenant: Scim) -> None:
    uid, hook = endpoint(engine, tenant)
    response = tenant.post(
        "/Users",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ada",
            "emails": [{"value": "ada@example.test", "primary": True}],
        },
    )
    request_id = response.headers["x-request-id"]
    hook.answer = lambda body: 200
    with hook.client() as http:
        deliver_due(engine, http, config())
    with engine.connect() as conn:
        trail = feed.trail(conn, request_id)
    kinds = [i.kind for i in trail]
    assert kinds[-1] == "webhook" and "event" in kinds and "log" in kinds
    hooked = trail[-1].json
    assert hooked["endpoint"] == uid and hooked["status"] == 200 and hooked["attempt"] == 1
    assert hooked["webhookId"] == hook.requests[0][0]
    assert f"-> {uid} #1 200" in trail[-1].line


def test_a_queued_body_is_frozen_and_removing_an_endpoint_drops_its_queue(
    engine: Engine, tenant: Scim
) -> None:
    uid, hook = endpoint(engine, tenant)
    tenant.create_user("ada")
    hook.answer = lambda body: 500
    with hook.client() as http:
        deliver_due(engine, http, config())
    with engine.connect() as conn:
        bodies = conn.execute(select(webhook_deliveries.c.body)).scalars().all()
    assert any(json.loads(b)["id"] == hook.requests[0][0] for b in bodies)
    with engine.begin() as conn:
        webhooks.remove(conn, tenant.tenant_id, uid)
        assert webhooks.listing(conn, tenant.tenant_id) == []


def test_patching_a_group_is_delivered_per_member_in_order(engine: Engine, tenant: Scim) -> None:
    _, hook = endpoint(engine, tenant, "group.member_added,group.member_removed")
    ada = tenant.create_user("ada")["id"]
    group = tenant.create_group("eng")["id"]
    add = {"op": "add", "path": "members", "value": [{"value": ada}]}
    remove = {"op": "remove", "path": f'members[value eq "{ada}"]'}
    for op in (add, remove, add):
        assert tenant.patch(f"/Groups/{group}", [op]).status_code in (200, 204)
    with hook.client() as http:
        deliver_due(engine, http, config())
    assert hook.types() == ["group.member_added", "group.member_removed", "group.member_added"]


def test_prune_drops_old_delivered_deliveries_and_attempts_not_pending_ones(
    engine: Engine, tenant: Scim
) -> None:
    uid, hook = endpoint(engine, tenant)
    tenant.create_user("ada")
    tenant.create_user("bob")
    hook.answer = lambda body: 500 if body["data"]["email"] == "bob@example.test" else 200
    with hook.client() as http:
        deliver_due(engine, http, config())
    d = webhook_deliveries.c
    mine = (
        d.endpoint_pk
        == select(webhook_endpoints.c.pk).where(webhook_endpoints.c.uid == uid).scalar_subquery()
    )
    with engine.begin() as conn:
        assert webhook_store.prune(conn, utcnow() - timedelta(hours=1)) >= 0
        assert len(conn.execute(select(d.pk).where(mine)).all()) == 2  # nothing that old
        webhook_store.prune(conn, utcnow() + timedelta(seconds=1))
        left = conn.execute(select(d.status).where(mine)).scalars().all()
        attempts = webhooks.recent_attempts(conn, tenant.tenant_id, uid, 10)
    assert left == ["pending"] and attempts == []


def test_metrics_show_the_pending_deliveries_and_the_oldest_ones_age(
    engine: Engine, client: TestClient, tenant: Scim
) -> None:
    """/metrics: webhook deliveries queued and not yet acknowledged (issue 15), read from
    the database at scrape time like the mail outbox."""
    endpoint(engine, tenant)
    before = client.get("/metrics").text
    tenant.create_user("ada")
    tenant.create_user("bob")
    assert dispatch(engine, utcnow()) >= 2
    after = client.get("/metrics").text
    pending = "roster_webhook_deliveries_pending"
    assert value(after, pending) == value(before, pending) + 2
    with engine.connect() as conn:
        count, oldest = webhook_store.backlog(conn)
    assert value(after, pending) == count and oldest is not None
    assert value(after, "roster_webhook_deliveries_oldest_pending_age_seconds") >= 0
