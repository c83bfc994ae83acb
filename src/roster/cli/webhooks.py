"""``roster webhook …`` (a tenant's endpoints) and ``roster worker`` (delivery without
the server). Same conventions as the other commands: ``--tenant``, ``--json`` prints one
JSON document, refusals exit 1, bad usage 2."""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
import typer
from sqlalchemy import Connection

from roster.cli.support import (
    JsonFlag,
    YesFlag,
    confirm,
    engine,
    fail,
    refusals,
    run,
    settings,
    show,
    tenant_id,
)
from roster.directory.outbound import webhooks
from roster.directory.outbound.webhook_delivery import Config, WebhookLoop, ping
from roster.directory.outbound.webhook_signature import new_secret

webhook_app = typer.Typer(
    help="Webhooks: signed deliveries of the tenant's events to its endpoints.",
    no_args_is_help=True,
)
TenantOpt = Annotated[str, typer.Option(help="Tenant name.")]
EndpointArg = Annotated[str, typer.Argument(help="The endpoint's id (`roster webhook list`).")]


def register(app: typer.Typer) -> None:
    app.add_typer(webhook_app, name="webhook")
    app.command("worker")(worker)


@webhook_app.command("add")
def add(
    tenant: TenantOpt,
    url: Annotated[str, typer.Option(help="https URL the events are POSTed to.")],
    events: Annotated[
        str | None,
        typer.Option(help="Comma-separated event types (default: every type)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add an endpoint; prints its signing secret, once."""
    config = Config.from_settings(settings())
    secret = new_secret()
    added = run(
        as_json,
        lambda c: webhooks.add(c, tenant_id(c, tenant), url, events, config.policy, secret),
    )
    data = {**webhooks.endpoint_json(added.endpoint), "secret": added.secret}
    show(
        as_json,
        data,
        f"webhook endpoint {added.endpoint.uid} added: {added.endpoint.url}\n"
        f"signing secret (shown once, keep it to verify signatures): {added.secret}",
    )


@webhook_app.command("list")
def list_endpoints(tenant: TenantOpt, as_json: JsonFlag = False) -> None:
    """The tenant's endpoints (never their secrets), with their waiting deliveries."""
    rows = run(as_json, lambda c: webhooks.listing(c, tenant_id(c, tenant)))
    lines = []
    for e, pending in rows:
        types = ",".join(e.event_types) if e.event_types else "all events"
        extra = f"  failing since {e.failing_since.isoformat()}Z" if e.failing_since else ""
        if e.disabled_reason:
            extra += f"  ({e.disabled_reason})"
        lines.append(f"{e.uid}  {e.status:<8} {e.url}  [{types}]  {pending} pending{extra}")
    show(
        as_json,
        [webhooks.endpoint_json(e, p) for e, p in rows],
        "\n".join(lines) or "no webhook endpoints",
    )


@webhook_app.command("remove")
def remove(
    tenant: TenantOpt, endpoint: EndpointArg, yes: YesFlag = False, as_json: JsonFlag = False
) -> None:
    """Remove an endpoint; what waits for it is dropped."""
    confirm(
        f"Remove webhook endpoint {endpoint!r} of tenant {tenant!r}? The deliveries waiting "
        "for it are dropped.",
        yes,
        as_json,
    )
    gone = run(as_json, lambda c: webhooks.remove(c, tenant_id(c, tenant), endpoint))
    show(as_json, {"removed": gone.uid}, f"webhook endpoint {gone.uid} removed")


@webhook_app.command("disable")
def disable(tenant: TenantOpt, endpoint: EndpointArg, as_json: JsonFlag = False) -> None:
    """Stop sending to an endpoint; its events keep queueing."""
    changed = run(as_json, lambda c: webhooks.disable(c, tenant_id(c, tenant), endpoint))
    word = "disabled" if changed else "was already disabled"
    show(as_json, {"id": endpoint, "status": "disabled", "changed": changed}, f"{endpoint} {word}")


@webhook_app.command("enable")
def enable(tenant: TenantOpt, endpoint: EndpointArg, as_json: JsonFlag = False) -> None:
    """Send to an endpoint again, starting with what queued while it was disabled."""
    changed = run(as_json, lambda c: webhooks.enable(c, tenant_id(c, tenant), endpoint))
    word = "enabled" if changed else "was already enabled"
    show(as_json, {"id": endpoint, "status": "enabled", "changed": changed}, f"{endpoint} {word}")


@webhook_app.command("test")
def test(tenant: TenantOpt, endpoint: EndpointArg, as_json: JsonFlag = False) -> None:
    """Send a signed ``ping`` now and show the answer (exit 1 when it failed)."""
    config = Config.from_settings(settings())
    with refusals(as_json), engine() as made, httpx.Client(follow_redirects=False) as client:
        with made.begin() as conn:
            tid = tenant_id(conn, tenant)
        outcome = ping(made, client, tid, endpoint, config)
    data: dict[str, Any] = {
        "ok": outcome.ok,
        "status": outcome.status_code,
        "latency_ms": round(outcome.latency_ms, 1),
        "error": outcome.error,
        "response": outcome.snippet,
    }
    if not outcome.ok:
        fail(f"ping failed: {outcome.error} ({outcome.latency_ms:.0f} ms)", as_json)
    human = f"ping delivered: HTTP {outcome.status_code} in {outcome.latency_ms:.0f} ms"
    show(as_json, data, human)


@webhook_app.command("deliveries")
def deliveries(
    tenant: TenantOpt,
    endpoint: Annotated[
        str | None, typer.Argument(help="Only this endpoint's (default: every endpoint's).")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many attempts (newest first).")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """Recent delivery attempts: status, latency, the start of the response."""

    def read(c: Connection) -> list[Any]:
        return webhooks.recent_attempts(c, tenant_id(c, tenant), endpoint, limit)

    rows = run(as_json, read)
    lines = []
    for a in rows:
        status = str(a.status_code) if a.status_code is not None else "---"
        why = f"  {a.error}" if a.error else ""
        body = f"  {a.response_snippet[:80]!r}" if a.response_snippet else ""
        lines.append(
            f"{a.at.isoformat(timespec='seconds')}Z {a.endpoint_uid} {status} "
            f"{a.latency_ms:7.1f} ms  #{a.attempt} {a.event_type} {a.message_id}{why}{body}"
        )
    show(as_json, [webhooks.attempt_json(a) for a in rows], "\n".join(lines) or "no attempts")


def _time(value: str, as_json: bool) -> datetime:
    try:
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        fail(f"--since {value!r} is not an ISO 8601 time (e.g. 2026-12-01T09:00:00Z)", as_json, 2)
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at


@webhook_app.command("replay")
def replay(
    tenant: TenantOpt,
    endpoint: EndpointArg,
    since: Annotated[str, typer.Option(help="ISO 8601 time (UTC unless it says otherwise).")],
    as_json: JsonFlag = False,
) -> None:
    """Send again every event since a time (same webhook-ids, in order per resource)."""
    at = _time(since, as_json)
    count = run(as_json, lambda c: webhooks.replay(c, tenant_id(c, tenant), endpoint, at))
    show(as_json, {"queued": count}, f"{count} events queued again for {endpoint}")


def worker(as_json: JsonFlag = False) -> None:
    """Deliver webhooks (and nothing else) until stopped: for deployments that run
    delivery apart from `roster serve` (set ROSTER_WEBHOOK_DELIVERY=false there). Any
    number may run on one PostgreSQL database."""
    config = Config.from_settings(settings())
    with refusals(as_json), engine() as made:
        loop = WebhookLoop(made, config)

        def stop(signum: int, _frame: object) -> None:
            loop.request_stop()  # the batch in flight finishes first

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        show(as_json, {"worker": "webhooks"}, "roster worker: delivering webhooks")
        loop.start()
        loop.wait()
        loop.stop()
