"""Manager and assistants: references from one employee to others, by email or SCIM id.

Envoy's rules: a reference resolves only to an employee *synced* by the same tenant, never
to a manual one. A reference to someone not there yet waits (the employee shows the value
as sent) and completes by itself when that person is synced: the arrival's own sync looks
up the references waiting for its email (or its SCIM id in the same connection). Each
resolution, and each wait, is written to the system log.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from roster.directory.attributes.employee_fields import MappedUser
from roster.directory.journal.system_log import note, notes
from roster.directory.settings.context import ConnectionContext
from roster.scim.schema import USER
from roster.storage import employees as store
from roster.storage import resources as resource_store
from roster.storage.employees import EmployeeRow, RefRow

_LABEL = {"manager": "manager", "assistant": "assistant"}


def _resolve(conn: Connection, ctx: ConnectionContext, by: str, ref_key: str) -> EmployeeRow | None:
    if by == "email":
        return store.synced_by_email(conn, ctx.tenant_id, ref_key)
    if len(ref_key) > 64:  # no SCIM id is this long
        return None
    user = resource_store.get(conn, ctx.scope(USER), ref_key)
    if user is None:
        return None
    target = store.by_resource(conn, ctx.tenant_id, user.pk)
    return target if target is not None and target.synced else None


def _wanted(ctx: ConnectionContext, employee: EmployeeRow, mapped: MappedUser) -> list[RefRow]:
    refs = []
    if mapped.manager is not None:
        m = mapped.manager
        refs.append(RefRow(employee.pk, "manager", 0, ctx.connection_id, m.by, m.raw, m.key, None))
    for i, email in enumerate(mapped.assistants):
        refs.append(
            RefRow(
                employee.pk, "assistant", i, ctx.connection_id, "email", email, email.lower(), None
            )
        )
    return refs


def sync(
    conn: Connection,
    ctx: ConnectionContext,
    employee: EmployeeRow,
    mapped: MappedUser,
    *,
    fresh: bool = False,
    has_refs: bool | None = None,
) -> None:
    """Replace the employee's references with the IdP's, resolving what can be resolved.
    ``fresh``: the employee was just inserted and has no references yet; ``has_refs``:
    whether it has stored references, when the caller knows (False: nothing to read)."""
    wanted = _wanted(ctx, employee, mapped)
    if (fresh or has_refs is False) and not wanted:
        return
    stored = (
        []
        if fresh or has_refs is False
        else store.refs_of(conn, ctx.tenant_id, [employee.pk])[employee.pk]
    )
    old = {(r.kind, r.position): r for r in stored}
    new: list[RefRow] = []
    changed = len(old) != len(wanted)
    for ref in wanted:
        before = old.get((ref.kind, ref.position))
        same = before is not None and (before.by, before.key) == (ref.by, ref.key)
        target = before.target_pk if same and before is not None else None
        found = None
        if target is None:
            found = _resolve(conn, ctx, ref.by, ref.key)
            target = found.pk if found is not None else None
        resolved = RefRow(**{**ref.__dict__, "target_pk": target})
        new.append(resolved)
        if not same or before is None or before.target_pk != target or before.raw != ref.raw:
            changed = True
            if found is not None:
                note(
                    conn,
                    ctx.tenant_id,
                    ctx.connection_uid,
                    f"employee.{ref.kind}",
                    f"{_LABEL[ref.kind]} of {employee.email} resolved to "
                    f"{found.email} (from {ref.raw!r})",
                    employee.id,
                )
            else:
                note(
                    conn,
                    ctx.tenant_id,
                    ctx.connection_uid,
                    f"employee.{ref.kind}",
                    f"{_LABEL[ref.kind]} of {employee.email} waits for {ref.raw!r}: no employee "
                    "synced by this tenant has it yet; it resolves when that person is synced",
                    employee.id,
                )
    kept = {(r.kind, r.position) for r in new}
    for place, before in old.items():
        if place not in kept:  # the IdP no longer sends it
            note(
                conn,
                ctx.tenant_id,
                ctx.connection_uid,
                f"employee.{before.kind}",
                f"{_LABEL[before.kind]} of {employee.email} removed (was {before.raw!r})",
                employee.id,
            )
    if changed:
        store.replace_refs(conn, ctx.tenant_id, employee.pk, new)


def complete_pending(
    conn: Connection, ctx: ConnectionContext, employee: EmployeeRow, scim_id: str, at: datetime
) -> None:
    """``employee`` was just synced: references waiting for it resolve now."""
    waiting = store.pending_for(conn, ctx.tenant_id, employee.email_key, ctx.connection_id, scim_id)
    if not waiting:
        return
    # A manager with many reports arrives once: the same few statements for any number.
    store.resolve_refs(conn, ctx.tenant_id, waiting, employee.pk)
    subjects = store.by_pks(conn, ctx.tenant_id, [r.employee_pk for r in waiting])
    store.touch(conn, ctx.tenant_id, subjects, at)
    notes(
        conn,
        ctx.tenant_id,
        ctx.connection_uid,
        [
            (
                f"employee.{ref.kind}",
                f"{_LABEL[ref.kind]} of {subjects[ref.employee_pk].email} resolved to "
                f"{employee.email} (waiting for {ref.raw!r}; arrived)",
                subjects[ref.employee_pk].id,
            )
            for ref in waiting
        ],
    )


def wait_again(
    conn: Connection, tenant_id: int, connection_uid: str | None, leaving: EmployeeRow, at: datetime
) -> None:
    """``leaving`` leaves the directory: references to it are unresolved again (they show
    the value sent), the referring employees touched, and each reference noted."""
    refs = store.unresolve_refs_to(conn, tenant_id, leaving.pk)
    if not refs:
        return
    subjects = store.by_pks(conn, tenant_id, [r.employee_pk for r in refs])
    store.touch(conn, tenant_id, subjects, at)
    items = []
    for ref in refs:
        subject = subjects[ref.employee_pk]
        then = (
            "it resolves when that person is synced again"
            if subject.synced
            else "shown as sent: a manual employee's references do not resolve by themselves"
        )
        items.append(
            (
                f"employee.{ref.kind}",
                f"{_LABEL[ref.kind]} of {subject.email} waits again for {ref.raw!r}: "
                f"{leaving.email} left the directory; {then}",
                subject.id,
            )
        )
    notes(conn, tenant_id, connection_uid, items)
