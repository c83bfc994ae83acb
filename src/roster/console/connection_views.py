"""The tenant list (operators), the dashboard, and a connection's page with its actions
(regenerate the token, deactivate, activate), each behind a confirmation page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from roster.console import guides
from roster.console.web import (
    BASE,
    Console,
    Redirect,
    Refused,
    SignedIn,
    form,
    signed_in,
    tenant_for,
)
from roster.directory.admin import admins, connection_settings, tenancy
from roster.directory.reads import console_reads
from roster.directory.reads.console_reads import LogFilter
from roster.errors import NotFound, RosterError

# What each action does, as the confirmation page says it before anything happens.
ACTIONS = {
    "regenerate": (
        "Regenerate the token",
        "A new token is issued and shown once. The current token stops working at once: "
        "the identity provider's requests fail with 401 until you paste the new token "
        "into its provisioning settings.",
    ),
    "deactivate": (
        "Deactivate the connection",
        "Every SCIM request on this connection will be refused with 401 "
        '"connection is inactive". Nothing is deleted: users, groups and employees stay, '
        "and activating the connection again lets the same token back in.",
    ),
    "activate": (
        "Activate the connection",
        "SCIM requests with the connection's current token are accepted again.",
    ),
}


def routes(console: Console) -> list[Route]:  # noqa: C901 (one small closure per route, registered in one place)
    async def home(request: Request) -> Response:
        me = await signed_in(console, request)
        if me.account.tenant_slug is not None:
            raise Redirect(f"{BASE}/t/{me.account.tenant_slug}/")
        tenants = await console.db(console_reads.all_tenants)
        return console.render(
            request, "tenants.html", ctx=me, csrf=me.csrf, title="Tenants", tenants=tenants
        )

    async def dashboard(request: Request) -> Response:
        me = await signed_in(console, request)
        slug = request.path_params["slug"]
        at = console.clock()

        def read(c: Connection) -> dict[str, Any]:
            tenant = tenant_for(c, me.account, slug)
            health = console_reads.dashboard(c, tenant, at)
            return {
                "tenant": tenant,
                "health": health,
                "charts": {
                    h.row.uid: console_reads.hourly(c, tenant.id, h.row.uid, at) for h in health
                },
                "manual": console_reads.manual_employees(c, tenant.id),
            }

        data = await console.db(read)
        return console.render(
            request, "dashboard.html", ctx=me, csrf=me.csrf, title="Dashboard", **data
        )

    async def show(
        request: Request,
        me: SignedIn,
        status: int = 200,
        error: str | None = None,
    ) -> Response:
        slug, uid = request.path_params["slug"], request.path_params["uid"]

        def read(c: Connection) -> dict[str, Any]:
            tenant = tenant_for(c, me.account, slug)
            row = _connection(c, tenant.id, uid)
            return {
                "tenant": tenant,
                "connection": row,
                "settings": console_reads.settings_of(row),
                "entries": console_reads.log_page(
                    c, tenant.id, LogFilter(connection_uid=row.uid, actor="scim"), None, 25
                ),
            }

        data = await console.db(read)
        row = data["connection"]
        base_url = console.settings.base_url(row.tenant_slug, row.uid)
        return console.render(
            request,
            "connection.html",
            status,
            ctx=me,
            csrf=me.csrf,
            title=f"Connection {row.name}",
            base_url=base_url,
            guide=guides.render(row.idp, base_url, row.uid, None),
            settings_error=error,
            saved=request.query_params.get("saved", "") if request.method == "GET" else "",
            **data,
        )

    async def connection(request: Request) -> Response:
        return await show(request, await signed_in(console, request))

    async def configure(request: Request) -> Response:
        """Set or reset one setting with ``connection_settings.configure``, the action of `roster
        connection configure` (its validation, its log entry), then log the admin."""
        me = await signed_in(console, request)
        slug, uid = request.path_params["slug"], request.path_params["uid"]
        values = await form(request, me.token)
        name = str(values.get("name", "")).strip()
        reset = values.get("do") == "reset"
        sets = [] if reset else [f"{name}={values.get('value', '')}"]

        def run(c: Connection) -> list[str]:
            tenant = tenant_for(c, me.account, slug)
            row = _connection(c, tenant.id, uid)
            changes = connection_settings.configure(c, row, sets, [name] if reset else [])
            admins.log_action(
                c,
                tenant.id,
                me.actor,
                "console.connection.configure",
                f"connection {row.name!r}: " + "; ".join(changes),
                connection_uid=row.uid,
                resource_type="Connection",
                resource_id=row.uid,
            )
            return changes

        try:
            changes = await console.db(run, me.request_id)
        except RosterError as err:
            if isinstance(err, NotFound):
                raise
            return await show(request, me, err.status, f"{name}: {err.detail}")
        saved = urlencode({"saved": "; ".join(changes)})
        raise Redirect(f"{BASE}/t/{slug}/connections/{uid}?{saved}#settings-heading")

    async def confirm(request: Request) -> Response:
        me = await signed_in(console, request)
        slug, uid, action = (request.path_params[k] for k in ("slug", "uid", "action"))
        if action not in ACTIONS:
            raise Refused(404, "No such page.")

        def read(c: Connection) -> dict[str, Any]:
            tenant = tenant_for(c, me.account, slug)
            return {"tenant": tenant, "connection": _connection(c, tenant.id, uid)}

        data = await console.db(read)
        heading, consequence = ACTIONS[action]
        return console.render(
            request,
            "confirm.html",
            ctx=me,
            csrf=me.csrf,
            title=heading,
            heading=heading,
            consequence=consequence,
            action=action,
            **data,
        )

    async def act(request: Request) -> Response:
        me = await signed_in(console, request)
        slug, uid, action = (request.path_params[k] for k in ("slug", "uid", "action"))
        if action not in ACTIONS:
            raise Refused(404, "No such page.")
        await form(request, me.token)

        def run(c: Connection) -> dict[str, Any]:
            tenant = tenant_for(c, me.account, slug)
            row = _connection(c, tenant.id, uid)
            token = None
            if action == "regenerate":
                token = tenancy.regenerate_token(c, row.uid).token
                detail = f"token of connection {row.name!r} regenerated; the old one is revoked"
            else:
                status = "active" if action == "activate" else "inactive"
                tenancy.set_status(c, row.uid, status)
                detail = f"connection {row.name!r} is now {status}"
            admins.log_action(
                c,
                tenant.id,
                me.actor,
                f"console.connection.{action}",
                detail,
                connection_uid=row.uid,
                resource_type="Connection",
                resource_id=row.uid,
            )
            return {
                "tenant": tenant,
                "connection": tenancy.get_connection(c, row.uid),
                "token": token,
            }

        data = await console.db(run, me.request_id)
        row = data["connection"]
        if data["token"] is None:
            raise Redirect(f"{BASE}/t/{slug}/connections/{row.uid}")
        base_url = console.settings.base_url(row.tenant_slug, row.uid)
        return console.render(
            request,
            "token_issued.html",
            ctx=me,
            csrf=me.csrf,
            title="New token",
            base_url=base_url,
            headers={"Cache-Control": "no-store"},
            **data,
        )

    return [
        Route("/", home),
        Route("/t/{slug}/", dashboard),
        Route("/t/{slug}/connections/{uid}", connection),
        Route("/t/{slug}/connections/{uid}/settings", configure, methods=["POST"]),
        Route("/t/{slug}/connections/{uid}/{action}", confirm, methods=["GET"]),
        Route("/t/{slug}/connections/{uid}/{action}", act, methods=["POST"]),
    ]


def _connection(c: Connection, tenant_id: int, uid: str) -> console_reads.ConnectionRow:
    """A connection of this tenant; another tenant's answers 404 like a missing one."""
    return console_reads.connection_of(c, tenant_id, uid)
