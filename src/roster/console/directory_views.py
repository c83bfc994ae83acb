"""The directory: employees (search; status, location and source filters; paging) and
one employee's page with its source, locations, roles, access, and the explanation
`roster employee explain` prints (the same function, rule_runs.explain)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from roster.console.web import Console, signed_in, tenant_for, wants_fragment
from roster.directory.admin import rule_runs
from roster.directory.places import locations
from roster.directory.reads import console_reads
from roster.directory.reads.console_reads import LogFilter


def routes(console: Console) -> list[Route]:
    async def employees(request: Request) -> Response:
        me = await signed_in(console, request)
        slug = request.path_params["slug"]
        q = request.query_params.get("q", "").strip()
        status = request.query_params.get("status", "")
        location = request.query_params.get("location", "")
        source = request.query_params.get("source", "")
        page_text = request.query_params.get("page", "1")
        page = int(page_text) if page_text.isdigit() else 1

        def read(c: Connection) -> dict[str, Any]:
            tenant = tenant_for(c, me.account, slug)
            found = console_reads.search_employees(
                c,
                tenant.id,
                q=q or None,
                status=status or None,
                location=location or None,
                source=source or None,
                page=page,
            )
            return {
                "tenant": tenant,
                "found": found,
                "places": locations.list_all(c, tenant.id),
                "connections": console_reads.connections(c, tenant.id),
            }

        data = await console.db(read)
        # htmx asks for the results only (the search box stays as typed).
        template = "employee_rows.html" if wants_fragment(request) else "employees.html"
        return console.render(
            request,
            template,
            ctx=me,
            csrf=me.csrf,
            title="Employees",
            q=q,
            status=status,
            location=location,
            source=source,
            paging=urlencode({"q": q, "status": status, "location": location, "source": source}),
            removed=request.query_params.get("removed") == "1",
            **data,
        )

    async def employee(request: Request) -> Response:
        me = await signed_in(console, request)
        slug, employee_id = request.path_params["slug"], request.path_params["id"]

        def read(c: Connection) -> dict[str, Any]:
            tenant = tenant_for(c, me.account, slug)
            item = console_reads.employee(c, tenant.id, employee_id)
            explained = rule_runs.explain(c, tenant.id, item["id"])
            entries = console_reads.log_page(
                c, tenant.id, LogFilter(resource_id=item["id"]), None, 20
            )
            scim_id = (item.get("source") or {}).get("scimUserId")
            if scim_id:
                entries += console_reads.log_page(
                    c, tenant.id, LogFilter(resource_id=scim_id), None, 20
                )
                entries.sort(key=lambda e: e.id or 0, reverse=True)  # stored: always set
            return {"tenant": tenant, "e": item, "x": explained, "entries": entries[:20]}

        data = await console.db(read)
        return console.render(
            request,
            "employee.html",
            ctx=me,
            csrf=me.csrf,
            title=f"Employee {data['e']['email']}",
            **data,
        )

    async def groups(request: Request) -> Response:
        me = await signed_in(console, request)
        slug = request.path_params["slug"]
        cursor = request.query_params.get("after") or None

        def read(c: Connection) -> dict[str, Any]:
            tenant = tenant_for(c, me.account, slug)
            items, after = console_reads.groups(c, tenant.id, cursor)
            names = {row.uid: row.name for row in console_reads.connections(c, tenant.id)}
            return {"tenant": tenant, "groups": items, "after": after, "names": names}

        data = await console.db(read)
        return console.render(request, "groups.html", ctx=me, csrf=me.csrf, title="Groups", **data)

    return [
        Route("/t/{slug}/employees", employees),
        Route("/t/{slug}/groups", groups),
        Route("/t/{slug}/employees/{id}", employee),
    ]
