"""The event feed as the host app reads it: ``GET /api/v1/events`` (docs/events.md).

Events are ordered by ``(ordered_at, id)``: ``ordered_at`` is the database clock when the
change wrote them, after its row locks (directory/journal/change.py), so each resource's events
are in commit order. A page only holds events ordered before the *write horizon* (on
PostgreSQL the start of the oldest transaction in flight, storage/read_api): a
transaction still in flight writes its events after its own start, hence at or after
the horizon, so a consumer that follows the cursor never passes an event that has yet
to commit. On SQLite writers commit one at a time, in flush order: no horizon is needed.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from roster.directory.journal.events import TYPES
from roster.errors import CursorExpired, InvalidValue
from roster.storage import events as store
from roster.storage import system_log as log_store
from roster.storage import webhooks as webhook_store
from roster.storage.events import Event
from roster.storage.read_api import write_horizon

Json = dict[str, Any]


@dataclass(frozen=True)
class Page:
    items: list[Json]
    next_cursor: str | None


def _iso(at: datetime) -> str:
    return f"{at.isoformat(timespec='milliseconds')}Z"


def render(event: Event) -> Json:
    return {
        "id": event.uid,
        "type": event.type,
        "connection": event.connection_uid,
        "resource": {"type": event.resource_type, "id": event.resource_id},
        "actor": event.actor,
        "correlationId": event.request_id,
        "at": _iso(event.at),
        "data": event.data,
    }


def encode_cursor(event: Event) -> str:
    """The position after an event: its ordering time and public id (never the internal
    key, which would tell how many events other tenants caused)."""
    assert event.ordered_at is not None
    text = json.dumps([event.ordered_at.isoformat(timespec="microseconds"), event.uid])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, uid = json.loads(text)
        if not isinstance(at, str) or not isinstance(uid, str) or "\x00" in uid + at:
            raise ValueError(text)
        return datetime.fromisoformat(at).replace(tzinfo=None), uid
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidValue(f"cursor {cursor!r} is not one this API returned") from None


def parse_types(raw: str | None) -> list[str]:
    if not raw:
        return []
    types = [t.strip() for t in raw.split(",") if t.strip()]
    unknown = sorted({t for t in types if t not in TYPES})
    if unknown:
        raise InvalidValue(
            f"unknown event type(s) {', '.join(map(repr, unknown))}; known: {', '.join(TYPES)}"
        )
    return types


def retention_start(retention_days: float) -> datetime:
    return datetime.now(UTC).replace(tzinfo=None) - timedelta(days=retention_days)


def page(
    conn: Connection,
    tenant_id: int,
    *,
    after: str | None,
    limit: int,
    types: Sequence[str],
    retention_days: float,
) -> Page:
    """The events after ``after`` (a cursor from a previous page; none: from the oldest
    kept). ``nextCursor`` is never null: the feed has no end, a consumer polls it again
    with the last cursor it got (the same one when a page is empty)."""
    position = None
    if after:
        at, uid = decode_cursor(after)
        if at < retention_start(retention_days):
            raise CursorExpired(
                f"cursor is older than the event retention ({retention_days:g} days): events "
                "after it may have been pruned; resync from GET /api/v1/employees and follow "
                "the feed from a new cursor (GET /api/v1/events without one)"
            )
        position = (at, uid)
    horizon = write_horizon(conn)
    rows = store.page(conn, tenant_id, after=position, before=horizon, types=types, limit=limit)
    if rows:
        cursor: str | None = encode_cursor(rows[-1])
    else:
        cursor = after
    return Page([render(e) for e in rows], cursor)


def prune(conn: Connection, retention_days: float) -> int:
    """Delete the events older than the retention (every tenant's), and the webhook
    deliveries made and attempts recorded before it; returns how many events."""
    start = retention_start(retention_days)
    webhook_store.prune(conn, start)
    return store.prune(conn, start)


@dataclass(frozen=True)
class TrailItem:
    kind: str  # "log", "event" or "webhook"
    at: datetime
    json: Json
    line: str


def trail(conn: Connection, request_id: str, tenant_id: int | None = None) -> list[TrailItem]:
    """Everything one request or command caused: its log entries (the request's own,
    written when it ends, and the directory's notes) and its events, in the order they
    happened (entries and events both carry the time they were recorded, to the
    millisecond; at one time, entries first)."""
    items: list[TrailItem] = []
    for e in log_store.of_request(conn, request_id, tenant_id):
        data: Json = {"kind": "log", **{k: v for k, v in e.__dict__.items() if k != "id"}}
        data["at"] = _iso(e.at)
        what = f"{e.resource_type or ''} {e.resource_id or ''}".strip()
        why = f" {e.scim_type or ''} {e.detail or ''}".rstrip()
        line = f"{_iso(e.at)} log   {e.actor} {e.status} {e.method:<6} {e.path} {what}{why}"
        items.append(TrailItem("log", e.at, data, line))
    for ev in store.of_request(conn, request_id, tenant_id):
        data = {"kind": "event", **render(ev)}
        line = f"{_iso(ev.at)} event {ev.type} {ev.resource_type} {ev.resource_id} ({ev.uid})"
        items.append(TrailItem("event", ev.at, data, line))
    # Each attempt to deliver those events to a webhook endpoint (the event's
    # correlation id is the request's).
    for a in webhook_store.attempts_of_request(conn, request_id, tenant_id):
        data = {"kind": "webhook", **_attempt(a)}
        status = str(a.status_code) if a.status_code is not None else "---"
        why = f" {a.error}" if a.error else ""
        line = (
            f"{_iso(a.at)} hook  {a.event_type} -> {a.endpoint_uid} #{a.attempt} {status} "
            f"{a.latency_ms:.0f} ms ({a.message_id}){why}"
        )
        items.append(TrailItem("webhook", a.at, data, line))
    # Stable: entries keep their id order, events their feed order, attempts theirs.
    order = {"log": 0, "event": 1, "webhook": 2}
    return sorted(items, key=lambda i: (i.at, order[i.kind]))


def _attempt(a: webhook_store.Attempt) -> Json:
    return {
        "endpoint": a.endpoint_uid,
        "webhookId": a.message_id,
        "type": a.event_type,
        "attempt": a.attempt,
        "at": _iso(a.at),
        "status": a.status_code,
        "latencyMs": round(a.latency_ms, 1),
        "error": a.error,
        "response": a.response_snippet,
    }
