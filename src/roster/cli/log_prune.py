"""``roster log prune``: delete the system-log entries past the retention."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from roster.cli.support import JsonFlag, engine, fail, refusals, settings, show
from roster.directory.journal import retention


def _before(before: str | None, older_than: float | None) -> tuple[datetime, str]:
    """The cut-off and how to say it: --before, else --older-than, else the setting."""
    if before is not None and older_than is not None:
        raise typer.BadParameter("give --before or --older-than, not both")
    if before is not None:
        try:
            at = datetime.fromisoformat(before.strip().replace("Z", "+00:00"))
        except ValueError:
            raise typer.BadParameter(
                f"--before {before!r} is not a date (2026-01-31 or 2026-01-31T12:00:00Z)"
            ) from None
        if at.tzinfo is not None:  # stored times are naive UTC
            at = at.astimezone(UTC).replace(tzinfo=None)
        return at, f"before {at.isoformat(timespec='seconds')}Z"
    if older_than is not None:
        return retention.cutoff(older_than), f"older than {older_than:g} days"
    days = settings().log_retention_days
    if days <= 0:
        raise typer.BadParameter(
            "ROSTER_LOG_RETENTION_DAYS is 0 (keep everything): give --older-than or --before"
        )
    return retention.cutoff(days), f"older than {days:g} days"


def prune(
    before: Annotated[
        str | None,
        typer.Option("--before", help="Delete entries written before this date (UTC)."),
    ] = None,
    older_than: Annotated[
        float | None,
        typer.Option(
            "--older-than",
            help="Delete entries older than this many days (default: ROSTER_LOG_RETENTION_DAYS).",
            min=0,
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Delete system-log entries (every tenant's) past the retention (roster serve: hourly)."""
    cut, said = _before(before, older_than)
    with refusals(as_json), engine() as made:
        with made.connect() as conn:
            due = retention.count_before(conn, cut)
        if due and not yes:
            if as_json or not sys.stdin.isatty():
                fail(f"deleting {due} log entries {said} needs --yes", as_json, 2)
            typer.confirm(f"Delete {due} system-log entries {said}?", abort=True)
        pruned = retention.prune(made, cut) if due else retention.Pruned(0, 0)
    show(
        as_json,
        {"deleted": pruned.entries, "before": f"{cut.isoformat()}Z"},
        f"{pruned.entries} log entries {said} deleted",
    )
