"""Locations: add and remove them (with the cities and locales they receive), and map the
primary-location values the IdPs send to them, the unmapped ones listed with their head
count. Every change is the action `roster location …` runs (directory/places/locations.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from roster.console.web import BASE, Console, Redirect, SignedIn, form, signed_in, tenant_for
from roster.directory.admin import admins
from roster.directory.places import locations
from roster.directory.reads import read_api
from roster.directory.reads.console_reads import TenantRow
from roster.errors import RosterError


def split(text: object) -> list[str]:
    """Values typed in one box, separated by commas or lines."""
    return [v.strip() for v in str(text or "").replace("\n", ",").split(",") if v.strip()]


def routes(console: Console) -> list[Route]:  # noqa: C901 (one small closure per route, registered in one place)
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
            return {
                "tenant": tenant,
                "places": read_api.list_locations(c, tenant.id),
                "mappings": locations.mappings(c, tenant.id),
                "unmapped": locations.unmapped(c, tenant.id),
            }

        data = await console.db(read)
        return console.form_page(
            request,
            "locations.html",
            status,
            me,
            title="Locations",
            error=error,
            values=values,
            **data,
        )

    async def page(request: Request) -> Response:
        return await show(request, await signed_in(console, request))

    async def change(
        request: Request, do: Callable[[Connection, TenantRow, dict[str, Any]], tuple[str, str]]
    ) -> Response:
        """Run ``do`` (it returns the log action and detail) and log it with the admin as
        actor; a refusal shows the page again with the reason and the form as typed."""
        me = await signed_in(console, request)
        slug = request.path_params["slug"]
        values = await form(request, me.token)

        def run(c: Connection) -> str:
            tenant = tenant_for(c, me.account, slug)
            action, detail = do(c, tenant, values)
            admins.log_action(c, tenant.id, me.actor, action, detail, resource_type="Location")
            return detail

        try:
            detail = await console.db(run, me.request_id)
        except RosterError as err:
            return await show(request, me, err.status, err.detail, values)
        raise Redirect(f"{BASE}/t/{slug}/locations?" + urlencode({"done": detail}))

    def add(c: Connection, tenant: TenantRow, v: dict[str, Any]) -> tuple[str, str]:
        row = locations.add(
            c, tenant.id, str(v.get("name", "")), split(v.get("cities")), split(v.get("locales"))
        )
        return "console.location.add", f"location {row.name!r} added"

    def map_value(c: Connection, tenant: TenantRow, v: dict[str, Any]) -> tuple[str, str]:
        value = str(v.get("value", ""))
        row = locations.map_value(c, tenant.id, value, str(v.get("location", "")))
        return "console.location.map", f"primary location {value!r} maps to {row.name!r}"

    def unmap_value(c: Connection, tenant: TenantRow, v: dict[str, Any]) -> tuple[str, str]:
        value = str(v.get("value", ""))
        locations.unmap_value(c, tenant.id, value)
        return "console.location.unmap", f"mapping of primary location {value!r} removed"

    async def confirm_remove(request: Request) -> Response:
        me = await signed_in(console, request)
        slug, wanted = request.path_params["slug"], request.path_params["location"]

        def read(c: Connection) -> dict[str, Any]:
            tenant = tenant_for(c, me.account, slug)
            row = locations.get(c, tenant.id, wanted)
            count = next(p for p in read_api.list_locations(c, tenant.id) if p["id"] == row.id)
            return {"tenant": tenant, "place": row, "members": count["employeeCount"]}

        data = await console.db(read)
        return console.render(
            request,
            "location_remove.html",
            ctx=me,
            csrf=me.csrf,
            title=f"Remove location {data['place'].name}",
            **data,
        )

    async def remove(request: Request) -> Response:
        wanted = request.path_params["location"]

        def do(c: Connection, tenant: TenantRow, _v: dict[str, Any]) -> tuple[str, str]:
            row = locations.remove(c, tenant.id, locations.get(c, tenant.id, wanted).id)
            return "console.location.remove", f"location {row.name!r} removed"

        return await change(request, do)

    async def post_add(request: Request) -> Response:
        return await change(request, add)

    async def post_map(request: Request) -> Response:
        return await change(request, map_value)

    async def post_unmap(request: Request) -> Response:
        return await change(request, unmap_value)

    return [
        Route("/t/{slug}/locations", page),
        Route("/t/{slug}/locations", post_add, methods=["POST"]),
        Route("/t/{slug}/locations/map", post_map, methods=["POST"]),
        Route("/t/{slug}/locations/unmap", post_unmap, methods=["POST"]),
        Route("/t/{slug}/locations/{location}/remove", confirm_remove, methods=["GET"]),
        Route("/t/{slug}/locations/{location}/remove", remove, methods=["POST"]),
    ]
