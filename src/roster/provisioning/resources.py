"""SCIM resource actions: create, read, search, replace, patch and delete Users and Groups.

Each runs inside the caller's transaction; the HTTP layer writes the system-log entry in
the same transaction and commits, or rolls everything back and logs the rejection.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from roster.directory.entitlements import group_bindings
from roster.directory.journal import events
from roster.directory.journal.clock import now, write_time
from roster.directory.people import employees
from roster.directory.settings.context import ConnectionContext
from roster.errors import (
    InvalidValue,
    NotFound,
    UniquenessConflict,
)
from roster.rules.model import fold
from roster.scim import dialects, document, rendering, versioning
from roster.scim.filter import element_matches
from roster.scim.patch import (
    MemberChange,
    PatchOptions,
    apply_patch,
    ids_named,
    member_ids_in,
    parse_operations,
    parse_path,
)
from roster.scim.schema import ENTERPRISE_USER, GROUP, ResourceType
from roster.scim.search import SearchQuery
from roster.storage import resources as store
from roster.storage.filtering import (
    Scope,
    unique_match,
)
from roster.storage.integrity import unique_key
from roster.storage.resources import MemberRef, StoredResource

Doc = dict[str, Any]


@dataclass(frozen=True)
class Result:
    """A resource as rendered (before attribute projection) and its stored row."""

    stored: StoredResource
    body: Doc
    # What the request's log entry warns of: member values that named no user or group of
    # the connection, skipped (strict_members off); a user kept out of the directory.
    warnings: tuple[str, ...] = ()

    @property
    def etag(self) -> str:
        return versioning.etag(self.stored.version)


def location(ctx: ConnectionContext, rt: ResourceType, resource_id: str) -> str:
    return rendering.location(ctx.base_url, rt, resource_id)


def render(
    ctx: ConnectionContext,
    rt: ResourceType,
    stored: StoredResource,
    related: list[MemberRef] | None,
) -> Doc:
    """The full resource: members (Group) or groups (User) when ``related`` was loaded."""
    return rendering.resource(
        rt,
        ctx.base_url,
        stored.id,
        stored.doc,
        created=stored.created_at,
        last_modified=stored.updated_at,
        version=stored.version,
        related=related,
    )


def _related_name(rt: ResourceType) -> str:
    return "members" if rt.name == "Group" else "groups"


def _load_related(
    conn: Connection, scope: Scope, rt: ResourceType, pks: list[int]
) -> dict[int, list[MemberRef]]:
    if rt.name == "Group":
        return store.members_of(conn, scope, pks)
    return store.groups_of(conn, scope, pks)


def _get(
    conn: Connection,
    ctx: ConnectionContext,
    rt: ResourceType,
    resource_id: str,
    *,
    for_update: bool = False,
) -> StoredResource:
    stored = store.get(conn, ctx.scope(rt), resource_id, for_update=for_update)
    if stored is None:
        raise NotFound(f"{rt.name} {resource_id} not found")
    return stored


def read(
    conn: Connection,
    ctx: ConnectionContext,
    rt: ResourceType,
    resource_id: str,
    attributes: list[str],
    excluded: list[str],
    if_none_match: str | None = None,
) -> Result:
    stored = _get(conn, ctx, rt, resource_id)
    versioning.check_if_none_match(stored.version, if_none_match)
    related = None
    if document.wants(rt, _related_name(rt), attributes, excluded):
        related = _load_related(conn, ctx.scope(rt), rt, [stored.pk])[stored.pk]
    return Result(stored, render(ctx, rt, stored, related))


def search(
    conn: Connection,
    ctx: ConnectionContext,
    rt: ResourceType,
    query: SearchQuery,
    *,
    max_sorted: int | None = None,
) -> tuple[int, list[Result]]:
    scope = ctx.scope(rt)
    unique = (
        unique_match(scope, query.filter)
        if query.filter is not None and query.sort_by is None and query.start_index == 1
        else None
    )
    if unique is not None:
        # At most one match (an IdP's lookup before it creates): no statement to build.
        found = store.find_unique(conn, scope, *unique)
        rows = found[: query.count]
        return len(found), _results(conn, ctx, rt, query, rows)
    wanted = store.ResourceQuery(
        query.filter,
        query.sort_by,
        query.descending,
        query.start_index - 1,
        query.count,
        max_sorted,
    )
    total, rows = store.query(conn, scope, wanted)
    return total, _results(conn, ctx, rt, query, rows)


def _results(
    conn: Connection,
    ctx: ConnectionContext,
    rt: ResourceType,
    query: SearchQuery,
    rows: list[StoredResource],
) -> list[Result]:
    related: dict[int, list[MemberRef]] | None = None
    if rows and document.wants(rt, _related_name(rt), query.attributes, query.excluded):
        related = _load_related(conn, ctx.scope(rt), rt, [r.pk for r in rows])
    return [
        Result(r, render(ctx, rt, r, related[r.pk] if related is not None else None)) for r in rows
    ]


def _prepare(rt: ResourceType, body: Any) -> tuple[Doc, list[Any] | None]:
    doc = document.normalise(rt, body)
    # Passwords are accepted (Okta sends one) but never stored (RFC 7643 §4.1.1: writeOnly).
    doc.pop("password", None)
    members = doc.pop("members", None) if rt.name == "Group" else None
    return doc, members


def _settle_manager(
    conn: Connection,
    ctx: ConnectionContext,
    rt: ResourceType,
    old: Doc | None,
    new: Doc,
    own_id: str | None,
) -> None:
    """RFC 7643 §4.3: ``manager`` is ``{"value", "$ref", "displayName"}``, with ``$ref`` and
    ``displayName`` the server's to fill. Entra sends only the id (a bare string, turned
    into an object by dialects.manager_shapes) and expects the object back ([ISSUES]
    Budibase #15369); Okta sends the manager's email as displayName and keeps it.

    ``$ref`` always follows ``value`` (a client's own ``$ref`` is not trusted). When
    ``value`` changes, a displayName carried over unchanged from the old manager is stale
    and is replaced by the new manager's; one the client sent is kept.
    """
    if rt.name != "User":
        return
    manager = (new.get(ENTERPRISE_USER) or {}).get("manager")
    if not isinstance(manager, dict):
        return
    before = ((old or {}).get(ENTERPRISE_USER) or {}).get("manager") or {}
    value = manager.get("value")
    if "value" not in manager and isinstance(manager.get("displayName"), str):
        # RFC 7643 §4.3 makes value REQUIRED, but Okta tenants that map only
        # managerDisplayName (the manager's email, which Envoy reads) send just that.
        manager.pop("$ref", None)
        if manager["displayName"].strip():
            return
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(
            f"{ENTERPRISE_USER}:manager needs a non-empty value (the manager's id) or, as "
            "Okta's managerDisplayName, a displayName; to clear the manager, remove it"
        )
    if value == own_id:
        raise InvalidValue(f"a user cannot be their own manager ({value})")
    if value == before.get("value") and "$ref" in before:
        # Unchanged (Entra re-sends the same manager every cycle): no lookup.
        manager["$ref"] = before["$ref"]
        return
    stored = store.get(conn, ctx.scope(rt), value) if len(value) <= 64 else None
    manager.pop("$ref", None)
    stale = value != before.get("value") and manager.get("displayName") == before.get("displayName")
    if stale:
        manager.pop("displayName", None)
    if stored is not None:
        manager["$ref"] = location(ctx, rt, stored.id)
        name = stored.doc.get("displayName")
        if "displayName" not in manager and isinstance(name, str):
            manager["displayName"] = name


def _check_unique(
    conn: Connection, scope: Scope, rt: ResourceType, doc: Doc, current: StoredResource
) -> None:
    """Before a rename: is the new userName/displayName another resource's? (Unchanged
    keys need no look.)"""
    key = store.identity_columns(rt, doc)["unique_key"]
    before = store.identity_columns(rt, current.doc)["unique_key"] if current.doc else None
    if key == before:
        return
    if store.unique_key_taken(conn, scope, key, current.pk):
        name = "userName" if rt.name == "User" else "displayName"
        raise UniquenessConflict(
            f"{name} {doc[name]!r} is already used by another {rt.name} of this connection"
        )


def _resolve_members(
    conn: Connection,
    scope: Scope,
    ids: list[str],
    *,
    strict: bool,
    skipped: list[str] | None = None,
    known: dict[str, MemberRef] | None = None,
    displays: Mapping[str, str] | None = None,
    displays_out: dict[int, str] | None = None,
) -> list[int]:
    """The member pks of ``ids``. Ids naming nothing of this connection are refused when
    ``strict`` (setting strict_members), else skipped and appended to ``skipped``: one
    member deleted between an IdP's reads must not fail (and retry for ever) a whole push.
    ``known``: what a lookup of every id the request names found (store.get_with_named),
    so no second look is needed."""
    found = known if known is not None else store.find_members(conn, scope, ids)
    missing = [i for i in ids if i not in found]
    if missing and strict:
        raise InvalidValue(
            f"members not found in this connection: {', '.join(missing[:10])}"
            + (" …" if len(missing) > 10 else "")
            + " (setting strict_members is on)"
        )
    if skipped is not None:
        skipped.extend(i for i in dict.fromkeys(missing) if i not in skipped)
    if displays and displays_out is not None:
        # The member's display as sent (RFC 7643 §2.4), kept by the membership row.
        displays_out.update((found[i].pk, d) for i, d in displays.items() if i in found)
    return [found[i].pk for i in ids if i in found]


def skipped_note(skipped: tuple[str, ...]) -> str:
    """The warning a request's log entry carries for the members it skipped."""
    shown = ", ".join(repr(i if len(i) <= 100 else i[:100] + "…") for i in skipped[:10])
    more = f" and {len(skipped) - 10} more" if len(skipped) > 10 else ""
    return (
        f"warning: skipped {len(skipped)} member value(s) naming no user or group of this "
        f"connection: {shown}{more} (the other members applied; strict_members=true refuses "
        "such requests)"
    )


def _member_ids(values: list[Any]) -> list[str]:
    ids = []
    for i, item in enumerate(values):
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise InvalidValue(f"members[{i}] must be an object with a string value (a member id)")
        ids.append(item["value"])
    return ids


DISPLAY_CHARS = 256  # memberships.display (storage/tables.py)


def member_displays(values: Iterable[Any]) -> dict[str, str]:
    """Member id -> the ``display`` sent with it (sub-attribute names in any case, RFC
    7643 §2.1). Longer than the directory keeps: 400 naming the member."""
    out: dict[str, str] = {}
    for item in values:
        if not isinstance(item, dict):
            continue
        lowered = {str(k).lower(): v for k, v in item.items()}
        value, display = lowered.get("value"), lowered.get("display")
        if isinstance(value, str) and isinstance(display, str) and display.strip():
            if len(display) > DISPLAY_CHARS:
                raise InvalidValue(
                    f"members: the display of {value!r} is {len(display)} characters long; "
                    f"at most {DISPLAY_CHARS} are kept"
                )
            out[value] = display
    return out


def create(conn: Connection, ctx: ConnectionContext, rt: ResourceType, body: Any) -> Result:
    scope = ctx.scope(rt)
    doc, members = _prepare(rt, body)
    _settle_manager(conn, ctx, rt, None, doc, None)
    at = write_time(conn, ctx.tenant_id)
    # The unique key is checked by the insert itself (ON CONFLICT DO NOTHING): one
    # statement, and a concurrent create of the same name waits and then gets the 409.
    stored = store.insert_resource(conn, scope, doc, at)
    if stored is None:
        raise _conflict(rt, doc)
    warning = employees.after_write(conn, ctx, rt.name, stored, created=True)
    if rt.name == "Group":
        group_bindings.arrived(conn, ctx, stored)  # mappings and rules waiting for its name
        events.group_changed(conn, ctx.tenant_id, ctx.connection_uid, "created", stored)
    related: list[MemberRef] = []
    skipped: list[str] = []
    if members:
        strict = ctx.settings.strict_members
        shown: dict[int, str] = {}
        pks = _resolve_members(
            conn,
            scope,
            _member_ids(members),
            strict=strict,
            skipped=skipped,
            displays=member_displays(members),
            displays_out=shown,
        )
        added = store.add_members(conn, scope, stored.pk, pks, at, displays=shown)
        _member_events(conn, ctx, stored, "added", added)
        employees.groups_changed(conn, ctx, stored.pk, pks)
        related = store.members_of(conn, scope, [stored.pk])[stored.pk]
    employees.operation_done(conn, ctx)
    return Result(stored, render(ctx, rt, stored, related), _warnings(warning, skipped))


def _warnings(user: str | None, skipped: list[str]) -> tuple[str, ...]:
    found = [user] if user else []
    if skipped:
        found.append(skipped_note(tuple(skipped)))
    return tuple(found)


def _conflict(rt: ResourceType, doc: Doc) -> UniquenessConflict:
    name = "userName" if rt.name == "User" else "displayName"
    return UniquenessConflict(
        f"{name} {doc.get(name)!r} is already used by another {rt.name} of this connection"
    )


def _update(
    conn: Connection,
    scope: Scope,
    rt: ResourceType,
    current: StoredResource,
    doc: Doc,
    at: datetime,
    *,
    doc_changed: bool = True,
) -> StoredResource:
    # A concurrent rename won the race for the unique key.
    with unique_key(_conflict(rt, doc).detail):
        return store.update_resource(conn, scope, current, doc, at, doc_changed=doc_changed)


def replace(
    conn: Connection,
    ctx: ConnectionContext,
    rt: ResourceType,
    resource_id: str,
    body: Any,
    if_match: str | None,
) -> Result:
    scope = ctx.scope(rt)
    current = _get(conn, ctx, rt, resource_id, for_update=True)
    versioning.check_if_match(current.version, if_match)
    doc, members = _prepare(rt, body)
    _settle_manager(conn, ctx, rt, current.doc, doc, current.id)
    _check_unique(conn, scope, rt, doc, current)
    at = write_time(conn, ctx.tenant_id)
    stored = _update(conn, scope, rt, current, doc, at)
    warning = employees.after_write(conn, ctx, rt.name, stored)
    skipped: list[str] = []
    if rt.name == "Group":
        # PUT replaces the whole resource (RFC 7644 §3.5.1), members included.
        ids = _member_ids(members or [])
        shown: dict[int, str] = {}
        pks = _resolve_members(
            conn,
            scope,
            ids,
            strict=ctx.settings.strict_members,
            skipped=skipped,
            displays=member_displays(members or []),
            displays_out=shown,
        )
        _refuse_self(stored, pks)
        employees.groups_changed(conn, ctx, stored.pk, None)  # old members, and the name
        if _renamed(current, stored):
            group_bindings.arrived(conn, ctx, stored)
        events.group_changed(conn, ctx.tenant_id, ctx.connection_uid, "updated", stored)
        old = store.remove_all_members(conn, scope, stored.pk, at)
        new = store.add_members(conn, scope, stored.pk, pks, at, displays=shown)
        # Members are what changed between the two sets: one kept is in neither.
        _member_events(conn, ctx, stored, "removed", [m for m in old if m.pk not in pks])
        kept = {m.pk for m in old}
        _member_events(conn, ctx, stored, "added", [m for m in new if m.pk not in kept])
        employees.groups_changed(conn, ctx, stored.pk, pks)
        related = store.members_of(conn, scope, [stored.pk])[stored.pk]
    else:
        related = store.groups_of(conn, scope, [stored.pk])[stored.pk]
    employees.operation_done(conn, ctx)
    return Result(stored, render(ctx, rt, stored, related), _warnings(warning, skipped))


def _renamed(before: StoredResource, after: StoredResource) -> bool:
    """A group's name changed (beyond case and spacing): mappings and rules waiting for
    the new name bind to it; what is bound to it already follows it anyway."""
    return fold(before.display or "") != fold(after.display or "")


def _member_events(
    conn: Connection,
    ctx: ConnectionContext,
    group: StoredResource,
    kind: str,
    members: list[MemberRef],
) -> None:
    if members:
        events.members_changed(conn, ctx.tenant_id, ctx.connection_uid, kind, group, members)


def _refuse_self(group: StoredResource, pks: list[int]) -> None:
    if group.pk in pks:
        raise InvalidValue(f"group {group.id} cannot be a member of itself")


def _apply_member_change(
    conn: Connection,
    ctx: ConnectionContext,
    group: StoredResource,
    change: MemberChange,
    at: datetime,
    known: dict[str, MemberRef],
    skipped: list[str],
) -> list[int]:
    """Apply one member change; returns the members it added or removed (their
    ``groups`` changed: the caller gives them new versions, once for the request)."""
    scope = ctx.scope(GROUP)
    group_pk = group.pk
    match change.kind:
        case "add" | "replace":
            strict = ctx.settings.strict_members
            shown: dict[int, str] = {}
            pks = _resolve_members(
                conn,
                scope,
                change.ids(),
                strict=strict,
                skipped=skipped,
                known=known,
                displays=member_displays(change.values),
                displays_out=shown,
            )
            _refuse_self(group, pks)
            old: list[MemberRef] = []
            if change.kind == "replace":
                employees.groups_changed(conn, ctx, group_pk, None)
                old = store.remove_all_members(conn, scope, group_pk, at)
                _member_events(conn, ctx, group, "removed", [m for m in old if m.pk not in pks])
            new = store.add_members(
                conn, scope, group_pk, pks, at, touch_members=False, displays=shown
            )
            kept = {m.pk for m in old}
            _member_events(conn, ctx, group, "added", [m for m in new if m.pk not in kept])
            employees.groups_changed(conn, ctx, group_pk, pks, touched=True)
            return pks
        case "remove_all":
            employees.groups_changed(conn, ctx, group_pk, None)
            old = store.remove_all_members(conn, scope, group_pk, at)
            _member_events(conn, ctx, group, "removed", old)
            return []
        case "remove_where":
            assert change.where is not None
            ids = member_ids_in(change.where)
            if ids is not None:
                # members[value eq "…"]: delete by id, never by loading the whole group.
                pks = _resolve_members(conn, scope, ids, strict=False, known=known)
            else:
                members = store.members_of(conn, scope, [group_pk])[group_pk]
                pks = [
                    m.pk
                    for m in members
                    if element_matches(change.where, {"value": m.id, "type": m.resource_type})
                ]
            gone = store.remove_members(conn, scope, group_pk, pks, at, touch_members=False)
            _member_events(conn, ctx, group, "removed", gone)
            employees.groups_changed(conn, ctx, group_pk, pks, touched=True)
            return pks
    return []


def _patch_options(ctx: ConnectionContext) -> PatchOptions:
    if ctx.profile.on("upsert_filtered_values"):
        return PatchOptions(element_from_filter=dialects.element_from_filter)
    return PatchOptions()


def patch(
    conn: Connection,
    ctx: ConnectionContext,
    rt: ResourceType,
    resource_id: str,
    body: Any,
    if_match: str | None,
    attributes: list[str],
    excluded: list[str],
) -> Result:
    scope = ctx.scope(rt)
    operations = parse_operations(body)
    known: dict[str, MemberRef] = {}
    if rt.name == "Group":
        # Locks first: the group and every member the operations name, in one statement.
        found, known = store.get_with_named(conn, scope, resource_id, ids_named(operations))
        if found is None:
            raise NotFound(f"{rt.name} {resource_id} not found")
        current = found
    else:
        current = _get(conn, ctx, rt, resource_id, for_update=True)
    versioning.check_if_match(current.version, if_match)
    result = apply_patch(rt, current.doc, operations, _patch_options(ctx))
    result.doc.pop("password", None)  # password sync (Okta): accepted, never stored
    _settle_manager(conn, ctx, rt, current.doc, result.doc, current.id)
    doc_changed = result.doc != current.doc
    stored = current
    skipped: list[str] = []
    warning = None
    if doc_changed or result.members:
        at = write_time(conn, ctx.tenant_id)
        if doc_changed:
            _check_unique(conn, scope, rt, result.doc, current)
        moved: list[int] = []
        for change in result.members:
            moved += _apply_member_change(conn, ctx, current, change, at, known, skipped)
        if doc_changed:
            stored = _update(conn, scope, rt, current, result.doc, at)
            store.touch_with_employees(conn, scope, moved, at)
            warning = employees.after_write(conn, ctx, rt.name, stored)
            if rt.name == "Group":
                employees.groups_changed(conn, ctx, stored.pk, None)  # a rename shows
                if _renamed(current, stored):
                    group_bindings.arrived(conn, ctx, stored)
                events.group_changed(conn, ctx.tenant_id, ctx.connection_uid, "updated", stored)
        else:
            # Members only: the group's new version with its members' (the group row is
            # locked, so the version read is the one replaced).
            store.touch_with_employees(conn, scope, [current.pk, *moved], at)
            stored = dataclasses.replace(current, version=current.version + 1, updated_at=at)
        employees.operation_done(conn, ctx)
    related = None
    if document.wants(rt, _related_name(rt), attributes, excluded):
        related = _load_related(conn, scope, rt, [stored.pk])[stored.pk]
    return Result(stored, render(ctx, rt, stored, related), _warnings(warning, skipped))


def delete(
    conn: Connection,
    ctx: ConnectionContext,
    rt: ResourceType,
    resource_id: str,
    if_match: str | None,
) -> StoredResource:
    current = _get(conn, ctx, rt, resource_id, for_update=True)
    versioning.check_if_match(current.version, if_match)
    # The groups it belonged to (and the members it had) change too: new versions for
    # them, locked now, before any employee row (resources, then employees: the write
    # path's lock order; a member PATCH of another group locks in that order too).
    store.touch_related(conn, ctx.scope(rt), current.pk, write_time(conn, ctx.tenant_id))
    employees.before_delete(conn, ctx, rt.name, current)
    if rt.name == "Group":
        employees.groups_changed(conn, ctx, current.pk, None)
        # Each member's leaving first (consumers tracking memberships see them go), then
        # the group's tombstone.
        members = store.members_of(conn, ctx.scope(rt), [current.pk])[current.pk]
        events.members_changed(conn, ctx.tenant_id, ctx.connection_uid, "removed", current, members)
        group_bindings.leaving(conn, ctx, current)  # what is bound to it waits again
        events.group_changed(conn, ctx.tenant_id, ctx.connection_uid, "deleted", current)
    store.delete_resource(conn, ctx.scope(rt), current)
    employees.operation_done(conn, ctx)
    return current


# ---- group provisioning off ------------------------------------------------------------------

GROUPS_OFF = (
    "group provisioning is off for this connection (setting group_provisioning): request "
    "acknowledged, nothing changed"
)


def acknowledged_group(ctx: ConnectionContext, body: Any, resource_id: str | None) -> Doc:
    """The answer to a group create or replace when group provisioning is off: the group
    as sent, checked like any other (bad input still gets its 400), stored nowhere. The
    IdP sees success, so its push does not stall on a group the tenant chose to ignore."""
    doc, members = _prepare(GROUP, body)
    at = rendering.timestamp(now())
    group_id = resource_id or str(uuid.uuid4())
    answer: Doc = {"schemas": document.schemas_of(GROUP, doc), "id": group_id, **doc}
    answer["members"] = [m for m in members or [] if isinstance(m, dict)]
    # No version: nothing is kept, so there is nothing to compare an If-Match with.
    answer["meta"] = rendering.meta(GROUP, ctx.base_url, group_id, at, at)
    return answer


def acknowledged_patch(rt: ResourceType, body: Any) -> None:
    """A group PATCH when group provisioning is off: the PatchOp checked like any other
    (a malformed one still gets its 400, as a create or replace does), applied nowhere."""
    for operation in parse_operations(body):
        if operation.path is not None:
            parse_path(rt, operation.path)
