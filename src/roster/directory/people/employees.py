"""Employees: the tenant's people, synced from SCIM users or added by hand.

Each action runs in the caller's transaction (for SCIM, the request's): a refusal here
rolls the SCIM write back too, and the request's log entry carries the reason.

The IdP is the source of truth for what it syncs: every sync overwrites the mapped
fields; fields it does not map (custom fields of other mappings, admin edits) are kept.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from roster.directory.attributes import locales
from roster.directory.attributes.employee_fields import MappedUser, email_problem, map_user
from roster.directory.entitlements import evaluations
from roster.directory.journal import events
from roster.directory.journal.clock import write_time
from roster.directory.journal.system_log import note
from roster.directory.people import references
from roster.directory.places import locations
from roster.directory.settings.config_cache import cached
from roster.directory.settings.context import ConnectionContext
from roster.directory.settings.model import ConnectionSettings
from roster.errors import Conflict, InvalidValue, NotFound, UniquenessConflict
from roster.storage import custom_fields as custom_field_store
from roster.storage import employees as store
from roster.storage.employees import EmployeeRow
from roster.storage.integrity import unique_key
from roster.storage.resources import StoredResource

__all__ = [
    "EmployeeRow",
    "ManualEmployee",
    "Synced",
    "add_manual",
    "edit_manual",
    "find",
    "remove_manual",
    "remove_user",
    "sync_user",
]


def _describe(conn: Connection, tenant_id: int, holder: EmployeeRow) -> str:
    if holder.connection_id is None:
        return f"manual employee {holder.id}"
    uid, name, status = store.connection_brief(conn, tenant_id, holder.connection_id)
    user = store.user_name_of(conn, tenant_id, holder.resource_pk)
    who = f"user {user!r} of " if user else ""
    return f"employee {holder.id}, synced from {who}connection {name!r} ({uid}, {status})"


def _check_link(
    conn: Connection,
    ctx: ConnectionContext,
    opts: ConnectionSettings,
    holder: EmployeeRow,
    mapped: MappedUser,
) -> str:
    """May a new user of this connection take ``holder`` over? Returns how (for the log);
    raises 409 uniqueness naming the conflict otherwise."""
    email = mapped.email
    what = _describe(conn, ctx.tenant_id, holder)
    if holder.connection_id == ctx.connection_id:
        identifier = (
            "the unique identifier of this connection (unique_identifier=email)"
            if opts.unique_identifier == "email"
            else "the employee key of the directory"
        )
        raise UniquenessConflict(
            f"primary email {email!r} is {identifier} and already belongs to {what}"
        )
    if holder.connection_id is not None:
        _, _, status = store.connection_brief(conn, ctx.tenant_id, holder.connection_id)
        if status == "active":
            raise UniquenessConflict(
                f"primary email {email!r} belongs to {what}; another active connection owns "
                "that person (deactivate it to let this connection take the employee over)"
            )
    if not opts.link_by_email:
        raise UniquenessConflict(
            f"primary email {email!r} belongs to {what}, and linking by email is off for "
            "this connection (option link_by_email)"
        )
    return "taken over from an inactive connection" if holder.synced else "linked by email"


def _columns(mapped: MappedUser, old: EmployeeRow | None) -> dict[str, Any]:
    fields: dict[str, Any] = dict(old.fields) if old else {}
    custom = dict(fields.get("custom") or {})
    custom.update(mapped.custom)
    fields.update(mapped.fields)
    fields["custom"] = custom
    return {
        "email": mapped.email,
        "status": "active" if mapped.active else "inactive",
        "fields": fields,
        "city_key": locations.key(mapped.fields.get("city")),
        "locale_key": mapped.locale,
        "primary_location_key": locations.key(mapped.fields.get("primaryLocation")),
    }


@dataclass(frozen=True)
class Synced:
    """What a user sync did: its employee, or None when the user is kept out of the
    directory; ``warning`` is for the request's log entry."""

    employee: EmployeeRow | None
    warning: str | None = None


NOT_IN_DIRECTORY = "not in the directory"


def _kept_out(user: StoredResource, problem: str) -> Synced:
    return Synced(
        None,
        f"warning: user {user.doc.get('userName')!r} is {NOT_IN_DIRECTORY}: {problem}; it "
        "joins when the IdP sends a primary email of its own (setting require_primary_email "
        "refuses such users instead)",
    )


def _shared_within(ctx: ConnectionContext, holder: EmployeeRow) -> bool:
    """Does ``holder`` (holding the user's email) belong to another user of this same
    connection, where the email is not the connection's identifier? Then the user is kept
    out of the directory rather than refused (Microsoft's SCIM test collection gives two
    users one email; the IdP cannot fix that by retrying)."""
    return (
        holder.connection_id == ctx.connection_id
        and ctx.settings.unique_identifier != "email"
        and not ctx.settings.require_primary_email
    )


def sync_user(  # noqa: C901 (create, link, keep-out and update decide on one locked row set)
    conn: Connection, ctx: ConnectionContext, user: StoredResource, *, created: bool = False
) -> Synced:
    """Bring the employee of a SCIM user in line with it (create, link or update).

    A user without a usable primary email (none, not an address, or another user's of
    this connection) is stored by the caller and kept out of the directory; if it is
    already in it, its employee keeps its last email. Setting require_primary_email
    refuses such users instead.

    ``created``: the SCIM user is new, so no employee is synced from it yet; a brand-new
    employee has no memberships or references to compare with either. Skipping those
    reads keeps the create path (the hot one during an initial sync) short. The tenant's
    configuration comes from the process's cache (directory/settings/config_cache.py)."""
    opts = ctx.settings
    tenant_id = ctx.tenant_id
    custom = cached(
        ("field_mappings", tenant_id, ctx.connection_uid),
        ctx.config_version,
        lambda: custom_field_store.of_connection(conn, tenant_id, ctx.connection_id),
    )
    problem = None if opts.require_primary_email else email_problem(user.doc)
    if problem is not None:
        if created:
            return _kept_out(user, problem)
        target = store.for_sync(conn, tenant_id, user.pk, None)
        if target.current is None:
            return _kept_out(user, problem)
        mapped = _keep_email(conn, ctx, user, target.current, problem, custom)
    else:
        mapped = map_user(user.doc, custom)
        if created:
            holder = store.by_email(conn, tenant_id, mapped.email)
            target = store.SyncTarget(None, holder, False, False)
        else:
            target = store.for_sync(conn, tenant_id, user.pk, mapped.email)
        current, holder = target.current, target.holder
        if (
            holder is not None
            and _shared_within(ctx, holder)
            and (current is None or holder.pk != current.pk)
        ):
            shared = f"its primary email {mapped.email!r} belongs to " + _describe(
                conn, tenant_id, holder
            )
            if current is None:
                return _kept_out(user, shared)
            mapped = _keep_email(conn, ctx, user, current, shared, custom)
            target = dataclasses.replace(target, holder=current)
    current, holder = target.current, target.holder
    at = write_time(conn, tenant_id)
    places = locations.index(conn, tenant_id, ctx.config_version)
    values = _columns(mapped, current or holder)
    values["primary_location_pk"] = places.primary(values["primary_location_key"])
    values.update(connection_id=ctx.connection_id, resource_pk=user.pk, updated_at=at)
    # A concurrent request took the email first.
    with unique_key(f"primary email {mapped.email!r} was taken by a concurrent request"):
        if current is None and holder is None:
            inserted = store.insert_unless_email_taken(
                conn, tenant_id, {**values, "created_at": at}
            )
            if inserted is None:
                # A concurrent request (Okta and Entra send in parallel) took the email
                # between our read and this insert, and has committed: judge it as if read.
                holder = store.by_email(conn, tenant_id, mapped.email)
                if holder is not None and _shared_within(ctx, holder):
                    return _kept_out(
                        user,
                        f"its primary email {mapped.email!r} belongs to "
                        + _describe(conn, tenant_id, holder),
                    )
                raise UniquenessConflict(
                    f"primary email {mapped.email!r} was taken by a concurrent request"
                )
            employee = inserted
        elif current is None:
            assert holder is not None
            how = _check_link(conn, ctx, opts, holder, mapped)
            if holder.synced:
                # Its references and memberships followed the old connection's rules.
                store.drop_pending_refs_of(conn, tenant_id, holder.pk)
            employee = store.update_employee(conn, tenant_id, holder.pk, values)
            note(
                conn,
                tenant_id,
                ctx.connection_uid,
                "employee.link",
                f"user {user.doc.get('userName')!r} {how}: {_describe(conn, tenant_id, holder)} "
                f"({mapped.email}); the IdP's values now apply",
                employee.id,
            )
        else:
            if holder is not None and holder.pk != current.pk:
                raise UniquenessConflict(
                    f"primary email {mapped.email!r} belongs to "
                    f"{_describe(conn, tenant_id, holder)}"
                )
            employee = store.update_employee(conn, tenant_id, current.pk, values)
    before = current or holder
    _note_changes(conn, ctx, before, employee, mapped)
    events.employee_synced(conn, tenant_id, ctx.connection_uid, before, employee)
    fresh = current is None and holder is None
    locations.place(
        conn, tenant_id, ctx.connection_uid, employee, opts.location_sync, places.rows, fresh=fresh
    )
    # A linked employee may hold references of its own; one synced from this user has
    # none to compare unless the lookup found some.
    known_refs = None if current is None else target.has_refs
    references.sync(conn, ctx, employee, mapped, fresh=fresh, has_refs=known_refs)
    if current is None or current.email_key != employee.email_key:
        # References wait by email or by SCIM id: only a new person or a new email can
        # complete them.
        references.complete_pending(conn, ctx, employee, user.id, at)
    evaluated = None if current is None else target.evaluated
    evaluations.after_user_sync(conn, ctx, employee, fresh=fresh, evaluated=evaluated)
    return Synced(employee)


def _keep_email(
    conn: Connection,
    ctx: ConnectionContext,
    user: StoredResource,
    current: EmployeeRow,
    problem: str,
    custom: Mapping[str, str],
) -> MappedUser:
    """A user in the directory lost its usable primary email: its employee keeps the last
    one (the directory's key for the person), the other fields still follow the IdP."""
    note(
        conn,
        ctx.tenant_id,
        ctx.connection_uid,
        "employee.email_kept",
        f"warning: user {user.doc.get('userName')!r}: {problem}; employee {current.id} keeps "
        f"its last primary email {current.email!r}",
        current.id,
    )
    return map_user(user.doc, custom, email=current.email)


def _note_changes(
    conn: Connection,
    ctx: ConnectionContext,
    before: EmployeeRow | None,
    after: EmployeeRow,
    mapped: MappedUser,
) -> None:
    """Log what a reader of the system log needs: status changes and flagged values."""
    old_fields = before.fields if before else {}

    def log(action: str, detail: str) -> None:
        note(conn, ctx.tenant_id, ctx.connection_uid, action, detail, after.id)

    if before is not None and before.status != after.status:
        verb = "deactivated" if after.status == "inactive" else "reactivated"
        log(f"employee.{verb[:-1]}", f"{after.email} {verb}")
    raw_locale = after.fields.get("locale")
    if mapped.locale_invalid and raw_locale != old_fields.get("locale"):
        log(
            "employee.locale",
            f"locale {raw_locale!r} of {after.email} is not ISO 639-1 + ISO 3166-1 (e.g. en_US): "
            "stored as sent; it matches no location's locale",
        )
    value = after.fields.get("primaryLocation")
    if value and after.primary_location_pk is None and value != old_fields.get("primaryLocation"):
        log(
            "employee.primary_location",
            f"primary location {value!r} of {after.email} matches no location: "
            "map it with `roster location map` (see `roster location unmapped`)",
        )


def remove_user(conn: Connection, ctx: ConnectionContext, user: StoredResource) -> None:
    """The IdP deleted the user: its employee leaves the directory (the log keeps its
    history). References to it wait again, in case the person comes back."""
    employee = store.by_resource(conn, ctx.tenant_id, user.pk)
    if employee is None:
        return
    at = write_time(conn, ctx.tenant_id)
    references.wait_again(conn, ctx.tenant_id, ctx.connection_uid, employee, at)
    store.delete_employee(conn, ctx.tenant_id, employee.pk)
    events.employee_deleted(conn, ctx.tenant_id, employee, ctx.connection_uid)
    note(
        conn,
        ctx.tenant_id,
        ctx.connection_uid,
        "employee.remove",
        f"{employee.email} removed from the directory (user {user.doc.get('userName')!r} "
        "deleted by the IdP)",
        employee.id,
    )


# ---- manual employees ---------------------------------------------------------------------

MANUAL_FIELDS = (
    "givenName",
    "familyName",
    "displayName",
    "phone",
    "title",
    "department",
    "division",
    "employeeNumber",
    "costCenter",
    "organization",
    "city",
    "state",
    "postalCode",
    "country",
    "locale",
    "timezone",
    "userType",
)


@dataclass(frozen=True)
class ManualEmployee:
    email: str
    fields: dict[str, str]
    locations: Sequence[str] = ()


def _manual_fields(person: ManualEmployee) -> tuple[str, dict[str, Any]]:
    """The email and fields of a manual employee, checked as `roster employee add` checks
    them (empty values dropped, the locale normalised)."""
    email = person.email.strip()
    if "@" not in email or len(email) > 320 or email.startswith("@") or email.endswith("@"):
        raise InvalidValue(f"{person.email!r} is not an email address")
    unknown = sorted(set(person.fields) - set(MANUAL_FIELDS))
    if unknown:
        raise InvalidValue(
            f"unknown employee field(s) {', '.join(unknown)}; known: {', '.join(MANUAL_FIELDS)}"
        )
    fields: dict[str, Any] = {k: (v.strip() or None) for k, v in person.fields.items()}
    locale = locales.normalise(fields.get("locale"))
    if fields.get("locale") and locale is None:
        raise InvalidValue(f"locale {fields['locale']!r} is not ISO 639-1 + ISO 3166-1 (en_US)")
    if locale:
        fields["locale"] = locale
    return email, fields


def add_manual(conn: Connection, tenant_id: int, person: ManualEmployee) -> EmployeeRow:
    """A contractor, temp, anyone the IdP does not sync."""
    email, fields = _manual_fields(person)
    holder = store.by_email(conn, tenant_id, email)
    if holder is not None:
        raise UniquenessConflict(
            f"an employee with email {email!r} already exists "
            f"({_describe(conn, tenant_id, holder)})"
        )
    locale = fields.get("locale")
    at = write_time(conn, tenant_id)
    chosen = [locations.get(conn, tenant_id, n) for n in person.locations]
    with unique_key(f"an employee with email {email!r} already exists"):
        employee = store.insert_employee(
            conn,
            tenant_id,
            {
                "email": email,
                "status": "active",
                "fields": {**fields, "custom": {}},
                "city_key": locations.key(fields.get("city")),
                "locale_key": locale,
                "created_at": at,
                "updated_at": at,
            },
        )
    locations.join(conn, tenant_id, employee, chosen)
    events.employee_added(conn, tenant_id, employee)
    if chosen:
        names = [loc.name for loc in chosen]
        events.location_changed(conn, tenant_id, None, employee, names, [], actor="admin")
    note(
        conn,
        tenant_id,
        None,
        "employee.add",
        f"manual employee {email} added"
        + (f" to {', '.join(loc.name for loc in chosen)}" if chosen else ""),
        employee.id,
        actor="admin",
    )
    evaluations.employee_changed(conn, tenant_id, employee, "manual employee added")
    return employee


def edit_manual(
    conn: Connection, tenant_id: int, id_or_email: str, person: ManualEmployee
) -> EmployeeRow:
    """Replace a manual employee's email, fields and locations with ``person`` (checked
    as `add_manual` checks a new one); custom fields stay. Synced employees are the
    IdP's to change."""
    email, fields = _manual_fields(person)
    at = write_time(conn, tenant_id)
    before = find(conn, tenant_id, id_or_email)
    if before.synced:
        raise Conflict(
            f"{before.email} is synced ({_describe(conn, tenant_id, before)}): change it in "
            "the IdP instead"
        )
    holder = store.by_email(conn, tenant_id, email)
    if holder is not None and holder.pk != before.pk:
        raise UniquenessConflict(
            f"an employee with email {email!r} already exists "
            f"({_describe(conn, tenant_id, holder)})"
        )
    chosen = locations.set_explicit(conn, tenant_id, before, person.locations)
    with unique_key(f"an employee with email {email!r} already exists"):
        after = store.update_employee(
            conn,
            tenant_id,
            before.pk,
            {
                "email": email,
                "fields": {**fields, "custom": dict(before.fields.get("custom") or {})},
                "city_key": locations.key(fields.get("city")),
                "locale_key": fields.get("locale"),
                "updated_at": at,
            },
        )
    events.employee_edited(conn, tenant_id, before, after)
    changed = events.changed_fields(before, after)
    note(
        conn,
        tenant_id,
        None,
        "employee.edit",
        f"manual employee {after.email} edited"
        + (f": {', '.join(changed)} changed" if changed else "")
        + f"; locations: {', '.join(loc.name for loc in chosen) or 'none'}",
        after.id,
        actor="admin",
    )
    evaluations.employee_changed(conn, tenant_id, after, "manual employee edited")
    return after


def find(conn: Connection, tenant_id: int, id_or_email: str) -> EmployeeRow:
    found = (
        store.by_email(conn, tenant_id, id_or_email.strip())
        if "@" in id_or_email
        else store.by_id(conn, tenant_id, id_or_email.strip())
    )
    if found is None:
        raise NotFound(f"no employee {id_or_email!r} in this tenant")
    return found


def remove_manual(conn: Connection, tenant_id: int, id_or_email: str) -> EmployeeRow:
    employee = find(conn, tenant_id, id_or_email)
    if employee.synced:
        raise Conflict(
            f"{employee.email} is synced ({_describe(conn, tenant_id, employee)}): remove or "
            "unassign the user in the IdP instead"
        )
    references.wait_again(conn, tenant_id, None, employee, write_time(conn, tenant_id))
    store.delete_employee(conn, tenant_id, employee.pk)
    events.employee_deleted(conn, tenant_id, employee, None, actor="admin")
    note(
        conn,
        tenant_id,
        None,
        "employee.remove",
        f"manual employee {employee.email} removed",
        employee.id,
        actor="admin",
    )
    return employee


# ---- the hooks scim_resources calls --------------------------------------------------------


def after_write(
    conn: Connection,
    ctx: ConnectionContext,
    rt_name: str,
    stored: StoredResource,
    *,
    created: bool = False,
) -> str | None:
    """A SCIM resource was created or changed: users sync to the directory. Returns a
    warning for the request's log entry (a user kept out of the directory)."""
    if rt_name == "User":
        return sync_user(conn, ctx, stored, created=created).warning
    return None


def before_delete(
    conn: Connection, ctx: ConnectionContext, rt_name: str, stored: StoredResource
) -> None:
    if rt_name == "User":
        remove_user(conn, ctx, stored)


def groups_changed(
    conn: Connection,
    ctx: ConnectionContext,
    group_pk: int,
    member_pks: Sequence[int] | None,
    *,
    touched: bool = False,
) -> None:
    """Members joined or left a group, or it was renamed or deleted: the employees it
    concerns show their groups, so they get a new updatedAt (the read API's updated_since
    must see them; ``touched``: the caller did that already). ``None``: every current
    member of the group."""
    at = write_time(conn, ctx.tenant_id)
    if member_pks is None:
        store.touch_group_members(conn, ctx.tenant_id, group_pk, at)
    elif not touched:
        store.touch_resources(conn, ctx.tenant_id, member_pks, at)
    evaluations.members_changed(conn, ctx, group_pk, member_pks)


def operation_done(conn: Connection, ctx: ConnectionContext) -> None:
    """The SCIM operation's writes are done: evaluate those whose groups changed."""
    evaluations.flush(conn, ctx)
