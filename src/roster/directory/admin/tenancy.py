"""Tenants, SCIM connections and their bearer tokens.

Tokens carry 256 random bits, are shown once, and only their SHA-256 hash is stored; a
presented token is hashed and compared in constant time (hmac.compare_digest).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
import uuid
from dataclasses import dataclass, replace

from sqlalchemy import Connection

from roster.directory.journal import events
from roster.directory.journal.change import open_change
from roster.directory.journal.system_log import Outcome, now, record
from roster.directory.settings import rate_limits, registry
from roster.directory.settings.context import ConnectionContext
from roster.errors import (
    AmbiguousConnection,
    AuthenticationFailed,
    InvalidValue,
    NotFound,
    UniquenessConflict,
)
from roster.scim import dialects
from roster.storage import tenancy as store
from roster.storage.tenancy import ConnectionRow, TenantRow

_NO_HASH = "0" * 64  # compared against when the URL names no connection
IDP_KINDS = ("okta", "entra", "onelogin", "jumpcloud", "generic")
TOKEN_PREFIX = "roster_"  # noqa: S105  (a public prefix that lets secret scanners spot tokens)


@dataclass(frozen=True)
class IssuedToken:
    connection: ConnectionRow
    token: str  # shown once, never stored


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)  # 32 bytes = 256 random bits


# Letters NFKD does not decompose into an ASCII letter and a mark.
_LATIN = str.maketrans(
    {
        "ß": "ss",
        "æ": "ae",
        "œ": "oe",
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "\u0131": "i",
    }
)


def _slug(name: str) -> str:
    """The tenant's part of its base URLs: letters and digits, the rest as hyphens. Accented
    letters keep their base letter (``Ünïcode Co`` -> ``unicode-co``), so the slug still
    reads as the name; a slug, once given, never changes (it is in every base URL)."""
    folded = unicodedata.normalize("NFKD", name.lower().translate(_LATIN))
    ascii_only = folded.encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_only).strip("-")
    return slug[:48].rstrip("-") or "tenant"


def create_tenant(conn: Connection, name: str) -> TenantRow:
    name = name.strip()
    if not name:
        raise InvalidValue("a tenant needs a name")
    if store.tenant_by_name(conn, name) is not None:
        raise UniquenessConflict(f"a tenant called {name!r} already exists")
    slug, n = _slug(name), 1
    while store.slug_taken(conn, slug):
        n += 1
        slug = f"{_slug(name)}-{n}"
    return store.insert_tenant(conn, name, slug, now())


def get_tenant(conn: Connection, name: str) -> TenantRow:
    row = store.tenant_by_name(conn, name)
    if row is None:
        raise NotFound(f"no tenant called {name!r} (see `roster tenant list`)")
    return row


def list_tenants(conn: Connection) -> list[TenantRow]:
    return store.all_tenants(conn)


def _admin_log(conn: Connection, row: ConnectionRow | TenantRow, action: str, detail: str) -> None:
    tenant_id = row.tenant_id if isinstance(row, ConnectionRow) else row.id
    connection_uid = row.uid if isinstance(row, ConnectionRow) else None
    record(
        conn,
        tenant_id=tenant_id,
        connection_uid=connection_uid,
        actor="admin",
        method="ADMIN",
        path=action,
        outcome=Outcome(200, "Connection", connection_uid, None, detail),
    )


def create_connection(
    conn: Connection, tenant_name: str, idp: str, name: str | None
) -> IssuedToken:
    tenant = get_tenant(conn, tenant_name)
    idp = idp.lower()
    if idp not in IDP_KINDS:
        raise InvalidValue(f"unknown IdP kind {idp!r}; choose one of {', '.join(IDP_KINDS)}")
    name = (name or idp).strip()
    if store.connection_name_taken(conn, tenant.id, name):
        raise UniquenessConflict(f"tenant {tenant.name!r} already has a connection called {name!r}")
    token = new_token()
    at = now()
    uid = str(uuid.uuid4())
    store.insert_connection(
        conn,
        {
            "uid": uid,
            "tenant_id": tenant.id,
            "name": name,
            "idp": idp,
            "status": "active",
            "token_hash": hash_token(token),
            "token_created_at": at,
            "created_at": at,
            "options": {},
        },
    )
    row = get_connection(conn, uid)
    _admin_log(conn, row, "connection.create", f"connection {name!r} ({idp}) created")
    return IssuedToken(row, token)


def get_connection(conn: Connection, uid: str) -> ConnectionRow:
    row = store.connection_by_uid(conn, uid)
    if row is None:
        raise NotFound(f"no connection with id {uid!r}")
    return row


# The shortest start of an id accepted for it: `roster log` shows 8 characters, and fewer
# than 4 would match by accident more often than on purpose.
MIN_ID_PREFIX = 4


def resolve_connection(conn: Connection, text: str, tenant: str | None = None) -> ConnectionRow:
    """The connection a person means by ``text``: its id, a unique start of its id (at
    least MIN_ID_PREFIX characters, as `roster log` shows them), or its name (ignoring
    case). With ``tenant``, only that tenant's connections count. Refused, naming every
    candidate, when several match (a name two tenants use, a short prefix)."""
    wanted = text.strip()
    if not wanted or "\x00" in wanted:
        raise InvalidValue("name a connection: its id, the start of its id, or its name")
    tenant_row = get_tenant(conn, tenant) if tenant is not None else None
    exact = store.connection_by_uid(conn, wanted.lower())
    if exact is not None and (tenant_row is None or exact.tenant_id == tenant_row.id):
        return exact
    tenant_id = tenant_row.id if tenant_row else None
    short = len(wanted) < MIN_ID_PREFIX
    matches = store.connections_matching(conn, wanted, tenant_id, by_id=not short)
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise AmbiguousConnection(
            wanted, [f"{r.uid} ({r.name!r} of tenant {r.tenant_name!r})" for r in matches]
        )
    where = f" in tenant {tenant_row.name!r}" if tenant_row else ""
    hint = (
        f" (an id needs at least {MIN_ID_PREFIX} characters)"
        if short and store.connections_matching(conn, wanted, tenant_id)
        else ""
    )
    raise NotFound(
        f"no connection {wanted!r}{where}: give its id, the start of its id, or its name"
        f"{hint} (see `roster connection list --tenant T`)"
    )


def list_connections(conn: Connection, tenant_name: str) -> list[ConnectionRow]:
    return store.connections_of(conn, get_tenant(conn, tenant_name).id)


def set_status(conn: Connection, connection_id: str, status: str) -> ConnectionRow:
    row = get_connection(conn, connection_id)
    store.update_connection(conn, row.tenant_id, row.id, status=status)
    if row.status != status:
        kind = "activated" if status == "active" else "deactivated"
        data = {"name": row.name, "idp": row.idp, "status": status}
        events.connection_changed(conn, row.tenant_id, row.uid, kind, data)
    _admin_log(
        conn,
        row,
        f"connection.{'activate' if status == 'active' else 'deactivate'}",
        f"connection {row.name!r} is now {status}",
    )
    return get_connection(conn, connection_id)


def regenerate_token(conn: Connection, connection_id: str) -> IssuedToken:
    """A new token; the old hash is overwritten, so the old token stops working at once."""
    row = get_connection(conn, connection_id)
    token = new_token()
    store.update_connection(
        conn, row.tenant_id, row.id, token_hash=hash_token(token), token_created_at=now()
    )
    _admin_log(conn, row, "token.regenerate", f"token of connection {row.name!r} regenerated")
    return IssuedToken(get_connection(conn, connection_id), token)


def authenticate(
    conn: Connection,
    tenant_slug: str,
    connection_uid: str,
    authorization: str | None,
    base_url: str,
    *,
    writes: bool = False,
) -> ConnectionContext:
    """Check ``Authorization: Bearer <token>`` against the connection the URL names.

    ``writes``: the request may change state. Its tenant's configuration lock is taken
    first (shared), and its change (directory/journal/change.py) is opened on ``conn``."""
    at = store.lock_configuration_shared(conn, tenant_slug) if writes else None
    row = store.connection_for_url(conn, tenant_slug, connection_uid)
    header = (authorization or "").strip()
    scheme, _, presented = header.partition(" ")
    presented = presented.strip() if scheme.lower() == "bearer" else ""
    if not presented and header.startswith(TOKEN_PREFIX) and " " not in header:
        # Okta's "SCIM 2.0 Test App (Header Auth)" sends its API Token field as the whole
        # Authorization header; admins who paste the token without "Bearer " still connect.
        presented = header
    # Always hash and compare, so neither the answer nor its timing tells whether the
    # base URL exists: an unknown URL, a missing token and a wrong token look the same.
    matches = hmac.compare_digest(hash_token(presented), row.token_hash if row else _NO_HASH)
    if row is None or not presented or not matches:
        raise AuthenticationFailed(
            "missing or invalid bearer token for this base URL "
            "(send Authorization: Bearer <the connection's token>)",
            tenant_id=row.tenant_id if row else None,
            connection_uid=row.uid if row else None,
            token_sent=bool(presented),
        )
    if row.status != "active":
        raise AuthenticationFailed(
            f"the SCIM connection {row.name!r} is inactive; an admin must activate it",
            tenant_id=row.tenant_id,
            connection_uid=row.uid,
        )
    profile = dialects.profile_for(row.idp, row.options.get("dialect"))
    settings = registry.of(row)
    ctx = ConnectionContext(
        row.tenant_id,
        row.tenant_slug,
        row.id,
        row.uid,
        row.idp,
        base_url,
        profile,
        settings,
        row.config_version,
        rate_limits.from_settings(settings),
    )
    if writes:
        open_change(conn, row.tenant_id, mode="scim", connection_uid=row.uid, at=at)
    return ctx


def begin_write(conn: Connection, ctx: ConnectionContext) -> ConnectionContext:
    """One more write transaction of an authenticated connection (a Bulk operation):
    the configuration lock first, then its change; returns the context with the
    configuration version as it is now (an admin may have changed it meanwhile)."""
    at = store.lock_configuration_shared(conn, ctx.tenant_slug)
    open_change(conn, ctx.tenant_id, mode="scim", connection_uid=ctx.connection_uid, at=at)
    return replace(ctx, config_version=store.config_version(conn, ctx.tenant_id))
