"""Deleting a SCIM connection: sync stops, the people stay.

Engagedly: "Syncing stops when the connection is deleted, but previously synced employees
remain unaffected"; the product brief: "the employees it brought stay". Its employees
become manual employees (fields and locations kept); its SCIM resources and tokens go.
References resolve only to synced employees, so references to its employees are unresolved
again: those of employees still synced wait for the person to be synced again; its own
employees keep every reference's value as sent, display-only (nothing resolves a manual
employee's references by itself). Deactivating a connection, by contrast, only refuses its
requests (directory/tenancy.set_status) and changes no employee.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from roster.directory.admin.tenancy import get_connection
from roster.directory.entitlements import access, evaluations
from roster.directory.journal import events
from roster.directory.journal.clock import write_time
from roster.directory.journal.system_log import note
from roster.storage import access as access_store
from roster.storage import employees as emp_store
from roster.storage.tenancy import ConnectionRow


@dataclass(frozen=True)
class Deleted:
    connection: ConnectionRow
    employees_kept: int
    roles_made_manual: int = 0


def delete_connection(conn: Connection, connection_uid: str) -> Deleted:
    row = get_connection(conn, connection_uid)
    emp_store.lock_connection_resources(conn, row.tenant_id, row.id)  # before the clock
    at = write_time(conn, row.tenant_id)
    refs = emp_store.detach_refs(conn, row.tenant_id, row.id, at)
    # Envoy: "If you disconnect Okta, your roles will turn into manual roles and will stop
    # syncing. Your mappings won't be saved" (the mappings go with the connection's rows).
    roles = access_store.group_roles_to_manual(conn, row.tenant_id, row.id, at)
    mappings = len(access_store.mappings_of(conn, row.tenant_id, row.id))
    in_groups = [
        e.pk for e in access_store.employees_of_connection_in_groups(conn, row.tenant_id, row.id)
    ]
    made_manual = emp_store.make_manual(conn, row.tenant_id, row.id, at)
    kept = len(made_manual)
    # The host app sees each of them change source (synced -> manual), as a link does.
    events.employees_made_manual(conn, row.tenant_id, row.uid, made_manual)
    emp_store.delete_connection(conn, row.tenant_id, row.id)
    # Their groups went with it: a membership change, so the rules that needed a group
    # stop granting now, not at the next `roster rule apply`.
    left = emp_store.by_pks(conn, row.tenant_id, in_groups)
    evaluations.evaluate(
        conn,
        row.tenant_id,
        row.uid,
        [left[pk] for pk in in_groups if pk in left],
        access.load(conn, row.tenant_id, labels=True),
    )
    unresolved = (
        f"; {refs.references} references (manager, assistants) to them are unresolved: "
        f"{refs.of_synced} synced employees wait for those people to be synced again, "
        f"{refs.of_own} of its own keep the value sent"
        if refs.references
        else ""
    )
    events.connection_changed(
        conn,
        row.tenant_id,
        row.uid,
        "deleted",
        {"name": row.name, "idp": row.idp, "employeesKept": kept},
    )
    note(
        conn,
        row.tenant_id,
        row.uid,
        "connection.delete",
        f"connection {row.name!r} ({row.idp}) deleted; its {kept} employees stay, as manual "
        f"employees{unresolved}; {roles} roles synced from its groups are now manual roles; "
        f"its {mappings} group-role mappings are discarded",
        actor="admin",
    )
    return Deleted(row, kept, roles)
