"""Store functions for read-API keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from roster.storage.tables import api_keys

K = api_keys.c


@dataclass(frozen=True)
class ApiKeyRow:
    id: str
    tenant_id: int
    name: str
    secret_hash: str
    created_at: datetime


def _row(r: Any) -> ApiKeyRow:
    return ApiKeyRow(r.id, r.tenant_id, r.name, r.secret_hash, r.created_at)


_COLUMNS = (K.id, K.tenant_id, K.name, K.secret_hash, K.created_at)


def insert_key(
    conn: Connection, tenant_id: int, key_id: str, name: str, secret_hash: str, at: datetime
) -> ApiKeyRow:
    conn.execute(
        insert(api_keys).values(
            id=key_id, tenant_id=tenant_id, name=name, secret_hash=secret_hash, created_at=at
        )
    )
    return ApiKeyRow(key_id, tenant_id, name, secret_hash, at)


def by_id(conn: Connection, key_id: str) -> ApiKeyRow | None:
    """By the key's public id: the key itself names its tenant."""
    r = conn.execute(select(*_COLUMNS).where(K.id == key_id)).first()
    return _row(r) if r else None


def keys_of(conn: Connection, tenant_id: int) -> list[ApiKeyRow]:
    rows = conn.execute(
        select(*_COLUMNS).where(K.tenant_id == tenant_id).order_by(K.created_at, K.name)
    )
    return [_row(r) for r in rows]


def name_taken(conn: Connection, tenant_id: int, name: str) -> bool:
    return (
        conn.execute(select(K.id).where(K.tenant_id == tenant_id, K.name == name)).first()
        is not None
    )


def delete_key(conn: Connection, tenant_id: int, key_id: str) -> None:
    conn.execute(delete(api_keys).where(K.tenant_id == tenant_id, K.id == key_id))
