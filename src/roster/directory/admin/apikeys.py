"""API keys of the host application's read API.

A key is ``rk_<id>_<secret>``: the id (public, like a connection uid) finds the row, and
the SHA-256 of the secret is compared in constant time (hmac.compare_digest). Keys carry
256 random bits, are shown once, and only the hash is stored. Separate from SCIM tokens:
a SCIM token never reads the directory, and an API key never writes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection

from roster.directory.journal.system_log import note, now
from roster.errors import NotFound, Unauthorized, UniquenessConflict
from roster.storage import apikeys as store
from roster.storage.apikeys import ApiKeyRow

PREFIX = "rk_"
_NO_HASH = "0" * 64

__all__ = ["ApiKeyRow", "IssuedKey", "authenticate", "create", "list_keys", "revoke"]


@dataclass(frozen=True)
class IssuedKey:
    row: ApiKeyRow
    key: str  # shown once, never stored


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create(conn: Connection, tenant_id: int, name: str) -> IssuedKey:
    name = name.strip() or "default"
    if store.name_taken(conn, tenant_id, name):
        raise UniquenessConflict(f"this tenant already has an API key called {name!r}")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = store.insert_key(conn, tenant_id, key_id, name, _hash(secret), now())
    note(
        conn,
        tenant_id,
        None,
        "apikey.create",
        f"API key {name!r} ({key_id}) created",
        actor="admin",
    )
    return IssuedKey(row, f"{PREFIX}{key_id}_{secret}")


def list_keys(conn: Connection, tenant_id: int) -> list[ApiKeyRow]:
    return store.keys_of(conn, tenant_id)


def revoke(conn: Connection, tenant_id: int, key_id: str) -> ApiKeyRow:
    row = store.by_id(conn, key_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(f"no API key {key_id!r} in this tenant")
    store.delete_key(conn, tenant_id, row.id)
    note(
        conn,
        tenant_id,
        None,
        "apikey.revoke",
        f"API key {row.name!r} ({row.id}) revoked",
        actor="admin",
    )
    return row


def authenticate(conn: Connection, authorization: str | None) -> ApiKeyRow:
    """The key of ``Authorization: Bearer rk_…``; 401 for anything else, alike."""
    scheme, _, presented = (authorization or "").partition(" ")
    presented = presented.strip() if scheme.lower() == "bearer" else ""
    key_id, _, secret = presented.removeprefix(PREFIX).partition("_")
    # A NUL is in no key id (and PostgreSQL cannot compare text holding one).
    usable = presented.startswith(PREFIX) and key_id and "\x00" not in key_id
    row = store.by_id(conn, key_id) if usable else None
    # Always hash and compare, so the timing does not tell whether the id exists.
    matches = hmac.compare_digest(_hash(secret), row.secret_hash if row else _NO_HASH)
    if row is None or not matches:
        raise Unauthorized("missing or invalid API key (send Authorization: Bearer rk_…)")
    return row
