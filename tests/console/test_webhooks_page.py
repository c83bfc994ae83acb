"""The console's webhooks page: endpoints listed, added (the signing secret shown once),
disabled, enabled, removed behind a confirmation, pinged, and an endpoint's recent
delivery attempts. Each action is `roster webhook …`'s (directory/outbound/webhooks.py),
logged with the admin as actor; every state-changing route refuses a missing CSRF token
and changes nothing, and another tenant's endpoints answer 404. Receivers are
httpx.MockTransport (the edge)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.routing import Mount

from roster import console
from roster.directory.journal import system_log
from roster.directory.outbound import webhooks
from roster.directory.outbound.webhook_delivery import Config, ping
from roster.directory.outbound.webhook_signature import new_secret
from roster.http.app import create_app
from roster.settings import Settings
from tests.console.conftest import (
    Admin,
    Clock,
    browser,
    connect,
    make_account,
    new_tenant,
    sign_in,
)

URL = "http://127.0.0.1:9/hooks"  # never connected to: the receivers are MockTransports
received: list[httpx.Request] = []


def _answer(request: httpx.Request) -> httpx.Response:
    received.append(request)
    return httpx.Response(202, text="thanks, got it")


@pytest.fixture
def app(settings: Settings, engine: Engine, clock: Clock) -> Starlette:
    # Local receivers allowed, as ROSTER_WEBHOOK_ALLOW_HTTP/_PRIVATE would in development.
    local = settings.model_copy(update={"webhook_allow_http": True, "webhook_allow_private": True})
    client = httpx.Client(transport=httpx.MockTransport(_answer), follow_redirects=False)
    return Starlette(
        routes=[
            Mount("/admin", app=console.build(local, engine, clock=clock, webhook_client=client)),
            Mount("/", app=create_app(local, engine)),
        ]
    )


def _endpoints(engine: Engine, tenant_id: int) -> list[tuple[str, str, int]]:
    with engine.connect() as conn:
        return [(e.uid, e.status, p) for e, p in webhooks.listing(conn, tenant_id)]


def _logged(engine: Engine, admin: Admin, action: str) -> bool:
    with engine.connect() as conn:
        return any(
            e.actor == f"admin:{admin.email}" and e.path == action
            for e in system_log.recent(conn, admin.tenant_id, limit=200)
        )


def _add(engine: Engine, tenant_id: int, url: str = URL) -> str:
    policy = Config.from_settings(
        Settings(webhook_allow_http=True, webhook_allow_private=True)
    ).policy
    with engine.begin() as conn:
        return webhooks.add(conn, tenant_id, url, None, policy, new_secret()).endpoint.uid


def test_an_endpoint_is_added_and_its_secret_shown_once(admin: Admin, engine: Engine) -> None:
    page = f"/admin/t/{admin.slug}/webhooks"
    empty = admin.get(page)
    assert empty.status_code == 200 and "No webhook endpoints yet" in empty.text
    assert f'href="{page}"' in empty.text  # the nav links the page

    added = admin.post(
        page, {"url": URL, "events": "employee.created, employee.updated"}, page=page
    )
    assert added.status_code == 200, added.text
    [(uid, status, pending)] = _endpoints(engine, admin.tenant_id)
    assert status == "enabled" and pending == 0
    with engine.connect() as conn:
        endpoint = webhooks.get(conn, admin.tenant_id, uid)
    assert endpoint.event_types == ["employee.created", "employee.updated"]
    assert endpoint.secret in added.text and "will not be shown again" in added.text
    assert _logged(engine, admin, "console.webhook.add")

    again = admin.get(page)  # a reload: listed, the secret never again
    assert URL in again.text and "employee.created, employee.updated" in again.text
    assert endpoint.secret not in again.text and "will not be shown again" not in again.text
    assert endpoint.secret not in admin.get(f"{page}/{uid}").text


def test_a_url_the_policy_refuses_adds_nothing(admin: Admin, engine: Engine) -> None:
    page = f"/admin/t/{admin.slug}/webhooks"
    bad = admin.post(page, {"url": "ftp://127.0.0.1/x", "events": ""}, page=page)
    assert bad.status_code == 400 and "ftp://127.0.0.1/x" in bad.text  # typed value kept
    unknown = admin.post(page, {"url": URL, "events": "no.such.type"}, page=page)
    assert unknown.status_code == 400
    assert _endpoints(engine, admin.tenant_id) == []


def test_the_default_policy_refuses_plain_http(
    settings: Settings, engine: Engine, clock: Clock
) -> None:
    # The settings as deployed (https only, no private addresses): the CLI's policy.
    strict = Starlette(routes=[Mount("/admin", app=console.build(settings, engine, clock=clock))])
    name, slug, tenant_id = new_tenant(engine)
    http = browser(strict)
    assert sign_in(http, make_account(engine, clock, name)).status_code == 303
    admin = Admin(http, "", name, slug, tenant_id)
    page = f"/admin/t/{slug}/webhooks"
    refused = admin.post(page, {"url": URL}, page=page)
    assert refused.status_code == 400 and "http" in refused.text
    assert _endpoints(engine, tenant_id) == []


def test_disable_enable_and_remove(admin: Admin, engine: Engine) -> None:
    uid = _add(engine, admin.tenant_id)
    base = f"/admin/t/{admin.slug}/webhooks"
    off = admin.post(f"{base}/{uid}/disable", page=base)
    assert off.status_code == 303 and "disabled" in off.headers["location"]
    assert _endpoints(engine, admin.tenant_id) == [(uid, "disabled", 0)]
    listed = admin.get(base).text
    assert "disabled by an admin" in listed and f"{base}/{uid}/enable" in listed
    assert _logged(engine, admin, "console.webhook.disable")

    on = admin.post(f"{base}/{uid}/enable", page=base)
    assert on.status_code == 303
    assert _endpoints(engine, admin.tenant_id) == [(uid, "enabled", 0)]
    assert _logged(engine, admin, "console.webhook.enable")

    confirm = admin.get(f"{base}/{uid}/remove")
    assert confirm.status_code == 200 and "dropped" in confirm.text and URL in confirm.text
    assert _endpoints(engine, admin.tenant_id) == [(uid, "enabled", 0)]  # asking changes nothing
    gone = admin.post(f"{base}/{uid}/remove", page=base)
    assert gone.status_code == 303 and "removed" in gone.headers["location"]
    assert _endpoints(engine, admin.tenant_id) == []
    assert _logged(engine, admin, "console.webhook.remove")
    assert admin.get(f"{base}/{uid}").status_code == 404


def test_every_change_needs_the_csrf_token(admin: Admin, engine: Engine) -> None:
    uid = _add(engine, admin.tenant_id)
    base = f"/admin/t/{admin.slug}/webhooks"
    received.clear()
    for path, data in (
        (base, {"url": "http://127.0.0.1:9/other"}),
        (f"{base}/{uid}/disable", {}),
        (f"{base}/{uid}/remove", {}),
        (f"{base}/{uid}/test", {}),
    ):
        for token in ("", "0" * 64):
            refused = admin.post(path, data, csrf=token)
            assert refused.status_code == 403, (path, refused.status_code)
    assert _endpoints(engine, admin.tenant_id) == [(uid, "enabled", 0)]
    assert received == []  # no ping went out
    with engine.connect() as conn:
        assert webhooks.recent_attempts(conn, admin.tenant_id, uid, 10) == []


def test_a_ping_and_its_attempt_on_the_endpoint_page(admin: Admin, engine: Engine) -> None:
    uid = _add(engine, admin.tenant_id)
    base = f"/admin/t/{admin.slug}/webhooks"
    assert "No delivery attempts yet" in admin.get(f"{base}/{uid}").text
    received.clear()
    sent = admin.post(f"{base}/{uid}/test", page=base)
    assert sent.status_code == 303 and "ping+delivered" in sent.headers["location"]
    [request] = received
    assert request.headers["webhook-id"] and request.headers["webhook-signature"]
    assert _logged(engine, admin, "console.webhook.test")

    # One more through the directory function, failing this time.
    def down(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, text="receiver down for maintenance")

    local = Config.from_settings(Settings(webhook_allow_http=True, webhook_allow_private=True))
    with httpx.Client(transport=httpx.MockTransport(down)) as client:
        assert not ping(engine, client, admin.tenant_id, uid, local).ok

    shown = admin.get(sent.headers["location"])
    assert "ping delivered: HTTP 202" in shown.text
    assert "thanks, got it" in shown.text and "202" in shown.text
    assert "receiver down for maintenance" in shown.text and "HTTP 503" in shown.text
    assert shown.text.count(" ms</td>") == 2  # each attempt with its latency


def test_another_tenants_endpoints_answer_404_and_change_nothing(
    admin_factory: Callable[[tuple[str, str, int] | None], Admin], engine: Engine
) -> None:
    a, b = admin_factory(None), admin_factory(None)
    b_uid = _add(engine, b.tenant_id)
    received.clear()
    a_csrf = a.csrf(f"/admin/t/{a.slug}/")
    for base in (f"/admin/t/{b.slug}/webhooks", f"/admin/t/{a.slug}/webhooks"):
        for path in (f"{base}/{b_uid}", f"{base}/{b_uid}/remove", f"{base}/{b_uid}/replay"):
            assert a.get(path).status_code == 404, path
        for verb in ("disable", "enable", "remove", "test", "replay"):
            answer = a.post(f"{base}/{b_uid}/{verb}", csrf=a_csrf)
            assert answer.status_code == 404, (base, verb)
            assert URL not in answer.text
    assert a.get(f"/admin/t/{b.slug}/webhooks").status_code == 404
    assert a.post(f"/admin/t/{b.slug}/webhooks", {"url": URL}, csrf=a_csrf).status_code == 404
    assert URL not in a.get(f"/admin/t/{a.slug}/webhooks").text
    assert _endpoints(engine, b.tenant_id) == [(b_uid, "enabled", 0)]
    assert _endpoints(engine, a.tenant_id) == []
    assert received == []
    with engine.connect() as conn:
        assert webhooks.recent_attempts(conn, b.tenant_id, b_uid, 10) == []


def test_replay_since_a_time_behind_a_confirmation(
    admin: Admin, engine: Engine, clock: Clock
) -> None:
    scim = connect(engine, admin.http, admin)
    scim.create_user("ann@example.test")
    scim.create_user("bob@example.test")
    policy = Config.from_settings(
        Settings(webhook_allow_http=True, webhook_allow_private=True)
    ).policy
    with engine.begin() as conn:  # added after those events: it has not been sent them
        uid = webhooks.add(
            conn, admin.tenant_id, URL, "employee.created", policy, new_secret()
        ).endpoint.uid
    base = f"/admin/t/{admin.slug}/webhooks"
    assert f"{base}/{uid}/replay" in admin.get(base).text  # each endpoint offers it
    confirm = admin.get(f"{base}/{uid}/replay")
    assert confirm.status_code == 200 and "same webhook-id" in confirm.text
    assert '<label for="replay-since">Replay since' in confirm.text
    suggested = (clock() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert f'value="{suggested}"' in confirm.text
    assert _endpoints(engine, admin.tenant_id) == [(uid, "enabled", 0)]  # asking does nothing

    replay = f"{base}/{uid}/replay"
    for token in ("", "0" * 64):
        assert admin.post(replay, {"since": suggested}, csrf=token).status_code == 403
    bad = admin.post(replay, {"since": "yesterday"}, page=replay)
    assert bad.status_code == 400 and "is no time" in bad.text
    assert 'value="yesterday"' in bad.text  # as typed
    assert _endpoints(engine, admin.tenant_id) == [(uid, "enabled", 0)]

    since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    done = admin.post(replay, {"since": since}, page=replay)
    assert done.status_code == 303
    shown = admin.get(done.headers["location"]).text
    assert f"2 events since {since.replace('T', ' ')}:00 UTC queued again" in shown
    assert _endpoints(engine, admin.tenant_id) == [(uid, "enabled", 2)]  # what the CLI queues
    assert _logged(engine, admin, "console.webhook.replay")
    with engine.connect() as conn:
        notes = [
            e
            for e in system_log.recent(conn, admin.tenant_id, limit=50)
            if e.path == "webhook.replayed"
        ]
    assert notes and "2 events" in (notes[0].detail or "")
