"""Admin-console accounts: creation, set-password links, sign-in with rate limits, sessions.

Every secret handed out (a set-password link, a session cookie) carries 256 random bits
and is stored only as its SHA-256 hash, like SCIM tokens; passwords are argon2id hashes
(argon2-cffi's defaults, RFC 9106's second recommended option). Times are passed in by
the caller, so the console's clock can be driven by tests.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection

from roster.directory.admin import tenancy
from roster.directory.journal.change import current
from roster.directory.journal.system_log import Outcome, entry, record, request_id
from roster.errors import (
    InvalidLink,
    InvalidValue,
    NotFound,
    TooManyRequests,
    UniquenessConflict,
)
from roster.storage import admins as store
from roster.storage.admins import AccountRow
from roster.storage.integrity import unique_key

__all__ = ["AccountRow"]

PASSWORD_LINK_TTL = timedelta(days=3)
SESSION_IDLE = timedelta(minutes=30)
SESSION_ABSOLUTE = timedelta(hours=12)
# Sign-in rate limits: failures counted over the window, per account and per address.
ATTEMPT_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # argon2 hashes anything, but an unbounded form field is a DoS lever

_hasher = PasswordHasher()
# Verified against when the email is unknown, so the answer takes as long either way.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 random bits


def email_key(email: str) -> str:
    return email.strip().lower()


def _clean_email(email: str) -> str:
    email = email.strip()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or " " in email or len(email) > 320:
        raise InvalidValue(f"{email!r} is not an email address")
    return email


def actor(account: AccountRow) -> str:
    """The system-log actor of an admin's console actions."""
    return f"admin:{account.email}"[:100]


def log_action(
    conn: Connection,
    tenant_id: int,
    who: str,
    action: str,
    detail: str,
    *,
    connection_uid: str | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    status: int = 200,
) -> None:
    """One system-log entry for an admin action, with the admin as actor."""
    record(
        conn,
        tenant_id=tenant_id,
        connection_uid=connection_uid,
        actor=who[:100],
        method="ADMIN",
        path=action,
        outcome=Outcome(status, resource_type, resource_id, None, detail),
        request_id=request_id(),
        duration_ms=0.0,
    )


def _log_account(
    conn: Connection, account: AccountRow, action: str, detail: str, *, status: int = 200
) -> None:
    """A sign-in or sign-out in the system log of the tenant the account belongs to; an
    operator's (who sees every tenant) in every tenant's log, so each tenant's admins see
    when someone who can read their data signed in."""
    if account.tenant_id is not None:
        log_action(conn, account.tenant_id, actor(account), action, detail, status=status)
        return
    tenants = tenancy.list_tenants(conn)
    if not tenants:
        return
    # One change carries them all: its flush writes every entry (each with its own
    # tenant) in one statement, however many tenants there are.
    change = current(conn, tenants[0].id)
    for tenant in tenants:
        change.log(
            entry(
                tenant_id=tenant.id,
                connection_uid=None,
                actor=actor(account),
                method="ADMIN",
                path=action,
                outcome=Outcome(status, None, None, None, f"operator {detail}"),
                request_id=change.request_id,
            )
        )


@dataclass(frozen=True)
class IssuedLink:
    account: AccountRow
    token: str  # shown once (as a URL), never stored
    expires_at: datetime


def _issue_password_link(
    conn: Connection, account: AccountRow, at: datetime, ttl: timedelta
) -> IssuedLink:
    store.delete_password_links(conn, account.pk)  # only the newest link works
    token = new_secret()
    store.insert_password_link(conn, hash_secret(token), account.pk, at, at + ttl)
    return IssuedLink(account, token, at + ttl)


def create_account(
    conn: Connection,
    tenant_name: str | None,
    email: str,
    at: datetime,
    ttl: timedelta = PASSWORD_LINK_TTL,
) -> IssuedLink:
    """A tenant's admin (or, with no tenant, an operator) and its set-password link."""
    email = _clean_email(email)
    tenant = tenancy.get_tenant(conn, tenant_name) if tenant_name is not None else None
    if store.account_by_email(conn, email_key(email)) is not None:
        raise UniquenessConflict(f"an admin account for {email!r} already exists")
    # A concurrent create of the same email.
    with unique_key(f"an admin account for {email!r} already exists"), conn.begin_nested():
        pk = store.insert_account(
            conn,
            {
                "id": str(uuid.uuid4()),
                "tenant_id": tenant.id if tenant else None,
                "email": email,
                "email_key": email_key(email),
                "created_at": at,
            },
        )
    account = store.account_by_pk(conn, pk)
    assert account is not None
    if tenant is not None:
        log_action(conn, tenant.id, "admin", "admin.create", f"admin account {email!r} created")
    return _issue_password_link(conn, account, at, ttl)


def get_account(conn: Connection, email: str) -> AccountRow:
    account = store.account_by_email(conn, email_key(email))
    if account is None:
        raise NotFound(f"no admin account for {email!r} (see `roster admin list`)")
    return account


def list_accounts(conn: Connection, tenant_name: str | None) -> list[AccountRow]:
    if tenant_name is None:
        return store.accounts(conn, None, everyone=True)
    return store.accounts(conn, tenancy.get_tenant(conn, tenant_name).id, everyone=False)


def remove_account(conn: Connection, email: str) -> AccountRow:
    account = get_account(conn, email)
    store.delete_account(conn, account.pk)
    if account.tenant_id is not None:
        log_action(
            conn, account.tenant_id, "admin", "admin.remove", f"admin account {email!r} removed"
        )
    return account


def reset_account(
    conn: Connection, email: str, at: datetime, ttl: timedelta = PASSWORD_LINK_TTL
) -> IssuedLink:
    """Forget the password, end every session, and issue a new set-password link."""
    account = get_account(conn, email)
    store.set_password_hash(conn, account.pk, None, at)
    store.delete_sessions_of(conn, account.pk)
    if account.tenant_id is not None:
        log_action(
            conn,
            account.tenant_id,
            "admin",
            "admin.reset",
            f"password of {account.email!r} reset; its sessions ended",
        )
    return _issue_password_link(conn, account, at, ttl)


def account_for_link(conn: Connection, token: str, at: datetime) -> AccountRow:
    found = store.password_link(conn, hash_secret(token))
    if found is None or found[1] <= at:
        raise InvalidLink("this link is unknown, used or expired; ask for a new one")
    account = store.account_by_pk(conn, found[0])
    if account is None:
        raise InvalidLink("this link is unknown, used or expired; ask for a new one")
    return account


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidValue(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidValue(f"a password has at most {MAX_PASSWORD} characters")


def set_password(conn: Connection, token: str, password: str, at: datetime) -> AccountRow:
    """Use a set-password link once: the password is set, the link and sessions are gone."""
    account = account_for_link(conn, token, at)
    check_password(password)
    store.set_password_hash(conn, account.pk, _hasher.hash(password), at)
    store.delete_password_links(conn, account.pk)
    store.delete_sessions_of(conn, account.pk)
    if account.tenant_id is not None:
        log_action(conn, account.tenant_id, actor(account), "admin.password", "password set")
    return account


@dataclass(frozen=True)
class IssuedSession:
    account: AccountRow
    token: str  # the cookie value, never stored


def sign_in(
    conn: Connection, email: str, password: str, address: str, at: datetime
) -> IssuedSession | None:
    """Check a password, within the rate limits. Every attempt is counted, so a wrong
    password returns None (the caller commits the count) instead of raising."""
    key = email_key(email)[:320]
    since = at - ATTEMPT_WINDOW
    store.delete_attempts_before(conn, at - timedelta(days=1))
    store.delete_sessions_before(conn, at - SESSION_ABSOLUTE, at - SESSION_IDLE)
    if (
        store.failures_since(conn, since, email_key=key) >= MAX_FAILURES_PER_ACCOUNT
        or store.failures_since(conn, since, address=address) >= MAX_FAILURES_PER_ADDRESS
    ):
        # Not counted, and the password is not even checked: a guesser learns nothing.
        raise TooManyRequests(
            "too many failed sign-ins for this account or from this address; "
            f"try again in {int(ATTEMPT_WINDOW.total_seconds() // 60)} minutes"
        )
    account = store.account_by_email(conn, key)
    stored = account.password_hash if account is not None else None
    ok: bool
    try:
        ok = _hasher.verify(stored or _DUMMY_HASH, password[:MAX_PASSWORD]) and stored is not None
    except (VerificationError, InvalidHashError):
        ok = False
    store.insert_attempt(conn, key, address, at, ok)
    if not ok or account is None or stored is None:
        if account is not None:
            _log_account(
                conn,
                account,
                "admin.sign_in",
                f"sign-in refused (wrong password) from {address}",
                status=401,
            )
        return None
    if _hasher.check_needs_rehash(stored):
        store.set_password_hash(conn, account.pk, _hasher.hash(password), at)
    token = new_secret()
    store.insert_session(conn, hash_secret(token), account.pk, at, address)
    _log_account(conn, account, "admin.sign_in", f"signed in from {address}")
    return IssuedSession(account, token)


def session_account(
    conn: Connection,
    token: str,
    at: datetime,
    *,
    idle: timedelta = SESSION_IDLE,
    absolute: timedelta = SESSION_ABSOLUTE,
) -> AccountRow | None:
    """The account a session cookie belongs to, or None (unknown or timed out: deleted)."""
    id_hash = hash_secret(token)
    row = store.session_by_hash(conn, id_hash)
    if row is None:
        return None
    if at - row.last_seen_at > idle or at - row.created_at > absolute:
        store.delete_session(conn, id_hash)
        return None
    account = store.account_by_pk(conn, row.account_pk)
    if account is None or account.password_hash is None:
        store.delete_session(conn, id_hash)
        return None
    if at - row.last_seen_at > timedelta(seconds=30):  # one write a half-minute, at most
        store.touch_session(conn, id_hash, at)
    return account


def sign_out(conn: Connection, token: str, account: AccountRow) -> None:
    store.delete_session(conn, hash_secret(token))
    _log_account(conn, account, "admin.sign_out", "signed out")
