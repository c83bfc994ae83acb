"""A tenant's webhook endpoints: add (with its signing secret), list, remove, disable,
enable, replay, and the recent attempts (docs/events.md, "Webhooks"). Delivery itself
is directory/outbound/webhook_delivery.py.

The signing secret is stored as issued: Roster must compute HMACs with it on every
delivery, so a one-way hash would make it useless, and encrypting it with a key kept
beside it (in the same settings, read by the same process) would protect nothing that
database access does not already reach. It is shown once, when the endpoint is added,
and never listed; to rotate it, add a new endpoint and remove the old one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from roster.directory.journal.change import now
from roster.directory.journal.system_log import note
from roster.directory.outbound.webhook_urls import UrlPolicy, check
from roster.directory.reads.feed import parse_types, render
from roster.errors import InvalidValue, NotFound
from roster.storage import events as event_store
from roster.storage import webhooks as store
from roster.storage.events import Event
from roster.storage.webhooks import Attempt, Endpoint, NewDelivery

Json = dict[str, Any]
REPLAY_MAX = 100_000


@dataclass(frozen=True)
class Added:
    endpoint: Endpoint
    secret: str  # shown once


def payload(event: Event) -> str:
    """A delivery's body: the event as the feed renders it, with the ``timestamp`` the
    Standard Webhooks payload structure names."""
    item = render(event)
    return json.dumps({**item, "timestamp": item["at"]}, separators=(",", ":"))


def new_delivery(event: Event) -> NewDelivery:
    assert event.id is not None
    return NewDelivery(
        event.id,
        event.uid,
        event.type,
        f"{event.resource_type}/{event.resource_id}",
        event.request_id,
        payload(event),
    )


def add(
    conn: Connection,
    tenant_id: int,
    url: str,
    event_types: str | None,
    policy: UrlPolicy,
    secret: str,
) -> Added:
    checked = check(url, policy)
    types = parse_types(event_types) or None
    endpoint = store.add_endpoint(conn, tenant_id, str(uuid.uuid4()), checked, secret, types, now())
    note(
        conn,
        tenant_id,
        None,
        "webhook.added",
        f"webhook endpoint {endpoint.uid} added: {checked} "
        f"({', '.join(types) if types else 'every event type'})",
        actor="admin",
    )
    return Added(endpoint, secret)


def get(conn: Connection, tenant_id: int, uid: str) -> Endpoint:
    endpoint = store.get_endpoint(conn, tenant_id, uid.strip())
    if endpoint is None:
        raise NotFound(f"no webhook endpoint {uid!r}; see `roster webhook list`")
    return endpoint


def listing(conn: Connection, tenant_id: int) -> list[tuple[Endpoint, int]]:
    """Each endpoint with how many deliveries wait for it."""
    counts = store.pending_counts(conn, tenant_id)
    return [(e, counts.get(e.pk, 0)) for e in store.endpoints(conn, tenant_id)]


def with_pending(conn: Connection, tenant_id: int, uid: str) -> tuple[Endpoint, int]:
    """The tenant's endpoint ``uid`` and how many deliveries wait for it."""
    endpoint = get(conn, tenant_id, uid)
    return endpoint, store.pending_counts(conn, tenant_id, endpoint.pk).get(endpoint.pk, 0)


def remove(conn: Connection, tenant_id: int, uid: str) -> Endpoint:
    endpoint = get(conn, tenant_id, uid)
    store.remove_endpoint(conn, tenant_id, endpoint.pk)
    note(
        conn,
        tenant_id,
        None,
        "webhook.removed",
        f"webhook endpoint {endpoint.uid} removed ({endpoint.url}); its pending "
        "deliveries are dropped",
        actor="admin",
    )
    return endpoint


def disable(
    conn: Connection, tenant_id: int, uid: str, reason: str = "disabled by an admin"
) -> bool:
    endpoint = get(conn, tenant_id, uid)
    changed = store.set_status(conn, tenant_id, endpoint.pk, store.DISABLED, reason)
    if changed:
        note(
            conn,
            tenant_id,
            None,
            "webhook.disabled",
            f"webhook endpoint {endpoint.uid} disabled ({endpoint.url}): {reason}; events "
            "are still queued for it",
            actor="admin",
        )
    return changed


def enable(conn: Connection, tenant_id: int, uid: str) -> bool:
    """Enabled again: what queued while it was disabled goes out now, in order."""
    endpoint = get(conn, tenant_id, uid)
    changed = store.set_status(conn, tenant_id, endpoint.pk, store.ENABLED, None)
    if changed:
        store.retry_now(conn, tenant_id, endpoint.pk, now())
        note(
            conn,
            tenant_id,
            None,
            "webhook.enabled",
            f"webhook endpoint {endpoint.uid} enabled ({endpoint.url})",
            actor="admin",
        )
    return changed


def replay(conn: Connection, tenant_id: int, uid: str, since: datetime) -> int:
    """Queue again every event of the endpoint's types ordered since ``since`` that the
    endpoint has already been sent (or that came before it existed), with the same
    webhook-ids; returns how many. Events after the endpoint's position are queued by
    delivery as usual."""
    endpoint = get(conn, tenant_id, uid)
    types = endpoint.event_types or []
    items: list[NewDelivery] = []
    after: tuple[datetime, str] | None = (since, "")
    while True:
        rows = event_store.page(conn, tenant_id, after=after, before=None, types=types, limit=1000)
        for row in rows:
            assert row.ordered_at is not None
            if (row.ordered_at, row.uid) >= (endpoint.cursor_at, endpoint.cursor_uid):
                rows = []
                break
            items.append(new_delivery(row))
        if not rows or len(items) >= REPLAY_MAX:
            break
        last = rows[-1]
        assert last.ordered_at is not None
        after = (last.ordered_at, last.uid)
    if len(items) > REPLAY_MAX:
        raise InvalidValue(f"more than {REPLAY_MAX} events since then; pick a later --since")
    store.requeue(conn, tenant_id, endpoint.pk, items, now())
    note(
        conn,
        tenant_id,
        None,
        "webhook.replayed",
        f"{len(items)} events since {since.isoformat()}Z queued again for webhook endpoint "
        f"{endpoint.uid}",
        actor="admin",
    )
    return len(items)


def recent_attempts(conn: Connection, tenant_id: int, uid: str | None, limit: int) -> list[Attempt]:
    endpoint_pk = get(conn, tenant_id, uid).pk if uid else None
    return store.recent_attempts(conn, tenant_id, endpoint_pk=endpoint_pk, limit=limit)


def endpoint_json(endpoint: Endpoint, pending: int | None = None) -> Json:
    out: Json = {
        "id": endpoint.uid,
        "url": endpoint.url,
        "events": endpoint.event_types,
        "status": endpoint.status,
        "disabled_reason": endpoint.disabled_reason,
        "created_at": f"{endpoint.created_at.isoformat()}Z",
        "failing_since": (
            f"{endpoint.failing_since.isoformat()}Z" if endpoint.failing_since else None
        ),
    }
    if pending is not None:
        out["pending"] = pending
    return out


def attempt_json(a: Attempt) -> Json:
    return {
        "endpoint": a.endpoint_uid,
        "webhook_id": a.message_id,
        "type": a.event_type,
        "correlation_id": a.request_id,
        "attempt": a.attempt,
        "at": f"{a.at.isoformat()}Z",
        "status": a.status_code,
        "latency_ms": round(a.latency_ms, 1),
        "error": a.error,
        "response": a.response_snippet,
    }


__all__: Sequence[str] = [
    "Added",
    "add",
    "attempt_json",
    "disable",
    "enable",
    "endpoint_json",
    "get",
    "listing",
    "payload",
    "recent_attempts",
    "remove",
    "replay",
]
