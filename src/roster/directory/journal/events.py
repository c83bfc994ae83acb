"""Change events for the host app (docs/events.md): what each one carries, and the
actions' one way to record them (the unit of work writes them with its log entries, in
the change's transaction: directory/journal/change.py).

An event's ``data`` is the resource's state after the change, built from the rows the
change already holds (no extra reads on the write path): an employee's own fields as
``GET /api/v1/employees/{id}`` renders them, without the related sets that need reads of
their own (manager, assistants, locations, groups, roles, access); a deleted resource
leaves a tombstone (its id, email or name, and source connection).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from roster.directory.attributes.employee_fields import DEFAULT_MAPPING
from roster.directory.journal.change import current
from roster.storage.employees import EmployeeRow
from roster.storage.resources import MemberRef, StoredResource

Json = dict[str, Any]

EMPLOYEE_TYPES = (
    "employee.created",
    "employee.updated",
    "employee.deactivated",
    "employee.reactivated",
    "employee.deleted",
    "employee.location_changed",
)
GROUP_TYPES = (
    "group.created",
    "group.updated",
    "group.deleted",
    "group.member_added",
    "group.member_removed",
)
CONNECTION_TYPES = ("connection.activated", "connection.deactivated", "connection.deleted")
ACCESS_TYPES = ("role.granted", "role.revoked", "access.granted", "access.revoked")
TYPES = (*EMPLOYEE_TYPES, *GROUP_TYPES, *CONNECTION_TYPES, *ACCESS_TYPES)

_FIELDS = [name for name, _, _ in DEFAULT_MAPPING if name not in ("email", "primaryLocation")]


def _iso(at: datetime) -> str:
    return f"{at.isoformat(timespec='milliseconds')}Z"


def employee_data(row: EmployeeRow, connection_uid: str | None) -> Json:
    item: Json = {"id": row.id, "email": row.email, "status": row.status}
    item.update({name: row.fields.get(name) for name in _FIELDS})
    item["primaryLocation"] = row.fields.get("primaryLocation")
    item["customFields"] = dict(row.fields.get("custom") or {})
    item["source"] = {
        "type": "synced" if row.synced else "manual",
        "connection": connection_uid if row.synced else None,
    }
    item["createdAt"] = _iso(row.created_at)
    item["updatedAt"] = _iso(row.updated_at)
    return item


def _changed_fields(before: EmployeeRow, after: EmployeeRow) -> list[str]:
    changed = [] if before.email == after.email else ["email"]
    old, new = before.fields, after.fields
    keys = [k for k in dict.fromkeys([*new, *old]) if k != "custom"]
    changed += sorted(k for k in keys if old.get(k) != new.get(k))
    old_custom, new_custom = old.get("custom") or {}, new.get("custom") or {}
    changed += sorted(
        f"customFields.{k}"
        for k in dict.fromkeys([*new_custom, *old_custom])
        if old_custom.get(k) != new_custom.get(k)
    )
    if before.connection_id != after.connection_id:
        changed.append("source")
    return changed


def employee_synced(
    conn: Connection,
    tenant_id: int,
    connection_uid: str,
    before: EmployeeRow | None,
    after: EmployeeRow,
) -> None:
    """A sync created, linked or updated ``after``: created, deactivated / reactivated,
    updated (with the changed fields), or nothing when nothing changed."""
    change = current(conn, tenant_id)
    data = employee_data(after, connection_uid)
    if before is None:
        change.emit("employee.created", "Employee", after.id, data)
        return
    if before.status != after.status:
        verb = "deactivated" if after.status == "inactive" else "reactivated"
        change.emit(f"employee.{verb}", "Employee", after.id, data)
    fields = _changed_fields(before, after)
    if fields:
        change.emit("employee.updated", "Employee", after.id, {**data, "changedFields": fields})


def employee_added(conn: Connection, tenant_id: int, row: EmployeeRow) -> None:
    current(conn, tenant_id).emit(
        "employee.created", "Employee", row.id, employee_data(row, None), actor="admin"
    )


def employee_edited(
    conn: Connection, tenant_id: int, before: EmployeeRow, after: EmployeeRow
) -> None:
    """An admin edited a manual employee: updated, with the changed fields (nothing when
    nothing changed)."""
    fields = _changed_fields(before, after)
    if fields:
        current(conn, tenant_id).emit(
            "employee.updated",
            "Employee",
            after.id,
            {**employee_data(after, None), "changedFields": fields},
            actor="admin",
        )


def employees_made_manual(
    conn: Connection, tenant_id: int, connection_uid: str, rows: Sequence[EmployeeRow]
) -> None:
    """Their connection was deleted: each employee stays, as a manual one.
    ``employee.updated`` with ``changedFields`` ``["source"]`` (its data says
    ``source.type`` ``manual``); the event's ``connection`` is the deleted connection."""
    change = current(conn, tenant_id)
    for row in rows:
        change.emit(
            "employee.updated",
            "Employee",
            row.id,
            {**employee_data(row, None), "changedFields": ["source"]},
            connection_uid=connection_uid,
            actor="admin",
        )


def changed_fields(before: EmployeeRow, after: EmployeeRow) -> list[str]:
    return _changed_fields(before, after)


def employee_deleted(
    conn: Connection,
    tenant_id: int,
    row: EmployeeRow,
    connection_uid: str | None,
    *,
    actor: str | None = None,
) -> None:
    current(conn, tenant_id).emit(
        "employee.deleted",
        "Employee",
        row.id,
        {
            "id": row.id,
            "email": row.email,
            "source": {"type": "synced" if row.synced else "manual", "connection": connection_uid},
        },
        actor=actor,
    )


def group_data(group: StoredResource, connection_uid: str) -> Json:
    return {
        "id": group.id,
        "displayName": group.doc.get("displayName"),
        "externalId": group.external_id,
        "connection": connection_uid,
        "updatedAt": _iso(group.updated_at),
    }


def group_changed(
    conn: Connection, tenant_id: int, connection_uid: str, kind: str, group: StoredResource
) -> None:
    """group.created / group.updated / group.deleted (a tombstone: id, name, connection)."""
    data = group_data(group, connection_uid)
    if kind == "deleted":
        data = {k: data[k] for k in ("id", "displayName", "externalId", "connection")}
    current(conn, tenant_id).emit(f"group.{kind}", "Group", group.id, data)


def members_changed(
    conn: Connection,
    tenant_id: int,
    connection_uid: str,
    kind: str,
    group: StoredResource,
    members: Sequence[MemberRef],
) -> None:
    """One ``group.member_added`` / ``group.member_removed`` per member (in the order the
    request named them), so a consumer's per-resource order holds for each member too."""
    change = current(conn, tenant_id)
    brief = {"id": group.id, "displayName": group.doc.get("displayName")}
    for m in dict.fromkeys(members):
        change.emit(
            f"group.member_{kind}",
            "Group",
            group.id,
            {
                "group": brief,
                "member": {"id": m.id, "type": m.resource_type, "display": m.display},
                "connection": connection_uid,
            },
        )


def connection_changed(
    conn: Connection, tenant_id: int, connection_uid: str, kind: str, data: Json
) -> None:
    current(conn, tenant_id).emit(
        f"connection.{kind}",
        "Connection",
        connection_uid,
        {"id": connection_uid, **data},
        connection_uid=connection_uid,
        actor="admin",
    )


def access_changed(
    conn: Connection,
    tenant_id: int,
    connection_uid: str | None,
    employee: EmployeeRow,
    rule: tuple[str, str] | None,
    changes: Sequence[tuple[str, str, str, str]],
) -> None:
    """What an evaluation of the rules (and of role-mapped groups) granted or revoked:
    ``role.granted`` / ``role.revoked`` (a role replaced by another is granted, naming
    both), ``access.granted`` / ``access.revoked`` for an access group, location access
    or the mobile key. ``rule``: the id and name of the rule that fired; ``changes``:
    (kind, what, change, detail) as access.Change says them. The actor is ``rules``."""
    change = current(conn, tenant_id)
    for kind, what, how, detail in changes:
        if how == "keep":
            continue
        family = "role" if kind == "role" else "access"
        verb = "revoked" if how == "lose" else "granted"
        change.emit(
            f"{family}.{verb}",
            "Employee",
            employee.id,
            {
                "employee": {"id": employee.id, "email": employee.email},
                "kind": kind,
                "what": what,
                "detail": detail,
                "rule": {"id": rule[0], "name": rule[1]} if rule else None,
            },
            connection_uid=connection_uid,
            actor="rules",
        )


def role_set_by_admin(
    conn: Connection,
    tenant_id: int,
    employee: EmployeeRow,
    verb: str,
    what: str,
    detail: str,
) -> None:
    """``roster role assign|unassign``: ``role.granted`` / ``role.revoked`` with actor
    ``admin`` and no rule (the same shape as an evaluation's)."""
    current(conn, tenant_id).emit(
        f"role.{verb}",
        "Employee",
        employee.id,
        {
            "employee": {"id": employee.id, "email": employee.email},
            "kind": "role",
            "what": what,
            "detail": detail,
            "rule": None,
        },
        actor="admin",
    )


def location_changed(
    conn: Connection,
    tenant_id: int,
    connection_uid: str | None,
    employee: EmployeeRow,
    now_in: Sequence[str],
    was_in: Sequence[str],
    *,
    actor: str | None = None,
) -> None:
    """The employee's locations changed (placement by a sync, or an admin's choice for a
    manual employee): the location names now and before, sorted."""
    locations_moved(
        conn, tenant_id, connection_uid, employee.id, employee.email, now_in, was_in, actor=actor
    )


def locations_moved(
    conn: Connection,
    tenant_id: int,
    connection_uid: str | None,
    employee_id: str,
    email: str,
    now_in: Sequence[str],
    was_in: Sequence[str],
    *,
    primary: tuple[str | None, str | None] | None = None,
    actor: str | None = None,
) -> None:
    """``employee.location_changed``: the location names now and before, sorted; with
    ``primary`` (the location its primary location resolves to, now and before) when an
    admin's change moved that too (a location added or removed, a mapping changed)."""
    data: Json = {
        "employee": {"id": employee_id, "email": email},
        "locations": sorted(now_in),
        "previous": sorted(was_in),
    }
    if primary is not None:
        data["primaryLocation"], data["previousPrimaryLocation"] = primary
    current(conn, tenant_id).emit(
        "employee.location_changed",
        "Employee",
        employee_id,
        data,
        connection_uid=connection_uid,
        actor=actor,
    )
