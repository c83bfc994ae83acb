"""Custom fields: a tenant admin maps further attributes, of any schema, of a connection's
users to named employee fields. Applied from each user's next sync on (the IdP re-sends
users on every change, and Okta's "Force Sync" re-sends them all)."""

from __future__ import annotations

from sqlalchemy import Connection

from roster.directory.admin.tenancy import get_connection
from roster.directory.attributes.employee_fields import check_custom_field
from roster.directory.journal.system_log import note, now
from roster.errors import NotFound
from roster.storage import custom_fields as store


def set_field(conn: Connection, connection_uid: str, field: str, path: str) -> None:
    check_custom_field(field, path)
    row = get_connection(conn, connection_uid)
    store.put(conn, row.tenant_id, row.id, field, path, now())
    note(
        conn,
        row.tenant_id,
        row.uid,
        "mapping.set",
        f"connection {row.name!r}: custom field {field!r} <- {path}",
        actor="admin",
    )


def remove_field(conn: Connection, connection_uid: str, field: str) -> None:
    row = get_connection(conn, connection_uid)
    if not store.remove(conn, row.tenant_id, row.id, field):
        raise NotFound(f"connection {row.name!r} maps no custom field {field!r}")
    note(
        conn,
        row.tenant_id,
        row.uid,
        "mapping.remove",
        f"connection {row.name!r}: custom field {field!r} no longer mapped",
        actor="admin",
    )


def fields_of(conn: Connection, connection_uid: str) -> dict[str, str]:
    row = get_connection(conn, connection_uid)
    return store.of_connection(conn, row.tenant_id, row.id)
