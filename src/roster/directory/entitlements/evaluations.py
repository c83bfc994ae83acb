"""When access is evaluated: the hooks of SCIM writes, admin changes and connection
settings. Each evaluates the employees concerned in the caller's transaction (so a
refused request changes no access either) and logs what changed (directory/entitlements/access.py).

Cost on the hot path: a tenant with no rules and no group-role mappings pays two reads
per SCIM write (the catalogue), a third on updates (was the employee evaluated before?),
and nothing per group member; a group change evaluates only the members it names, so
adding one member costs the same in any group size.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from roster.directory.entitlements import access
from roster.directory.journal.change import current
from roster.directory.journal.clock import write_time
from roster.directory.journal.system_log import note
from roster.directory.settings.config_cache import cached
from roster.directory.settings.context import ConnectionContext
from roster.storage import access as store
from roster.storage.employees import EmployeeRow
from roster.storage.tenancy import ConnectionRow


def catalogue(conn: Connection, ctx: ConnectionContext) -> access.Catalogue:
    """The tenant's rules and this connection's mappings, from the process's cache."""
    prefix = ctx.settings.group_role_prefix
    return cached(
        # The connection's uid, never reused (an integer id may be, after a delete).
        ("access.catalogue", ctx.tenant_id, ctx.connection_uid, prefix),
        ctx.config_version,
        lambda: access.load(conn, ctx.tenant_id, connection_id=ctx.connection_id, prefix=prefix),
    )


def after_user_sync(
    conn: Connection,
    ctx: ConnectionContext,
    employee: EmployeeRow,
    *,
    fresh: bool,
    evaluated: bool | None = None,
) -> None:
    """A SCIM create or update reached the employee: evaluate it (``fresh``: a brand-new
    employee, which holds nothing yet; ``evaluated``: whether the rules evaluated it
    before, when the caller read that already)."""
    cat = catalogue(conn, ctx)
    idle = cat.idle
    if idle:
        if fresh:
            note(
                conn,
                ctx.tenant_id,
                ctx.connection_uid,
                "access.evaluate",
                f"{employee.email}: no rules are defined, so nothing is granted",
                employee.id,
                actor="rules",
            )
            return
        # Without rules or mappings, only someone evaluated before can hold something
        # to revoke (the grants of a since-removed last rule): the decision row says so.
        if evaluated is False or (
            evaluated is None and not store.decisions_of(conn, ctx.tenant_id, [employee.pk])
        ):
            return
        # The idle catalogue has no names: load them to say which grant is revoked.
        cat = access.load(
            conn,
            ctx.tenant_id,
            connection_id=ctx.connection_id,
            prefix=ctx.settings.group_role_prefix,
            labels=True,
        )
    at = employee.updated_at
    held = access.read_held(conn, ctx.tenant_id, [employee], cat, fresh=fresh)
    plan = access.plan_for(employee, held, cat, at)
    access.write(conn, ctx.tenant_id, ctx.connection_uid, [plan], at, always_note=fresh)
    if idle:
        # Settled to "nothing"; later updates need not look again until rules exist.
        store.delete_decision(conn, ctx.tenant_id, employee.pk)


def members_changed(
    conn: Connection, ctx: ConnectionContext, group_pk: int, member_pks: Sequence[int] | None
) -> None:
    """Members joined or left a group (``None``: every current member, before a rename,
    a replace of all members or a delete). They are evaluated at the end of the
    operation (``flush``), when the group holds its final members and name."""
    if not catalogue(conn, ctx).uses_groups:
        return
    if member_pks is None:
        member_pks = store.members_of_group(conn, ctx.tenant_id, group_pk)
    current(conn, ctx.tenant_id).pending_access.update(member_pks)


def flush(conn: Connection, ctx: ConnectionContext) -> None:
    """Evaluate the users whose groups changed in this operation."""
    change = current(conn, ctx.tenant_id)
    if not change.pending_access:
        return
    pending = sorted(change.pending_access)
    change.pending_access.clear()
    cat = catalogue(conn, ctx)
    employees = store.employees_of_resources(conn, ctx.tenant_id, pending)
    evaluate(conn, ctx.tenant_id, ctx.connection_uid, employees, cat)


def evaluate(
    conn: Connection,
    tenant_id: int,
    connection_uid: str | None,
    employees: Sequence[EmployeeRow],
    cat: access.Catalogue,
    *,
    always_note: bool = False,
    cause: str | None = None,
) -> list[access.Plan]:
    if not employees:
        return []
    at = write_time(conn, tenant_id)
    held = access.read_held(conn, tenant_id, employees, cat)
    plans = [access.plan_for(e, held, cat, at) for e in employees]
    access.write(conn, tenant_id, connection_uid, plans, at, always_note=always_note, cause=cause)
    return plans


def connection_changed(conn: Connection, row: ConnectionRow, why: str) -> int:
    """A setting or mapping of a connection changed what its groups grant: re-evaluate
    its employees that are in a group (roles follow at once, as membership does).
    Returns how many changed."""
    # Lock before reading who is in a group: a SCIM write that committed meanwhile (its
    # evaluation could not see this uncommitted change) is then re-evaluated here.
    write_time(conn, row.tenant_id)
    employees = store.employees_of_connection_in_groups(conn, row.tenant_id, row.id)
    cat = access.load(conn, row.tenant_id, labels=True)
    plans = evaluate(conn, row.tenant_id, row.uid, employees, cat)
    changed = sum(1 for p in plans if p.changes)
    note(
        conn,
        row.tenant_id,
        row.uid,
        "access.reevaluate",
        f"connection {row.name!r}: {why}; {len(plans)} employees in groups re-evaluated, "
        f"{changed} changed",
        actor="admin",
    )
    return changed


def employee_changed(conn: Connection, tenant_id: int, employee: EmployeeRow, why: str) -> None:
    """An admin changed something of one employee (a manual role, a manual add)."""
    cat = access.load(conn, tenant_id, labels=True)
    evaluate(conn, tenant_id, None, [employee], cat, always_note=True, cause=why)
