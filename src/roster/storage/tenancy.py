"""Store functions for tenants and SCIM connections."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, literal, select, update

from roster.storage.tables import connections, tenants

T = tenants.c
C = connections.c


@dataclass(frozen=True)
class TenantRow:
    id: int
    name: str
    slug: str
    created_at: datetime


@dataclass(frozen=True)
class ConnectionRow:
    id: int  # internal key
    uid: str  # public id: base URLs and the CLI
    tenant_id: int
    tenant_slug: str
    tenant_name: str
    name: str
    idp: str
    status: str
    token_hash: str
    token_created_at: datetime
    created_at: datetime
    options: dict[str, Any]
    config_version: int = 0


def insert_tenant(conn: Connection, name: str, slug: str, created_at: datetime) -> TenantRow:
    new_id = conn.execute(
        insert(tenants).values(name=name, slug=slug, created_at=created_at).returning(T.id)
    ).scalar_one()
    return TenantRow(new_id, name, slug, created_at)


def tenant_by_name(conn: Connection, name: str) -> TenantRow | None:
    r = conn.execute(
        select(T.id, T.name, T.slug, T.created_at).where((T.name == name) | (T.slug == name))
    ).first()
    return TenantRow(r.id, r.name, r.slug, r.created_at) if r else None


def tenant_by_id(conn: Connection, tenant_id: int) -> TenantRow | None:
    r = conn.execute(select(T.id, T.name, T.slug, T.created_at).where(T.id == tenant_id)).first()
    return TenantRow(r.id, r.name, r.slug, r.created_at) if r else None


def all_tenants(conn: Connection) -> list[TenantRow]:
    rows = conn.execute(select(T.id, T.name, T.slug, T.created_at).order_by(T.created_at, T.name))
    return [TenantRow(r.id, r.name, r.slug, r.created_at) for r in rows]


# The tenant's configuration lock (a PostgreSQL advisory lock keyed by the tenant's
# slug): held shared by every SCIM write, exclusively by every change of the tenant's
# configuration, so a write never mixes configuration read before and after a change,
# while the writes of one tenant run in parallel. An advisory lock, not a row lock on
# ``tenants``: rows a write inserts reference the tenant, so PostgreSQL holds FOR KEY
# SHARE on that row, and a row lock taken after them deadlocks with a neighbour. Keyed
# by the slug so that a SCIM write takes it in its very first statement, before it
# authenticates: what it then reads of the connection and the configuration is never
# older than the lock (a statement's snapshot predates a lock it waits for inside).
# Two slugs with one hash merely share a lock.
LOCK_SPACE = 0x524F5354  # "ROST"


def _db_now() -> Any:
    # The transaction's start time on the database clock: exactly
    # pg_stat_activity.xact_start, which the read side's horizon is built from.
    return func.timezone("UTC", func.now())


_LOCK_EXCLUSIVE = select(
    func.pg_advisory_xact_lock(literal(LOCK_SPACE), func.hashtext(T.slug)),
    _db_now().label("at"),
).where(T.id == bindparam("t"))
_LOCK_SHARED = select(
    func.pg_advisory_xact_lock_shared(literal(LOCK_SPACE), func.hashtext(bindparam("slug"))),
    _db_now().label("at"),
)
_BUMP = (
    update(tenants)
    .where(T.id == bindparam("t"))
    .values(config_version=T.config_version + 1)
    .returning(T.config_version)
)


def lock_configuration(conn: Connection, tenant_id: int) -> datetime | None:
    """Take the tenant's configuration lock exclusively until the transaction ends;
    returns the transaction's start time on PostgreSQL. SQLite's BEGIN IMMEDIATE already
    serialises every write, so there it is a no-op (None)."""
    if conn.dialect.name != "postgresql":
        return None
    r = conn.execute(_LOCK_EXCLUSIVE, {"t": tenant_id}).one()
    return r.at  # type: ignore[no-any-return]


def config_version(conn: Connection, tenant_id: int) -> int:
    return int(conn.execute(select(T.config_version).where(T.id == tenant_id)).scalar_one())


def bump_configuration(conn: Connection, tenant_id: int) -> int:
    """The tenant's configuration changed: every process's cache of it is stale."""
    return int(conn.execute(_BUMP, {"t": tenant_id}).scalar_one())


def slug_taken(conn: Connection, slug: str) -> bool:
    return conn.execute(select(T.id).where(T.slug == slug)).first() is not None


_CONN_COLUMNS = (
    C.id,
    C.uid,
    C.tenant_id,
    T.slug,
    T.name.label("tenant_name"),
    C.name,
    C.idp,
    C.status,
    C.token_hash,
    C.token_created_at,
    C.created_at,
    C.options,
    T.config_version,
)


def _conn_row(r: Any) -> ConnectionRow:
    return ConnectionRow(
        r.id,
        r.uid,
        r.tenant_id,
        r.slug,
        r.tenant_name,
        r.name,
        r.idp,
        r.status,
        r.token_hash,
        r.token_created_at,
        r.created_at,
        dict(r.options or {}),
        r.config_version,
    )


def insert_connection(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(connections).values(**values))
    bump_configuration(conn, values["tenant_id"])


def connection_by_uid(conn: Connection, uid: str) -> ConnectionRow | None:
    r = conn.execute(
        select(*_CONN_COLUMNS).join(tenants, T.id == C.tenant_id).where(C.uid == uid)
    ).first()
    return _conn_row(r) if r else None


def connection_by_id(conn: Connection, tenant_id: int, connection_id: int) -> ConnectionRow | None:
    r = conn.execute(
        select(*_CONN_COLUMNS)
        .join(tenants, T.id == C.tenant_id)
        .where(C.tenant_id == tenant_id, C.id == connection_id)
    ).first()
    return _conn_row(r) if r else None


# Built once: every SCIM request authenticates through it.
_BY_URL = (
    select(*_CONN_COLUMNS)
    .join(tenants, T.id == C.tenant_id)
    .where(T.slug == bindparam("slug"), C.uid == bindparam("uid"))
)


def connection_for_url(conn: Connection, tenant_slug: str, uid: str) -> ConnectionRow | None:
    if "\x00" in tenant_slug or "\x00" in uid:
        return None  # no slug or uid holds NUL, and PostgreSQL cannot compare text with one
    r = conn.execute(_BY_URL, {"slug": tenant_slug, "uid": uid}).first()
    return _conn_row(r) if r else None


def lock_configuration_shared(conn: Connection, tenant_slug: str) -> datetime | None:
    """For a SCIM write, as its first statement: the tenant's configuration lock, shared;
    returns the transaction's start time (PostgreSQL; on SQLite a no-op, None)."""
    if conn.dialect.name != "postgresql":
        return None
    return conn.execute(_LOCK_SHARED, {"slug": tenant_slug}).one().at  # type: ignore[no-any-return]


def connections_of(conn: Connection, tenant_id: int) -> list[ConnectionRow]:
    rows = conn.execute(
        select(*_CONN_COLUMNS)
        .join(tenants, T.id == C.tenant_id)
        .where(C.tenant_id == tenant_id)
        .order_by(C.created_at, C.name)
    )
    return [_conn_row(r) for r in rows]


def connections_matching(
    conn: Connection, text: str, tenant_id: int | None = None, *, by_id: bool = True
) -> list[ConnectionRow]:
    """Connections whose name is ``text`` (ignoring case) or, with ``by_id``, whose id
    starts with it; of one tenant or of every tenant; at most 20 (enough to list the
    candidates)."""
    prefix = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    where = func.lower(C.name) == text.lower()
    if by_id:
        where = where | C.uid.like(prefix + "%", escape="\\")
    if tenant_id is not None:
        where = where & (C.tenant_id == tenant_id)
    rows = conn.execute(
        select(*_CONN_COLUMNS)
        .join(tenants, T.id == C.tenant_id)
        .where(where)
        .order_by(T.name, C.name, C.uid)
        .limit(20)
    )
    return [_conn_row(r) for r in rows]


def connection_name_taken(conn: Connection, tenant_id: int, name: str) -> bool:
    return (
        conn.execute(select(C.id).where(C.tenant_id == tenant_id, C.name == name)).first()
        is not None
    )


def update_connection(conn: Connection, tenant_id: int, connection_id: int, **values: Any) -> None:
    conn.execute(
        update(connections).where(C.tenant_id == tenant_id, C.id == connection_id).values(**values)
    )
