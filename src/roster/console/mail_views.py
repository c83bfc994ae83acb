"""The mail outbox: the onboarding emails queued and sent for the tenant's employees, as
`roster mail outbox` lists them (newest first, filtered by status)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from roster.console.web import Console, signed_in, tenant_for
from roster.directory.reads import console_reads

PAGE = 100


def routes(console: Console) -> list[Route]:
    async def outbox(request: Request) -> Response:
        me = await signed_in(console, request)
        slug = request.path_params["slug"]
        status = request.query_params.get("status", "")

        def read(c: Connection) -> dict[str, Any]:
            tenant = tenant_for(c, me.account, slug)
            return {
                "tenant": tenant,
                "emails": console_reads.outbox(c, tenant.id, status or None, PAGE),
            }

        data = await console.db(read)
        return console.render(
            request,
            "mail.html",
            ctx=me,
            csrf=me.csrf,
            title="Mail outbox",
            status=status,
            limit=PAGE,
            **data,
        )

    return [Route("/t/{slug}/mail", outbox)]
