"""``roster mail``: the onboarding email's template, the outbox, and a delivery pass now.
Same conventions as the other commands: ``--tenant``, ``--json`` prints one JSON document,
refusals exit 1, bad usage 2."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import Connection

from roster.cli.support import JsonFlag, stamp
from roster.cli.support import engine as _engine
from roster.cli.support import fail as _fail
from roster.cli.support import refusals as _refusals
from roster.cli.support import run as _run
from roster.cli.support import settings as _settings
from roster.cli.support import show as _print
from roster.cli.support import tenant_id as _tenant_id
from roster.directory.admin import tenancy
from roster.directory.entitlements import onboarding
from roster.directory.journal.system_log import now
from roster.directory.messaging.mail import Backoff, DeliveryReport, deliver_due
from roster.directory.messaging.smtp import SmtpSender
from roster.storage import outbox as outbox_store
from roster.storage.outbox import OutboxRow

mail_app = typer.Typer(help="Onboarding email: template, outbox, delivery.", no_args_is_help=True)
template_app = typer.Typer(help="The tenant's onboarding email template.", no_args_is_help=True)
mail_app.add_typer(template_app, name="template")

TenantOpt = Annotated[str, typer.Option(help="Tenant name.")]


def register(app: typer.Typer) -> None:
    """Add ``roster mail`` (called by roster.cli)."""
    app.add_typer(mail_app, name="mail")


def _template_json(t: onboarding.Template) -> dict[str, Any]:
    return {
        "subject": t.subject,
        "body": t.body,
        "custom": t.custom,
        "updated_at": stamp(t.updated_at),
        "variables": list(onboarding.VARIABLES),
    }


@template_app.command("show")
def template_show(tenant: TenantOpt, as_json: JsonFlag = False) -> None:
    """Show the onboarding template (the built-in one until a custom one is set)."""
    t = _run(as_json, lambda c: onboarding.current_template(c, tenancy.get_tenant(c, tenant).id))
    origin = f"custom, changed {stamp(t.updated_at)}" if t.custom else "built-in default"
    human = (
        f"subject: {t.subject}\n({origin}; variables: {', '.join(onboarding.VARIABLES)})\n"
        f"---\n{t.body}"
    )
    _print(as_json, _template_json(t), human.rstrip("\n"))


@template_app.command("set")
def template_set(
    tenant: TenantOpt,
    subject: Annotated[str, typer.Option(help="Subject template (one line, Jinja2).")],
    body_file: Annotated[
        Path, typer.Option("--body-file", help="File holding the body template (Jinja2).")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Replace the onboarding template; it is checked by rendering sample data first."""
    try:
        body = body_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        _fail(f"cannot read {body_file}: {err}", as_json, 2)
    t = _run(
        as_json,
        lambda c: onboarding.set_template(c, tenancy.get_tenant(c, tenant).id, subject, body),
    )
    _print(as_json, _template_json(t), f"onboarding template of {tenant!r} changed")


def _outbox_json(r: OutboxRow) -> dict[str, Any]:
    return {
        "to": r.to_addr,
        "subject": r.subject,
        "status": r.status,
        "attempts": r.attempts,
        "employee_id": r.employee_id,
        "message_id": r.message_id,
        "created_at": stamp(r.created_at),
        "next_attempt_at": stamp(r.next_attempt_at) if r.status == "pending" else None,
        "sent_at": stamp(r.sent_at),
        "last_error": r.last_error,
    }


@mail_app.command("outbox")
def outbox(
    tenant: TenantOpt,
    status: Annotated[
        str | None,
        typer.Option(help="pending, sent or voided (withdrawn: its grant was revoked first)."),
    ] = None,
    limit: Annotated[int, typer.Option(help="How many emails (newest first).")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """List the tenant's queued and sent emails, newest first."""
    if status is not None and status not in outbox_store.STATUSES:
        _fail("--status must be pending, sent or voided", as_json, 2)

    def run(conn: Connection) -> list[OutboxRow]:
        tenant_id = _tenant_id(conn, tenant)
        return outbox_store.list_emails(conn, tenant_id, status=status, limit=limit)

    rows = _run(as_json, run)
    lines = []
    for r in rows:
        when = (
            f"sent {stamp(r.sent_at)}"
            if r.status == "sent"
            else f"next attempt {stamp(r.next_attempt_at)}"
        )
        error = f"  last error: {r.last_error}" if r.last_error and r.status != "sent" else ""
        lines.append(f"{r.status:<7} {r.to_addr:<32} attempts {r.attempts}  {when}{error}")
    _print(as_json, [_outbox_json(r) for r in rows], "\n".join(lines) or "the outbox is empty")


@mail_app.command("deliver")
def deliver(
    tenant: Annotated[
        str | None,
        typer.Option(help="Only this tenant's mail (default: every tenant's, as serve does)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run one delivery pass now: send the due emails through the configured SMTP server."""
    settings = _settings()
    with _refusals(as_json), _engine() as made:
        sender = SmtpSender.from_settings(settings)
        tenant_id = None
        if tenant is not None:
            with made.begin() as conn:
                tenant_id = _tenant_id(conn, tenant)
        backoff = Backoff.from_settings(settings)
        report: DeliveryReport = deliver_due(
            made, sender, now(), tenant_id=tenant_id, backoff=backoff
        )
    data = {"sent": report.sent, "failed": report.failed, "failures": report.failures}
    human = "\n".join(
        [f"{report.sent} sent, {report.failed} failed (retried later)"]
        + [f"  {f}" for f in report.failures]
    )
    _print(as_json, data, human)
