"""The system log: filters (outcome, resource type, connection, request, time), an entry with
its request's trail, and CSV export of the filtered entries."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from roster.console.web import Console, Refused, signed_in, tenant_for, utc_time
from roster.directory.admin import tenancy
from roster.directory.reads import console_reads
from roster.directory.reads.console_reads import LogFilter

EXPORT_LIMIT = 10_000
_COLUMNS = (
    "id",
    "at",
    "connection_uid",
    "actor",
    "method",
    "path",
    "resource_type",
    "resource_id",
    "status",
    "scim_type",
    "detail",
    "request_id",
    "duration_ms",
)


def _filter(request: Request) -> LogFilter:
    q = request.query_params
    outcome = q.get("outcome") or None
    if outcome not in (None, "ok", "error"):
        raise Refused(400, "outcome must be ok or error")
    return LogFilter(
        outcome=outcome,
        resource_type=q.get("resource_type") or None,
        connection_uid=q.get("connection") or None,
        request_id=q.get("request_id") or None,
        since=utc_time(q.get("from"), "from"),
        until=utc_time(q.get("to"), "to"),
    )


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A cell a spreadsheet would run as a formula (CSV injection) is quoted as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def routes(console: Console) -> list[Route]:
    async def log(request: Request) -> Response:
        me = await signed_in(console, request)
        slug = request.path_params["slug"]
        where = _filter(request)
        before_text = request.query_params.get("before", "")
        before = int(before_text) if before_text.isdigit() else None

        def read(c: Connection) -> dict[str, Any]:
            tenant = tenant_for(c, me.account, slug)
            return {
                "tenant": tenant,
                "entries": console_reads.log_page(c, tenant.id, where, before, 50),
                "connections": tenancy.list_connections(c, tenant.slug),
            }

        data = await console.db(read)
        return console.render(
            request,
            "log.html",
            ctx=me,
            csrf=me.csrf,
            title="System log",
            where=where,
            since=request.query_params.get("from", ""),
            until=request.query_params.get("to", ""),
            query=urlencode(
                [(k, v) for k, v in request.query_params.multi_items() if k != "before"]
            ),
            **data,
        )

    async def entry(request: Request) -> Response:
        me = await signed_in(console, request)
        slug, entry_text = request.path_params["slug"], request.path_params["id"]
        if not entry_text.isdigit():
            raise Refused(404, "No such log entry.")

        def read(c: Connection) -> dict[str, Any]:
            tenant = tenant_for(c, me.account, slug)
            found, trail = console_reads.log_entry(c, tenant.id, int(entry_text))
            return {"tenant": tenant, "entry": found, "trail": trail}

        data = await console.db(read)
        return console.render(
            request, "log_entry.html", ctx=me, csrf=me.csrf, title="Log entry", **data
        )

    async def export(request: Request) -> Response:
        me = await signed_in(console, request)
        slug = request.path_params["slug"]
        where = _filter(request)

        def read(c: Connection) -> list[console_reads.LogEntry]:
            tenant = tenant_for(c, me.account, slug)
            return console_reads.log_page(c, tenant.id, where, None, EXPORT_LIMIT)

        entries = await console.db(read)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(_COLUMNS)
        for e in entries:
            row = {**e.__dict__, "at": e.at.isoformat() + "Z"}
            writer.writerow([_cell(row[k]) for k in _COLUMNS])
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="roster-log-{slug}.csv"'},
        )

    return [
        Route("/t/{slug}/log", log),
        Route("/t/{slug}/log.csv", export),
        Route("/t/{slug}/log/{id}", entry),
    ]
