"""``roster events prune`` and the trail of one request (``roster log --request ID``)."""

from __future__ import annotations

import typer
from sqlalchemy import Connection

from roster.cli.support import JsonFlag, fail, run, settings, show
from roster.directory.admin import tenancy
from roster.directory.reads import feed

events_app = typer.Typer(help="The event feed (GET /api/v1/events).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(events_app, name="events")


@events_app.command("prune")
def prune(as_json: JsonFlag = False) -> None:
    """Delete the events older than ROSTER_EVENTS_RETENTION_DAYS (every tenant's)."""
    days = settings().events_retention_days
    deleted = run(as_json, lambda c: feed.prune(c, days))
    show(
        as_json,
        {"deleted": deleted, "retention_days": days},
        f"{deleted} events older than {days:g} days deleted",
    )


def show_trail(request_id: str, tenant: str | None, as_json: bool) -> None:
    """Everything one request or command caused: log entries and events, in order."""

    def trail(conn: Connection) -> list[feed.TrailItem]:
        tenant_id = tenancy.get_tenant(conn, tenant).id if tenant else None
        return feed.trail(conn, request_id.strip(), tenant_id)

    items = run(as_json, trail)
    if not items:
        fail(f"nothing recorded for request {request_id!r}", as_json)
    show(
        as_json,
        {"request": request_id, "items": [i.json for i in items]},
        "\n".join(i.line for i in items),
    )
