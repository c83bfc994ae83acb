"""The ``roster`` command: serve, migrate, tenants, connections, tokens and the system log.

Every command takes ``--json`` and then prints exactly one JSON document (errors too, as
``{"error": ...}``); exit status is 0 on success, 1 on a refused request, 2 on bad usage.
"""

from __future__ import annotations

import sys
import uuid
from importlib.metadata import version as package_version
from typing import Annotated, Any

import typer
from sqlalchemy import Connection

from roster.cli import demo as demo_support
from roster.cli import log_prune
from roster.cli.admin import register as register_admin_commands
from roster.cli.directory import employee_app
from roster.cli.directory import register as register_directory_commands
from roster.cli.events import register as register_event_commands
from roster.cli.events import show_trail
from roster.cli.mail import register as register_mail_commands
from roster.cli.roles import register as register_role_commands
from roster.cli.rules import register as register_rule_commands
from roster.cli.serving import register as register_serve_command
from roster.cli.support import ConnectionArg, ConnectionTenantOpt, JsonFlag, YesFlag, confirm
from roster.cli.support import connection_uid as _connection_uid
from roster.cli.support import fail as _fail
from roster.cli.support import run as _run
from roster.cli.support import settings as _settings
from roster.cli.support import show as _print
from roster.cli.webhooks import register as register_webhook_commands
from roster.directory.admin import connection_settings, tenancy
from roster.directory.journal import system_log
from roster.directory.journal.change import correlated
from roster.directory.people import coverage
from roster.directory.settings import registry
from roster.storage.tenancy import ConnectionRow

app = typer.Typer(
    help="Roster: SCIM 2.0 provisioning server and employee directory.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
tenant_app = typer.Typer(help="Tenants (customer organisations).", no_args_is_help=True)
connection_app = typer.Typer(help="SCIM connections of a tenant.", no_args_is_help=True)
token_app = typer.Typer(help="Bearer tokens of SCIM connections.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(connection_app, name="connection")
log_app = typer.Typer(
    help="The system log: a tenant's newest entries, one request's trail (`roster log "
    "--tenant NAME`, `roster log --request ID`), and `roster log prune`."
)
app.add_typer(token_app, name="token")
app.add_typer(log_app, name="log")
log_app.command("prune")(log_prune.prune)
register_directory_commands(app, connection_app)  # employee, location, apikey, mapping
register_mail_commands(app)  # mail template|outbox|deliver
register_rule_commands(app)  # access-group, rule
register_role_commands(app, employee_app)  # role, employee explain
register_serve_command(app)  # serve
register_admin_commands(app)  # admin, setup-link (the admin console)
register_event_commands(app)  # events prune
register_webhook_commands(app)  # webhook add|list|…, worker


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"roster {package_version('roster')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Roster: SCIM 2.0 provisioning server and employee directory."""


def _connection_json(row: ConnectionRow, token: str | None = None) -> dict[str, Any]:
    out = {
        "id": row.uid,
        "tenant": row.tenant_name,
        "name": row.name,
        "idp": row.idp,
        "status": row.status,
        "base_url": _settings().base_url(row.tenant_slug, row.uid),
        "token_created_at": row.token_created_at.isoformat() + "Z",
        "created_at": row.created_at.isoformat() + "Z",
    }
    if token is not None:
        out["token"] = token
    return out


@app.command()
def migrate(as_json: JsonFlag = False) -> None:
    """Create or upgrade the database schema (Alembic)."""
    from roster.storage.migrate import upgrade  # noqa: PLC0415  (Alembic only when migrating)

    settings = _settings()
    url = settings.resolved_database_url()
    default = settings.default_database_file()
    if default is not None and not default.exists() and not as_json:
        # Said, because the default depends on the folder the command runs in.
        typer.echo(
            f"creating a new database at {default} (ROSTER_DATABASE_URL is unset: the "
            "default is roster.db in the current folder)",
            err=True,
        )
    upgrade(url)
    shown = url.split("@")[-1]
    _print(as_json, {"migrated": True, "database": shown}, f"database migrated: {shown}")


@app.command()
def demo(
    new_token: Annotated[
        bool, typer.Option("--new-token", help="Issue a new token (the old one stops working).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Ensure a demo tenant with one SCIM connection exists; print its base URL and token.

    A second run keeps the demo connection and its token: on SQLite the token is kept in a
    file beside the database (mode 0600) and printed again; elsewhere it is kept and not
    shown (tokens are stored only as hashes), and --new-token issues a fresh one.
    """
    settings = _settings()
    kept_in = demo_support.token_file(settings.resolved_database_url())

    def run(conn: Connection) -> tuple[dict[str, Any], str]:
        if not [t for t in tenancy.list_tenants(conn) if t.name == "demo"]:
            tenancy.create_tenant(conn, "demo")
        conns = tenancy.list_connections(conn, "demo")
        if not conns:
            issued = tenancy.create_connection(conn, "demo", "generic", "demo")
            return _connection_json(issued.connection, issued.token), "created"
        row = conns[0]
        if new_token:
            issued = tenancy.regenerate_token(conn, row.uid)
            return _connection_json(issued.connection, issued.token), "regenerated"
        saved = demo_support.read_token(kept_in)
        if saved is not None and tenancy.hash_token(saved) == row.token_hash:
            return _connection_json(row, saved), "kept"
        return {**_connection_json(row), "token": None}, "kept"

    data, what = _run(as_json, run)
    token = data["token"]
    if token is not None and what != "kept":
        demo_support.write_token(kept_in, token)
    data["token_status"] = what
    if token is None:
        shown = (
            "(kept from an earlier run; it is stored only as a hash, so it cannot be shown: "
            "`roster demo --new-token` issues a new one and revokes it)"
        )
    else:
        shown = token
    where = f" (kept in {kept_in}, mode 0600)" if kept_in is not None and token else ""
    heading = {
        "created": "Demo SCIM connection created",
        "regenerated": "Demo SCIM connection: new token (the previous one is revoked)",
        "kept": "Demo SCIM connection (from an earlier run; its token still works)",
    }[what]
    human = (
        f"{heading}\n  base URL: {data['base_url']}\n  token:    {shown}{where}\n\n"
        + demo_support.next_steps(data["base_url"], settings.public_url, "demo", token)
    )
    _print(as_json, data, human)


@tenant_app.command("create")
def tenant_create(name: str, as_json: JsonFlag = False) -> None:
    """Create a tenant."""
    row = _run(as_json, lambda c: tenancy.create_tenant(c, name))
    _print(
        as_json,
        {"id": row.id, "name": row.name, "slug": row.slug},
        f"tenant {row.name!r} created (slug {row.slug})",
    )


@tenant_app.command("list")
def tenant_list(as_json: JsonFlag = False) -> None:
    """List tenants."""
    rows = _run(as_json, tenancy.list_tenants)
    data = [
        {"id": r.id, "name": r.name, "slug": r.slug, "created_at": r.created_at.isoformat() + "Z"}
        for r in rows
    ]
    human = "\n".join(f"{r.name}\t{r.slug}" for r in rows) or "no tenants yet"
    _print(as_json, data, human)


@connection_app.command("create")
def connection_create(
    tenant: Annotated[str, typer.Option(help="Tenant name.")],
    idp: Annotated[str, typer.Option(help="okta, entra, onelogin, jumpcloud or generic.")],
    name: Annotated[
        str | None, typer.Option(help="Connection name (default: the IdP kind).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a SCIM connection; prints its base URL and token (shown once)."""
    issued = _run(as_json, lambda c: tenancy.create_connection(c, tenant, idp, name))
    data = _connection_json(issued.connection, issued.token)
    _print(
        as_json,
        data,
        f"connection {data['name']!r} created ({data['id']})\n"
        f"  base URL: {data['base_url']}\n  token:    {data['token']}\n"
        "Copy the token now: it is stored only as a hash and cannot be shown again.",
    )


@connection_app.command("list")
def connection_list(
    tenant: Annotated[str, typer.Option(help="Tenant name.")], as_json: JsonFlag = False
) -> None:
    """List a tenant's SCIM connections."""
    rows = _run(as_json, lambda c: tenancy.list_connections(c, tenant))
    data = [_connection_json(r) for r in rows]
    human = (
        "\n".join(
            f"{d['id']}  {d['name']:<20} {d['idp']:<9} {d['status']:<8} {d['base_url']}"
            for d in data
        )
        or f"tenant {tenant!r} has no connections"
    )
    _print(as_json, data, human)


def _settings_json(row: ConnectionRow) -> list[dict[str, Any]]:
    return [
        {"name": e.name, "value": e.value, "source": e.source, "summary": e.summary}
        for e in registry.effective(row)
    ]


def _setting_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _coverage_text(cov: coverage.Coverage) -> str:
    if not cov.total:
        return "users not in the directory: none"
    at_least = "" if cov.complete else "at least "
    lines = [f"users not in the directory: {at_least}{cov.total}"]
    for reason, count in cov.counts.items():
        names = ", ".join(cov.examples.get(reason, []))
        more = ", …" if count > len(cov.examples.get(reason, [])) else ""
        lines.append(f"  {count:>6}  {reason} (e.g. {names}{more})")
    lines.append("  (stored and answered normally; setting require_primary_email refuses them)")
    return "\n".join(lines)


def _show_connection(row: ConnectionRow, cov: coverage.Coverage, as_json: bool) -> None:
    data = {**_connection_json(row), "profile": row.idp, "settings": _settings_json(row)}
    data["not_in_directory"] = {
        "total": cov.total,
        "complete": cov.complete,
        "reasons": [
            {"reason": r, "count": n, "examples": cov.examples.get(r, [])}
            for r, n in cov.counts.items()
        ],
    }
    head = "\n".join(f"{k}: {v}" for k, v in _connection_json(row).items())
    width = max(len(s["name"]) for s in data["settings"])
    rows = "\n".join(
        f"  {s['name']:<{width}}  {_setting_text(s['value']):<11} {s['source']}"
        for s in data["settings"]
    )
    human = (
        f"{head}\nprofile: {row.idp} (see docs/compatibility.md)\n{_coverage_text(cov)}\n"
        f"settings:\n{rows}\n"
        f"change one with `roster connection configure {row.uid[:8]} --set NAME=VALUE`, "
        "undo with `--reset NAME`"
    )
    _print(as_json, data, human)


@connection_app.command("show")
def connection_show(
    connection: ConnectionArg, tenant: ConnectionTenantOpt = None, as_json: JsonFlag = False
) -> None:
    """Show one connection: base URL, status, IdP profile, users not in the directory
    (and why), and every setting."""

    def run(conn: Connection) -> tuple[ConnectionRow, coverage.Coverage]:
        row = tenancy.resolve_connection(conn, connection, tenant)
        return row, coverage.of_connection(conn, row.tenant_id, row.id)

    row, cov = _run(as_json, run)
    _show_connection(row, cov, as_json)


@connection_app.command("configure")
def connection_configure(
    connection: ConnectionArg,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="NAME=VALUE: override a setting (repeatable)."),
    ] = None,
    reset: Annotated[
        list[str] | None,
        typer.Option("--reset", help="NAME: back to the profile's default (repeatable)."),
    ] = None,
    tenant: ConnectionTenantOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Override settings of one connection (IdP quirks, response forms, …); logged."""

    def run(conn: Connection) -> tuple[ConnectionRow, list[str], coverage.Coverage]:
        row = tenancy.resolve_connection(conn, connection, tenant)
        changes = connection_settings.configure(conn, row, set_ or [], reset or [])
        cov = coverage.of_connection(conn, row.tenant_id, row.id)
        return tenancy.get_connection(conn, row.uid), changes, cov

    row, changes, cov = _run(as_json, run)
    if not as_json:
        typer.echo("\n".join(f"changed: {c}" for c in changes))
    _show_connection(row, cov, as_json)


def _set_status(connection: str, tenant: str | None, status: str, as_json: bool) -> None:
    row = _run(
        as_json,
        lambda c: tenancy.set_status(c, _connection_uid(c, connection, tenant), status),
    )
    _print(as_json, _connection_json(row), f"connection {row.name!r} is now {row.status}")


@connection_app.command("activate")
def connection_activate(
    connection: ConnectionArg, tenant: ConnectionTenantOpt = None, as_json: JsonFlag = False
) -> None:
    """Accept SCIM requests on this connection again."""
    _set_status(connection, tenant, "active", as_json)


@connection_app.command("deactivate")
def connection_deactivate(
    connection: ConnectionArg, tenant: ConnectionTenantOpt = None, as_json: JsonFlag = False
) -> None:
    """Refuse SCIM requests on this connection (401) without deleting anything."""
    _set_status(connection, tenant, "inactive", as_json)


@token_app.command("regenerate")
def token_regenerate(
    connection: ConnectionArg,
    tenant: ConnectionTenantOpt = None,
    yes: YesFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Issue a new token; the old one stops working at once."""
    row = _run(as_json, lambda c: tenancy.resolve_connection(c, connection, tenant))
    confirm(
        f"Issue a new token for connection {row.name!r} ({row.uid}, tenant "
        f"{row.tenant_name!r})? The current token stops working at once, and the IdP fails "
        "until it is given the new one.",
        yes,
        as_json,
    )
    issued = _run(as_json, lambda c: tenancy.regenerate_token(c, row.uid))
    data = _connection_json(issued.connection, issued.token)
    _print(
        as_json,
        data,
        f"new token for {data['name']!r} (the old one is revoked):\n"
        f"  base URL: {data['base_url']}\n  token:    {data['token']}",
    )


@log_app.callback(invoke_without_command=True)
def show_log(
    ctx: typer.Context,
    tenant: Annotated[
        str | None, typer.Option(help="Tenant name (required unless --request is given).")
    ] = None,
    request: Annotated[
        str | None,
        typer.Option(
            "--request",
            help="One request or command (its request id): its log entries and the events "
            "it caused, in order.",
        ),
    ] = None,
    outcome: Annotated[str | None, typer.Option(help="ok or error.")] = None,
    resource_type: Annotated[
        str | None, typer.Option("--resource-type", help="User or Group.")
    ] = None,
    resource_id: Annotated[str | None, typer.Option("--resource-id", help="A resource id.")] = None,
    connection: Annotated[
        str | None,
        typer.Option(
            "--connection",
            help="Only this connection's entries (its id, the start of it, or its name).",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="How many entries (newest first).")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """Show the newest system-log entries of a tenant, or one request's whole trail."""
    if ctx.invoked_subcommand is not None:
        return  # `roster log prune`
    if request is not None:
        show_trail(request, tenant, as_json)
        return
    if tenant is None:
        _fail("give --tenant (or --request ID)", as_json, 2)
    if outcome not in (None, "ok", "error"):
        _fail("--outcome must be ok or error", as_json, 2)
    if resource_type is not None:
        resource_type = {"user": "User", "group": "Group"}.get(resource_type.lower(), resource_type)

    def run(conn: Connection) -> list[system_log.LogEntry]:
        t = tenancy.get_tenant(conn, tenant)
        uid = None if connection is None else _connection_uid(conn, connection, t.name)
        return system_log.recent(
            conn,
            t.id,
            limit=limit,
            outcome=outcome,
            resource_type=resource_type,
            resource_id=resource_id,
            connection_uid=uid,
        )

    rows = _run(as_json, run)
    data = [
        {k: (v.isoformat() + "Z" if k == "at" else v) for k, v in r.__dict__.items()} for r in rows
    ]
    lines = []
    for r in rows:
        what = f"{r.resource_type or ''} {r.resource_id or ''}".strip()
        why = f" {r.scim_type or ''} {r.detail or ''}".rstrip()
        via = f"conn {r.connection_uid[:8]}" if r.connection_uid else "tenant"
        lines.append(
            f"{r.at.isoformat(timespec='seconds')}Z {via} {r.actor} {r.status} {r.method:<6} "
            f"{r.path} {what}{why} ({r.duration_ms:.1f} ms)"
        )
    _print(as_json, data, "\n".join(lines) or "no log entries")


def main() -> None:
    try:
        # One command, one correlation id on every log entry it causes (even across the
        # transactions of a batched command such as `rule apply`).
        with correlated(str(uuid.uuid4())):
            app()
    except KeyboardInterrupt:
        sys.exit(130)
