"""The directory's read side: employees, groups and locations as the host app sees them.

A page is rendered with a fixed number of statements whatever its length: each related
set (locations, references, SCIM users, groups) is loaded for the whole page at once.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from roster.directory.attributes.employee_fields import DEFAULT_MAPPING
from roster.directory.places import locations as location_actions
from roster.directory.reads import read_api_access
from roster.errors import InvalidValue, NotFound, UnknownLocation
from roster.scim.filter import parse_datetime
from roster.storage import employees as emp_store
from roster.storage import locations as loc_store
from roster.storage import read_api as reads
from roster.storage.employees import EmployeeRow
from roster.storage.read_api import EmployeeFilter

Json = dict[str, Any]
_FIELDS = [name for name, _, _ in DEFAULT_MAPPING if name not in ("email", "primaryLocation")]


def _iso(at: datetime) -> str:
    return f"{at.isoformat(timespec='milliseconds')}Z"


def encode_cursor(created_at: datetime, row_id: str) -> str:
    """The position after a row: its creation time and public id, both shown on the page
    (never an internal key, which would leak how many rows other tenants added)."""
    text = json.dumps([created_at.isoformat(timespec="microseconds"), row_id])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> reads.After | None:
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, row_id = json.loads(text)
        # No id holds NUL (and PostgreSQL cannot compare text with one): not ours.
        if not isinstance(at, str) or not isinstance(row_id, str) or "\x00" in row_id:
            raise ValueError(text)
        return datetime.fromisoformat(at), row_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidValue(f"cursor {cursor!r} is not one this API returned") from None


def render_employees(conn: Connection, tenant_id: int, rows: Sequence[EmployeeRow]) -> list[Json]:
    pks = [r.pk for r in rows]
    memberships = emp_store.locations_of(conn, tenant_id, pks)
    refs = emp_store.refs_of(conn, tenant_id, pks)
    targets = emp_store.by_pks(
        conn, tenant_id, (ref.target_pk for rs in refs.values() for ref in rs if ref.target_pk)
    )
    location_pks = [pk for s in memberships.values() for pk in s]
    location_pks += [r.primary_location_pk for r in rows if r.primary_location_pk]
    access = read_api_access.load(conn, tenant_id, pks)
    location_pks += access.location_pks()
    names = reads.location_names(conn, tenant_id, location_pks)
    connections = reads.connection_briefs(conn, tenant_id) if any(r.synced for r in rows) else {}
    resource_pks = [r.resource_pk for r in rows if r.resource_pk is not None]
    users = reads.users(conn, tenant_id, resource_pks)
    groups = reads.groups_of_users(conn, tenant_id, resource_pks)

    def place(pk: int) -> Json | None:
        loc = names.get(pk)
        return {"id": loc.id, "name": loc.name} if loc else None

    def person(pk: int) -> Json:
        t = targets[pk]
        return {"id": t.id, "email": t.email, "displayName": t.fields.get("displayName")}

    def ref_json(ref: emp_store.RefRow) -> Json:
        resolved = ref.target_pk is not None and ref.target_pk in targets
        return {
            "value": ref.raw,
            "resolved": resolved,
            "employee": person(ref.target_pk) if resolved and ref.target_pk else None,
        }

    out = []
    for r in rows:
        own_refs = refs[r.pk]
        manager = next((ref_json(x) for x in own_refs if x.kind == "manager"), None)
        source: Json = {"type": "synced" if r.synced else "manual", "connection": None}
        if r.connection_id is not None and r.connection_id in connections:
            c = connections[r.connection_id]
            user = users.get(r.resource_pk) if r.resource_pk is not None else None
            source["connection"] = {"id": c.uid, "name": c.name, "idp": c.idp, "status": c.status}
            source["scimUserId"] = user.id if user else None
            source["userName"] = user.name if user else None
        primary_value = r.fields.get("primaryLocation")
        primary_loc = names.get(r.primary_location_pk) if r.primary_location_pk else None
        item: Json = {"id": r.id, "email": r.email, "status": r.status}
        item.update({name: r.fields.get(name) for name in _FIELDS})
        item.update(
            primaryLocation=(
                {
                    "value": primary_value,
                    "location": (
                        {"id": primary_loc.id, "name": primary_loc.name} if primary_loc else None
                    ),
                }
                if primary_value
                else None
            ),
            manager=manager,
            assistants=[ref_json(x) for x in own_refs if x.kind == "assistant"],
            locations=sorted(
                ({"id": names[pk].id, "name": names[pk].name} for pk in memberships[r.pk]),
                key=lambda loc: loc["name"],
            ),
            groups=[
                {"id": g.id, "displayName": g.name, "connection": connections[cid].uid}
                for g, cid in (groups.get(r.resource_pk, []) if r.resource_pk else [])
                if cid in connections
            ],
            **access.render(r.pk, place),
            customFields=dict(r.fields.get("custom") or {}),
            source=source,
            createdAt=_iso(r.created_at),
            updatedAt=_iso(r.updated_at),
        )
        out.append(item)
    return out


def _filter(
    conn: Connection,
    tenant_id: int,
    status: str | None,
    email: str | None,
    location: str | None,
    source: str | None,
    updated_since: str | None,
) -> EmployeeFilter:
    if status not in (None, "active", "inactive"):
        raise InvalidValue("status must be active or inactive")
    location_pk = None
    if location:
        try:
            location_pk = location_actions.get(conn, tenant_id, location).pk
        except NotFound:
            raise UnknownLocation(location) from None
    connection_id = None
    if source not in (None, "manual", "synced"):
        found = [c for c in reads.connection_briefs(conn, tenant_id).values() if c.uid == source]
        if not found:
            raise InvalidValue("source must be manual, synced, or a connection id of this tenant")
        connection_id = found[0].id
    since = None
    if updated_since:
        try:
            since = parse_datetime(updated_since).replace(tzinfo=None)
        except ValueError:
            raise InvalidValue(f"updated_since {updated_since!r} is no ISO 8601 time") from None
    return EmployeeFilter(
        status=status,
        # Exact and case-insensitive, as employees are joined by email (the email_key).
        email_key=email.strip().lower() if email is not None else None,
        location_pk=location_pk,
        source=source if source in ("manual", "synced") else None,
        connection_id=connection_id,
        updated_since=since,
        # A poller takes its next updated_since from what it saw: rows newer than a write
        # still in flight wait until it commits, so that write's older time is never
        # skipped (docs/design/write-path.md).
        updated_before=reads.write_horizon(conn) if since is not None else None,
    )


def list_employees(
    conn: Connection,
    tenant_id: int,
    *,
    status: str | None = None,
    email: str | None = None,
    location: str | None = None,
    source: str | None = None,
    updated_since: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> tuple[list[Json], str | None]:
    """A page of employees in a stable order, and the cursor of the next (None at the end)."""
    where = _filter(conn, tenant_id, status, email, location, source, updated_since)
    rows = reads.employee_page(conn, tenant_id, where, decode_cursor(cursor), limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more and rows else None
    return render_employees(conn, tenant_id, rows), (
        encode_cursor(last.created_at, last.id) if last is not None else None
    )


def count_employees(
    conn: Connection,
    tenant_id: int,
    *,
    status: str | None = None,
    email: str | None = None,
    location: str | None = None,
    source: str | None = None,
    updated_since: str | None = None,
) -> int:
    """How many employees ``list_employees`` pages through with the same filters."""
    where = _filter(conn, tenant_id, status, email, location, source, updated_since)
    return reads.count_employees(conn, tenant_id, where)


def get_employee(conn: Connection, tenant_id: int, employee_id: str) -> Json:
    row = emp_store.by_id(conn, tenant_id, employee_id)
    if row is None:
        raise NotFound(f"no employee {employee_id!r}")
    return render_employees(conn, tenant_id, [row])[0]


def list_groups(
    conn: Connection, tenant_id: int, *, cursor: str | None = None, limit: int = 100
) -> tuple[list[Json], str | None]:
    page = reads.group_page(conn, tenant_id, decode_cursor(cursor), limit + 1)
    more = len(page) > limit
    page = page[:limit]
    members = reads.employee_members(conn, tenant_id, [g.pk for g, _, _ in page])
    connections = reads.connection_briefs(conn, tenant_id)
    items = [
        {
            "id": g.id,
            "displayName": g.name,
            "connection": connections[cid].uid if cid in connections else None,
            "members": [{"id": e.id, "email": e.email, "status": e.status} for e in members[g.pk]],
        }
        for g, cid, _ in page
    ]
    if more and page:
        last, _, created_at = page[-1]
        return items, encode_cursor(created_at, last.id)
    return items, None


def list_locations(conn: Connection, tenant_id: int) -> list[Json]:
    counts = loc_store.member_counts(conn, tenant_id)
    return [
        {
            "id": loc.id,
            "name": loc.name,
            "cities": loc.cities,
            "locales": loc.locales,
            "employeeCount": counts.get(loc.pk, 0),
        }
        for loc in loc_store.all_of(conn, tenant_id)
    ]
