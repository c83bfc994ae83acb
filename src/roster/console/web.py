"""What every console page shares: templates, the session cookie, CSRF tokens, the tenant
check, and running database work off the event loop in one transaction.

Sessions are server-side (directory/admin/admins.py): the cookie carries a random id whose hash
is the session's key. CSRF: every state-changing form carries a token derived from the
cookie's secret (the session id, or before sign-in a random pre-session cookie), checked
on the server with a constant-time compare; an attacker's page can neither read the
cookie nor compute the token. SameSite=Lax keeps the cookie off cross-site POSTs as well.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import jinja2
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from roster.console.jobs import Jobs
from roster.directory.admin import admins
from roster.directory.admin.admins import AccountRow
from roster.directory.journal.system_log import correlated
from roster.directory.reads import console_reads
from roster.directory.reads.console_reads import TenantRow
from roster.errors import NotFound
from roster.settings import Settings

T = TypeVar("T")

SESSION_COOKIE = "roster_admin_session"
PRE_COOKIE = "roster_admin_pre"  # the CSRF secret of forms shown before sign-in
BASE = "/admin"
IDP_NAMES = {
    "okta": "Okta",
    "entra": "Microsoft Entra ID",
    "onelogin": "OneLogin",
    "jumpcloud": "JumpCloud",
    "generic": "Another SCIM 2.0 client",
}


def utcnow() -> datetime:
    """Naive UTC, the form every timestamp column stores."""
    return datetime.now(UTC).replace(tzinfo=None)


class Redirect(Exception):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class Refused(Exception):
    """Answer with a message page and this status (403 CSRF, 404 not yours, ...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Console:
    settings: Settings
    engine: Engine
    clock: Callable[[], datetime] = utcnow
    idle: timedelta = admins.SESSION_IDLE
    absolute: timedelta = admins.SESSION_ABSOLUTE
    # The webhook page's test ping sends with it; no redirects, as delivery (a redirect
    # could lead past the URL checks). Tests pass one over an httpx.MockTransport.
    webhook_client: httpx.Client = field(
        default_factory=lambda: httpx.Client(follow_redirects=False)
    )
    templates: jinja2.Environment = field(init=False)
    # Background jobs (rule apply, CSV import) this process runs: console/jobs.py.
    jobs: Jobs = field(init=False)

    def __post_init__(self) -> None:
        self.jobs = Jobs(self.engine, self.clock)
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("roster.console", "templates"),
            autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.globals["base"] = BASE
        self.templates.globals["idp_names"] = IDP_NAMES
        self.templates.filters["when"] = when
        self.templates.filters["setting"] = setting_text

    @property
    def secure(self) -> bool:
        return self.settings.public_url.lower().startswith("https://")

    def public(self, path: str) -> str:
        return self.settings.public_url.rstrip("/") + path

    async def db(self, fn: Callable[[Connection], T], request_id: str | None = None) -> T:
        """``fn`` in one transaction, in a worker thread; log entries it writes share
        the page request's id."""
        rid = request_id or str(uuid.uuid4())

        def run() -> T:
            with correlated(rid), self.engine.begin() as conn:
                return fn(conn)

        return await run_in_threadpool(run)

    def render(
        self,
        request: Request,
        template: str,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        context.setdefault("ctx", None)
        context.setdefault("csrf", "")
        context.setdefault("tenant", None)
        context.setdefault("title", "Roster admin")
        context["request_path"] = request.url.path
        html = self.templates.get_template(template).render(**context)
        return HTMLResponse(html, status_code, headers=headers)

    def form_page(
        self,
        request: Request,
        template: str,
        status_code: int,
        me: SignedIn,
        *,
        title: str,
        error: str | None,
        values: dict[str, Any] | None,
        **context: Any,
    ) -> HTMLResponse:
        """A page with forms: the admin's CSRF token, the last refusal and the values as
        typed (re-shown), and the "done" message a redirect after a change carries (on a
        GET only: a refused POST re-renders without it)."""
        done = request.query_params.get("done", "") if request.method == "GET" else ""
        return self.render(
            request,
            template,
            status_code,
            ctx=me,
            csrf=me.csrf,
            title=title,
            error=error,
            values=values or {},
            done=done,
            **context,
        )

    def set_cookie(self, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=BASE,
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )


def when(at: datetime | None) -> str:
    return "never" if at is None else at.strftime("%Y-%m-%d %H:%M:%S UTC")


def utc_time(text: str | None, what: str) -> datetime | None:
    """A time typed in a form (``2026-03-01T09:30``, read as UTC; an ISO 8601 time with an
    offset is converted to UTC), naive like the stored times."""
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Refused(400, f"{what}: {text!r} is no time (use 2026-03-01T09:30, UTC)") from None
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at


def setting_text(value: Any) -> str:
    """A setting's value as an admin types it (``true``, not ``True``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def csrf_for(secret: str) -> str:
    return hashlib.sha256(f"roster-console-csrf\0{secret}".encode()).hexdigest()


def check_csrf(secret: str | None, sent: object) -> None:
    if not secret or not isinstance(sent, str) or not hmac.compare_digest(csrf_for(secret), sent):
        raise Refused(
            403,
            "This form expired or did not come from this console (CSRF check failed). "
            "Reload the page and try again.",
        )


def wants_fragment(request: Request) -> bool:
    """An htmx request for part of a page (not a history restore, which needs all of it)."""
    return bool(request.headers.get("hx-request")) and not request.headers.get(
        "hx-history-restore-request"
    )


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@dataclass(frozen=True)
class SignedIn:
    account: AccountRow
    token: str  # the session cookie's value
    request_id: str

    @property
    def csrf(self) -> str:
        return csrf_for(self.token)

    @property
    def actor(self) -> str:
        return admins.actor(self.account)


async def signed_in(console: Console, request: Request) -> SignedIn:
    """The signed-in admin, or a redirect to the sign-in page."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        at = console.clock()
        account = await console.db(
            lambda c: admins.session_account(
                c, token, at, idle=console.idle, absolute=console.absolute
            )
        )
        if account is not None:
            return SignedIn(account, token, str(uuid.uuid4()))
    raise Redirect(f"{BASE}/login?next={request.url.path}")


def tenant_for(conn: Connection, account: AccountRow, slug: str) -> TenantRow:
    """The tenant a URL names, if this admin may see it: its own, or any for an operator.
    Another tenant's URL answers 404, as if it did not exist."""
    try:
        tenant = console_reads.tenant_by_slug(conn, slug)
    except NotFound:
        raise Refused(404, "No such page.") from None
    if not account.operator and account.tenant_id != tenant.id:
        raise Refused(404, "No such page.")
    return tenant


async def form(request: Request, secret: str | None) -> dict[str, Any]:
    """The posted form, after its CSRF token is checked (403 and nothing done if not)."""
    data = await request.form()
    values: dict[str, Any] = {}
    for key in data:
        items = data.getlist(key)
        values[key] = [str(v) for v in items] if len(items) > 1 else str(items[0])
    check_csrf(secret, values.get("csrf"))
    return values


def as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    return [v for v in (value if isinstance(value, list) else [value]) if v]


def pre_secret(request: Request) -> tuple[str, bool]:
    """The pre-session CSRF secret, and whether the response must set it."""
    existing = request.cookies.get(PRE_COOKIE)
    if existing:
        return existing, False
    return secrets.token_urlsafe(32), True


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)
