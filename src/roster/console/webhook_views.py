"""Webhooks and their deliveries: the tenant's endpoints (status, event types, what waits
for each), adding one (its signing secret shown once), disabling, enabling, removing,
a test ping, a replay of the events since a time, and an endpoint's recent delivery
attempts. Every change is the action `roster webhook …` runs
(directory/outbound/webhooks.py and webhook_delivery.ping), with the URL checked by the
same policy, built from the same settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from roster.console.web import (
    BASE,
    Console,
    Redirect,
    Refused,
    SignedIn,
    form,
    signed_in,
    tenant_for,
    utc_time,
    when,
)
from roster.directory.admin import admins
from roster.directory.outbound import webhooks
from roster.directory.outbound.webhook_delivery import Config, ping
from roster.directory.outbound.webhook_signature import new_secret
from roster.directory.reads.console_reads import TenantRow
from roster.errors import RosterError

ATTEMPTS = 50  # the newest attempts shown on an endpoint's page
REPLAY_DEFAULT = timedelta(hours=1)  # the time the replay form suggests: an hour ago


def routes(console: Console) -> list[Route]:  # noqa: C901 (one small closure per route, registered in one place)
    def config() -> Config:
        return Config.from_settings(console.settings)

    async def show(
        request: Request,
        me: SignedIn,
        status: int = 200,
        error: str | None = None,
        values: dict[str, Any] | None = None,
        added: webhooks.Added | None = None,
    ) -> Response:
        slug = request.path_params["slug"]

        def read(c: Connection) -> dict[str, Any]:
            tenant = tenant_for(c, me.account, slug)
            return {"tenant": tenant, "endpoints": webhooks.listing(c, tenant.id)}

        data = await console.db(read)
        return console.form_page(
            request,
            "webhooks.html",
            status,
            me,
            title="Webhooks",
            error=error,
            values=values,
            added=added,
            **data,
        )

    async def page(request: Request) -> Response:
        return await show(request, await signed_in(console, request))

    async def post_add(request: Request) -> Response:
        """Added: the page itself answers (no redirect), the only time the secret shows;
        a reload is a GET and never sees it."""
        me = await signed_in(console, request)
        slug = request.path_params["slug"]
        values = await form(request, me.token)
        policy = config().policy
        secret = new_secret()

        def run(c: Connection) -> webhooks.Added:
            tenant = tenant_for(c, me.account, slug)
            events = str(values.get("events", "")).strip() or None
            added = webhooks.add(c, tenant.id, str(values.get("url", "")), events, policy, secret)
            admins.log_action(
                c,
                tenant.id,
                me.actor,
                "console.webhook.add",
                f"webhook endpoint {added.endpoint.uid} added: {added.endpoint.url}",
                resource_type="WebhookEndpoint",
            )
            return added

        try:
            added = await console.db(run, me.request_id)
        except RosterError as err:
            return await show(request, me, err.status, err.detail, values)
        return await show(request, me, added=added)

    async def change(
        request: Request, do: Callable[[Connection, TenantRow, str], tuple[str, str]]
    ) -> Response:
        """Run ``do`` on the endpoint the URL names (it returns the log action and detail)
        and log it with the admin as actor."""
        me = await signed_in(console, request)
        slug, uid = request.path_params["slug"], request.path_params["endpoint"]
        await form(request, me.token)

        def run(c: Connection) -> str:
            tenant = tenant_for(c, me.account, slug)
            action, detail = do(c, tenant, uid)
            admins.log_action(
                c, tenant.id, me.actor, action, detail, resource_type="WebhookEndpoint"
            )
            return detail

        detail = await console.db(run, me.request_id)
        raise Redirect(f"{BASE}/t/{slug}/webhooks?" + urlencode({"done": detail}))

    async def post_disable(request: Request) -> Response:
        def do(c: Connection, tenant: TenantRow, uid: str) -> tuple[str, str]:
            changed = webhooks.disable(c, tenant.id, uid)
            word = "disabled" if changed else "was already disabled"
            return "console.webhook.disable", f"webhook endpoint {uid} {word}"

        return await change(request, do)

    async def post_enable(request: Request) -> Response:
        def do(c: Connection, tenant: TenantRow, uid: str) -> tuple[str, str]:
            changed = webhooks.enable(c, tenant.id, uid)
            word = "enabled" if changed else "was already enabled"
            return "console.webhook.enable", f"webhook endpoint {uid} {word}"

        return await change(request, do)

    async def post_remove(request: Request) -> Response:
        def do(c: Connection, tenant: TenantRow, uid: str) -> tuple[str, str]:
            gone = webhooks.remove(c, tenant.id, uid)
            return "console.webhook.remove", f"webhook endpoint {gone.uid} removed ({gone.url})"

        return await change(request, do)

    async def confirm_remove(request: Request) -> Response:
        me = await signed_in(console, request)
        slug, uid = request.path_params["slug"], request.path_params["endpoint"]

        def read(c: Connection) -> dict[str, Any]:
            tenant = tenant_for(c, me.account, slug)
            endpoint, pending = webhooks.with_pending(c, tenant.id, uid)
            return {"tenant": tenant, "endpoint": endpoint, "pending": pending}

        data = await console.db(read)
        return console.render(
            request,
            "webhook_remove.html",
            ctx=me,
            csrf=me.csrf,
            title="Remove webhook endpoint",
            **data,
        )

    async def detail(request: Request) -> Response:
        me = await signed_in(console, request)
        slug, uid = request.path_params["slug"], request.path_params["endpoint"]

        def read(c: Connection) -> dict[str, Any]:
            tenant = tenant_for(c, me.account, slug)
            endpoint, pending = webhooks.with_pending(c, tenant.id, uid)
            return {
                "tenant": tenant,
                "endpoint": endpoint,
                "pending": pending,
                "attempts": webhooks.recent_attempts(c, tenant.id, endpoint.uid, ATTEMPTS),
            }

        data = await console.db(read)
        return console.render(
            request,
            "webhook.html",
            ctx=me,
            csrf=me.csrf,
            title="Webhook endpoint",
            limit=ATTEMPTS,
            done=request.query_params.get("done", ""),
            failed=request.query_params.get("failed", ""),
            **data,
        )

    async def post_test(request: Request) -> Response:
        """A signed ``ping`` now (`roster webhook test`); the endpoint's page shows the
        attempt it recorded."""
        me = await signed_in(console, request)
        slug, uid = request.path_params["slug"], request.path_params["endpoint"]
        await form(request, me.token)

        def find(c: Connection) -> tuple[int, str]:
            tenant = tenant_for(c, me.account, slug)
            return tenant.id, webhooks.get(c, tenant.id, uid).uid

        tenant_id, found = await console.db(find, me.request_id)
        settings = config()
        outcome = await run_in_threadpool(
            lambda: ping(console.engine, console.webhook_client, tenant_id, found, settings)
        )
        if outcome.ok:
            text = f"ping delivered: HTTP {outcome.status_code} in {outcome.latency_ms:.0f} ms"
        else:
            text = f"ping failed: {outcome.error} ({outcome.latency_ms:.0f} ms)"

        def record(c: Connection) -> None:
            admins.log_action(
                c,
                tenant_id,
                me.actor,
                "console.webhook.test",
                f"webhook endpoint {found}: {text}",
                resource_type="WebhookEndpoint",
            )

        await console.db(record, me.request_id)
        key = "done" if outcome.ok else "failed"
        raise Redirect(f"{BASE}/t/{slug}/webhooks/{found}?" + urlencode({key: text}))

    async def replay(request: Request) -> Response:
        """*Replay since…*: a confirmation page with the time, then the action of
        `roster webhook replay --since` (webhooks.replay), logged with the admin as actor."""
        me = await signed_in(console, request)
        slug, uid = request.path_params["slug"], request.path_params["endpoint"]
        status, error = 200, None
        since_text = (console.clock() - REPLAY_DEFAULT).strftime("%Y-%m-%dT%H:%M")
        if request.method == "POST":
            values = await form(request, me.token)
            since_text = str(values.get("since", "")).strip()

            def run(c: Connection) -> str:
                tenant = tenant_for(c, me.account, slug)
                found = webhooks.get(c, tenant.id, uid).uid  # a 404 before the time's check
                since = utc_time(since_text, "since")
                if since is None:
                    raise Refused(400, "say since when to send the events again")
                count = webhooks.replay(c, tenant.id, found, since)
                detail = (
                    f"{count} event{'' if count == 1 else 's'} since {when(since)} queued "
                    f"again for webhook endpoint {found}"
                )
                admins.log_action(
                    c,
                    tenant.id,
                    me.actor,
                    "console.webhook.replay",
                    detail,
                    resource_type="WebhookEndpoint",
                )
                return detail

            try:
                detail = await console.db(run, me.request_id)
            except Refused as err:
                if err.status == 404:
                    raise
                status, error = err.status, err.message
            except RosterError as err:
                if err.status == 404:
                    raise
                status, error = err.status, err.detail
            else:
                raise Redirect(f"{BASE}/t/{slug}/webhooks/{uid}?" + urlencode({"done": detail}))

        def read(c: Connection) -> dict[str, Any]:
            tenant = tenant_for(c, me.account, slug)
            return {"tenant": tenant, "endpoint": webhooks.get(c, tenant.id, uid)}

        data = await console.db(read)
        return console.render(
            request,
            "webhook_replay.html",
            status,
            ctx=me,
            csrf=me.csrf,
            title="Replay webhook events",
            error=error,
            since=since_text,
            most=webhooks.REPLAY_MAX,
            **data,
        )

    return [
        Route("/t/{slug}/webhooks", page),
        Route("/t/{slug}/webhooks", post_add, methods=["POST"]),
        Route("/t/{slug}/webhooks/{endpoint}", detail),
        Route("/t/{slug}/webhooks/{endpoint}/disable", post_disable, methods=["POST"]),
        Route("/t/{slug}/webhooks/{endpoint}/enable", post_enable, methods=["POST"]),
        Route("/t/{slug}/webhooks/{endpoint}/test", post_test, methods=["POST"]),
        Route("/t/{slug}/webhooks/{endpoint}/replay", replay, methods=["GET", "POST"]),
        Route("/t/{slug}/webhooks/{endpoint}/remove", confirm_remove, methods=["GET"]),
        Route("/t/{slug}/webhooks/{endpoint}/remove", post_remove, methods=["POST"]),
    ]
