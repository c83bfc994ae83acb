"""Group → role mappings: the members of a group an IdP pushes hold a role, the highest
that applies winning (the ranking is shown beside them). Mapping and unmapping are the
actions `roster role map|unmap` run (directory/admin/role_admin.py); both take effect at once."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from roster.console.web import (
    BASE,
    Console,
    Redirect,
    SignedIn,
    as_list,
    form,
    signed_in,
    tenant_for,
)
from roster.directory.admin import admins, role_admin
from roster.directory.places import locations
from roster.directory.reads import console_reads
from roster.errors import RosterError
from roster.rules import roles


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def ranking(role: str) -> str:
    """``2nd of 4 location roles``: where a role stands when several apply."""
    order = roles.LOCATION_ROLES if role in roles.LOCATION_ROLES else roles.COMPANY_ROLES
    return f"{_ordinal(order.index(role) + 1)} of {len(order)} {roles.scope_of(role)} roles"


def routes(console: Console) -> list[Route]:
    async def show(
        request: Request,
        me: SignedIn,
        status: int = 200,
        error: str | None = None,
        values: dict[str, Any] | None = None,
    ) -> Response:
        slug = request.path_params["slug"]

        def read(c: Connection) -> dict[str, Any]:
            tenant = tenant_for(c, me.account, slug)
            conns = console_reads.connections(c, tenant.id)
            names = {row.id: row.name for row in conns}
            places = locations.list_all(c, tenant.id)
            place_names = {p.id: p.name for p in places}
            rows = sorted(
                role_admin.mappings(c, tenant.id),
                key=lambda m: (names.get(m.connection_id, ""), m.group_key, -roles.rank(m.role)),
            )
            return {
                "tenant": tenant,
                "connections": conns,
                "places": places,
                "mappings": [
                    {
                        "id": m.id,
                        "connection": names.get(m.connection_id, "?"),
                        "group": m.group_name,
                        "role": m.role,
                        "ranking": ranking(m.role),
                        "locations": [place_names.get(i, i) for i in m.locations],
                    }
                    for m in rows
                ],
            }

        data = await console.db(read)
        return console.form_page(
            request,
            "roles.html",
            status,
            me,
            title="Role mappings",
            error=error,
            values=values,
            location_roles=roles.LOCATION_ROLES,
            company_roles=roles.COMPANY_ROLES,
            **data,
        )

    async def page(request: Request) -> Response:
        return await show(request, await signed_in(console, request))

    async def add(request: Request) -> Response:
        me = await signed_in(console, request)
        slug = request.path_params["slug"]
        values = await form(request, me.token)

        def run(c: Connection) -> str:
            tenant = tenant_for(c, me.account, slug)
            row = role_admin.map_group(
                c,
                tenant.id,
                str(values.get("connection", "")),
                str(values.get("group", "")),
                str(values.get("role", "")),
                as_list(values.get("location")),
            )
            detail = f"group {row.group_name!r} mapped to {row.role}"
            admins.log_action(
                c,
                tenant.id,
                me.actor,
                "console.role.map",
                detail,
                resource_type="RoleMapping",
                resource_id=row.id,
            )
            return detail

        try:
            detail = await console.db(run, me.request_id)
        except RosterError as err:
            return await show(request, me, err.status, err.detail, values)
        raise Redirect(f"{BASE}/t/{slug}/roles?" + urlencode({"done": detail}))

    async def remove(request: Request) -> Response:
        me = await signed_in(console, request)
        slug, mapping_id = request.path_params["slug"], request.path_params["mapping"]
        await form(request, me.token)

        def run(c: Connection) -> str:
            tenant = tenant_for(c, me.account, slug)
            row = role_admin.unmap_group(c, tenant.id, mapping_id)
            detail = f"group {row.group_name!r} no longer mapped to {row.role}"
            admins.log_action(
                c,
                tenant.id,
                me.actor,
                "console.role.unmap",
                detail,
                resource_type="RoleMapping",
                resource_id=row.id,
            )
            return detail

        detail = await console.db(run, me.request_id)  # an unknown mapping: 404
        raise Redirect(f"{BASE}/t/{slug}/roles?" + urlencode({"done": detail}))

    return [
        Route("/t/{slug}/roles", page),
        Route("/t/{slug}/roles", add, methods=["POST"]),
        Route("/t/{slug}/roles/{mapping}/remove", remove, methods=["POST"]),
    ]
