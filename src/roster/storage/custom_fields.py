"""Store functions for a connection's custom-field mappings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from roster.storage.tables import custom_field_mappings
from roster.storage.tenancy import bump_configuration

M = custom_field_mappings.c


def of_connection(conn: Connection, tenant_id: int, connection_id: int) -> dict[str, str]:
    rows = conn.execute(
        select(M.field, M.path)
        .where(M.tenant_id == tenant_id, M.connection_id == connection_id)
        .order_by(M.field)
    )
    return {r.field: r.path for r in rows}


def put(
    conn: Connection, tenant_id: int, connection_id: int, field: str, path: str, at: datetime
) -> None:
    bump_configuration(conn, tenant_id)
    remove(conn, tenant_id, connection_id, field)
    conn.execute(
        insert(custom_field_mappings).values(
            tenant_id=tenant_id, connection_id=connection_id, field=field, path=path, created_at=at
        )
    )


def remove(conn: Connection, tenant_id: int, connection_id: int, field: str) -> bool:
    bump_configuration(conn, tenant_id)
    result = conn.execute(
        delete(custom_field_mappings).where(
            M.tenant_id == tenant_id, M.connection_id == connection_id, M.field == field
        )
    )
    return bool(result.rowcount)
