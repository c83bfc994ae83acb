"""Store functions for admin-console accounts, their set-password links, sessions, sign-in
attempts, and setup links. Only hashes of secrets reach these tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from roster.storage.tables import (
    admin_accounts,
    admin_password_links,
    admin_sessions,
    admin_signin_attempts,
    setup_links,
    tenants,
)

A = admin_accounts.c
P = admin_password_links.c
S = admin_sessions.c
N = admin_signin_attempts.c
K = setup_links.c
T = tenants.c


@dataclass(frozen=True)
class AccountRow:
    pk: int
    id: str
    tenant_id: int | None  # None: an operator, who sees every tenant
    tenant_name: str | None
    tenant_slug: str | None
    email: str
    password_hash: str | None
    created_at: datetime
    password_set_at: datetime | None

    @property
    def operator(self) -> bool:
        return self.tenant_id is None


_ACCOUNT = (
    select(
        A.pk,
        A.id,
        A.tenant_id,
        T.name.label("tenant_name"),
        T.slug.label("tenant_slug"),
        A.email,
        A.password_hash,
        A.created_at,
        A.password_set_at,
    )
    .select_from(admin_accounts)
    .outerjoin(tenants, T.id == A.tenant_id)
)


def _account(r: Any) -> AccountRow:
    return AccountRow(
        r.pk,
        r.id,
        r.tenant_id,
        r.tenant_name,
        r.tenant_slug,
        r.email,
        r.password_hash,
        r.created_at,
        r.password_set_at,
    )


def insert_account(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(insert(admin_accounts).values(**values).returning(A.pk)).scalar_one())


def account_by_pk(conn: Connection, pk: int) -> AccountRow | None:
    r = conn.execute(_ACCOUNT.where(A.pk == pk)).first()
    return _account(r) if r else None


def account_by_email(conn: Connection, email_key: str) -> AccountRow | None:
    r = conn.execute(_ACCOUNT.where(A.email_key == email_key)).first()
    return _account(r) if r else None


def accounts(conn: Connection, tenant_id: int | None, *, everyone: bool) -> list[AccountRow]:
    query = _ACCOUNT if everyone else _ACCOUNT.where(A.tenant_id == tenant_id)
    return [_account(r) for r in conn.execute(query.order_by(A.email_key))]


def delete_account(conn: Connection, pk: int) -> None:
    conn.execute(delete(admin_sessions).where(S.account_pk == pk))
    conn.execute(delete(admin_password_links).where(P.account_pk == pk))
    conn.execute(delete(admin_accounts).where(A.pk == pk))


def set_password_hash(conn: Connection, pk: int, password_hash: str | None, at: datetime) -> None:
    conn.execute(
        update(admin_accounts)
        .where(A.pk == pk)
        .values(password_hash=password_hash, password_set_at=at if password_hash else None)
    )


# ---- set-password links -------------------------------------------------------------------


def insert_password_link(
    conn: Connection, token_hash: str, account_pk: int, at: datetime, expires_at: datetime
) -> None:
    conn.execute(
        insert(admin_password_links).values(
            token_hash=token_hash, account_pk=account_pk, created_at=at, expires_at=expires_at
        )
    )


def password_link(conn: Connection, token_hash: str) -> tuple[int, datetime] | None:
    r = conn.execute(
        select(P.account_pk, P.expires_at).where(P.token_hash == token_hash).with_for_update()
    ).first()
    return (int(r.account_pk), r.expires_at) if r else None


def delete_password_links(conn: Connection, account_pk: int) -> None:
    conn.execute(delete(admin_password_links).where(P.account_pk == account_pk))


# ---- sessions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionRow:
    account_pk: int
    created_at: datetime
    last_seen_at: datetime


def insert_session(
    conn: Connection, id_hash: str, account_pk: int, at: datetime, address: str
) -> None:
    conn.execute(
        insert(admin_sessions).values(
            id_hash=id_hash,
            account_pk=account_pk,
            created_at=at,
            last_seen_at=at,
            address=address[:64],
        )
    )


def session_by_hash(conn: Connection, id_hash: str) -> SessionRow | None:
    r = conn.execute(
        select(S.account_pk, S.created_at, S.last_seen_at).where(S.id_hash == id_hash)
    ).first()
    return SessionRow(int(r.account_pk), r.created_at, r.last_seen_at) if r else None


def touch_session(conn: Connection, id_hash: str, at: datetime) -> None:
    conn.execute(update(admin_sessions).where(S.id_hash == id_hash).values(last_seen_at=at))


def delete_session(conn: Connection, id_hash: str) -> None:
    conn.execute(delete(admin_sessions).where(S.id_hash == id_hash))


def delete_sessions_of(conn: Connection, account_pk: int) -> None:
    conn.execute(delete(admin_sessions).where(S.account_pk == account_pk))


def delete_sessions_before(
    conn: Connection, created_before: datetime, seen_before: datetime
) -> None:
    conn.execute(
        delete(admin_sessions).where(
            (S.created_at < created_before) | (S.last_seen_at < seen_before)
        )
    )


# ---- sign-in attempts -----------------------------------------------------------------------


def insert_attempt(
    conn: Connection, email_key: str, address: str, at: datetime, succeeded: bool
) -> None:
    conn.execute(
        insert(admin_signin_attempts).values(
            email_key=email_key[:320], address=address[:64], at=at, succeeded=int(succeeded)
        )
    )


def failures_since(
    conn: Connection, since: datetime, *, email_key: str | None = None, address: str | None = None
) -> int:
    query = select(func.count()).where(N.at >= since, N.succeeded == 0)
    if email_key is not None:
        query = query.where(N.email_key == email_key)
    if address is not None:
        query = query.where(N.address == address[:64])
    return int(conn.execute(query).scalar_one())


def delete_attempts_before(conn: Connection, before: datetime) -> None:
    conn.execute(delete(admin_signin_attempts).where(N.at < before))


# ---- setup links ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SetupLinkRow:
    pk: int
    id: str
    tenant_id: int
    tenant_name: str
    tenant_slug: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    connection_uid: str | None


_LINK = select(
    K.pk,
    K.id,
    K.tenant_id,
    T.name.label("tenant_name"),
    T.slug.label("tenant_slug"),
    K.created_at,
    K.expires_at,
    K.used_at,
    K.connection_uid,
).join(tenants, T.id == K.tenant_id)


def _link(r: Any) -> SetupLinkRow:
    return SetupLinkRow(
        r.pk,
        r.id,
        r.tenant_id,
        r.tenant_name,
        r.tenant_slug,
        r.created_at,
        r.expires_at,
        r.used_at,
        r.connection_uid,
    )


def insert_setup_link(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(setup_links).values(**values))


def setup_link_by_hash(conn: Connection, token_hash: str, *, lock: bool) -> SetupLinkRow | None:
    query = _LINK.where(K.token_hash == token_hash)
    if lock:
        query = query.with_for_update(of=setup_links)
    r = conn.execute(query).first()
    return _link(r) if r else None


def setup_links_of(conn: Connection, tenant_id: int) -> list[SetupLinkRow]:
    rows = conn.execute(_LINK.where(K.tenant_id == tenant_id).order_by(K.created_at.desc()))
    return [_link(r) for r in rows]


def mark_setup_link_used(
    conn: Connection, tenant_id: int, pk: int, at: datetime, connection_uid: str
) -> None:
    conn.execute(
        update(setup_links)
        .where(K.tenant_id == tenant_id, K.pk == pk)
        .values(used_at=at, connection_uid=connection_uid)
    )
