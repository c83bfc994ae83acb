"""Setup links: a one-time URL with which a customer's IT admin, without an account,
creates their tenant's SCIM connection and sees its token once (WorkOS's Admin Portal
links, but consumed on use). The link token is stored only as its SHA-256 hash."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from roster.directory.admin import tenancy
from roster.directory.admin.admins import hash_secret, log_action, new_secret
from roster.errors import InvalidLink, InvalidValue
from roster.storage import admins as store
from roster.storage.admins import SetupLinkRow

__all__ = ["SetupLinkRow"]

DEFAULT_TTL = timedelta(days=7)
MAX_TTL = timedelta(days=90)
_GONE = "this setup link is unknown, already used or expired; ask your Roster contact for a new one"


def parse_duration(text: str) -> timedelta:
    """``7d``, ``36h``, ``90m``: how long a link stays valid."""
    found = re.fullmatch(r"\s*(\d{1,6})\s*([dhm])\s*", text.lower())
    if not found:
        raise InvalidValue(f"{text!r} is no duration; write e.g. 7d, 36h or 90m")
    n, unit = int(found.group(1)), found.group(2)
    ttl = {"d": timedelta(days=n), "h": timedelta(hours=n), "m": timedelta(minutes=n)}[unit]
    if not timedelta(0) < ttl <= MAX_TTL:
        raise InvalidValue(f"a setup link lasts more than 0 and at most {MAX_TTL.days} days")
    return ttl


@dataclass(frozen=True)
class IssuedSetupLink:
    link: SetupLinkRow
    token: str  # shown once (as a URL), never stored


def create(
    conn: Connection, tenant_name: str, at: datetime, ttl: timedelta = DEFAULT_TTL
) -> IssuedSetupLink:
    tenant = tenancy.get_tenant(conn, tenant_name)
    token = new_secret()
    link_id = str(uuid.uuid4())
    store.insert_setup_link(
        conn,
        {
            "id": link_id,
            "token_hash": hash_secret(token),
            "tenant_id": tenant.id,
            "created_at": at,
            "expires_at": at + ttl,
        },
    )
    row = store.setup_link_by_hash(conn, hash_secret(token), lock=False)
    assert row is not None
    log_action(
        conn,
        tenant.id,
        "admin",
        "setup_link.create",
        f"setup link {link_id} created, valid until {row.expires_at.isoformat()}Z",
    )
    return IssuedSetupLink(row, token)


def list_links(conn: Connection, tenant_name: str) -> list[SetupLinkRow]:
    return store.setup_links_of(conn, tenancy.get_tenant(conn, tenant_name).id)


def open_link(conn: Connection, token: str, at: datetime, *, lock: bool = False) -> SetupLinkRow:
    row = store.setup_link_by_hash(conn, hash_secret(token), lock=lock)
    if row is None or row.used_at is not None or row.expires_at <= at:
        raise InvalidLink(_GONE)
    return row


def use(
    conn: Connection, token: str, idp: str, name: str | None, at: datetime
) -> tenancy.IssuedToken:
    """Create the connection (the action `roster connection create` uses) and consume the
    link, in one transaction: a refused creation leaves the link usable."""
    link = open_link(conn, token, at, lock=True)
    issued = tenancy.create_connection(conn, link.tenant_name, idp, name or None)
    store.mark_setup_link_used(conn, link.tenant_id, link.pk, at, issued.connection.uid)
    log_action(
        conn,
        link.tenant_id,
        f"setup-link:{link.id}",
        "setup_link.use",
        f"connection {issued.connection.name!r} ({issued.connection.idp}) created "
        "through a setup link; the link is used up",
        connection_uid=issued.connection.uid,
        resource_type="Connection",
        resource_id=issued.connection.uid,
    )
    return issued
