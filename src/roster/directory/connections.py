"""Deleting a SCIM connection: sync stops, the people stay.

Engagedly: "Syncing stops when the connection is deleted, but previously synced employees
remain unaffected"; the product brief: "the employees it brought stay". Its employees
become manual employees (fields, locations and resolved references kept); its SCIM
resources and tokens go. Deactivating a connection, by contrast, only refuses its
requests (directory/tenancy.set_status) and changes no employee.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from roster.directory.audit import now
from roster.directory.history import note
from roster.directory.tenancy import get_connection
from roster.storage import employees as emp_store
from roster.storage.tenancy import ConnectionRow


@dataclass(frozen=True)
class Deleted:
    connection: ConnectionRow
    employees_kept: int


def delete_connection(conn: Connection, connection_uid: str) -> Deleted:
    row = get_connection(conn, connection_uid)
    # References still waiting would otherwise complete later and change, by SCIM, an
    # employee that is now manual; resolved ones are kept as they are.
    emp_store.drop_pending_refs(conn, row.tenant_id, row.id)
    kept = emp_store.make_manual(conn, row.tenant_id, row.id, now())
    emp_store.delete_connection(conn, row.tenant_id, row.id)
    note(
        conn,
        row.tenant_id,
        row.uid,
        "connection.delete",
        f"connection {row.name!r} ({row.idp}) deleted; its {kept} employees stay, as manual "
        "employees",
        actor="admin",
    )
    return Deleted(row, kept)
