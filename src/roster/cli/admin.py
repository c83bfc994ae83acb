"""``roster admin`` and ``roster setup-link``: admin-console accounts, and one-time links
with which a customer's IT admin creates their connection without an account.

Same conventions as the rest of the CLI: ``--json`` on every command; refusals exit 1.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy import Connection

from roster.cli.support import JsonFlag, YesFlag, confirm, stamp
from roster.cli.support import fail as _fail
from roster.cli.support import run as _run
from roster.cli.support import settings as _settings
from roster.cli.support import show as _print
from roster.directory.admin import admins, setup_links
from roster.directory.admin.admins import AccountRow, IssuedLink
from roster.directory.journal.system_log import now
from roster.errors import InvalidValue

admin_app = typer.Typer(
    help="Admin-console accounts (/admin/): a tenant's IT admins, and operators who see "
    "every tenant. Passwords are chosen through a one-time link.",
    no_args_is_help=True,
)
setup_link_app = typer.Typer(
    help="One-time setup links: the customer's IT admin opens it, picks their IdP and gets "
    "a SCIM connection (base URL and token shown once) with the setup guide.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``admin`` and ``setup-link`` to the ``roster`` command (called by roster.cli)."""
    app.add_typer(admin_app, name="admin")
    app.add_typer(setup_link_app, name="setup-link")


def _url(path: str) -> str:
    return _settings().public_url.rstrip("/") + path


def _account_json(row: AccountRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "email": row.email,
        "tenant": row.tenant_name,
        "operator": row.operator,
        "password_set": row.password_hash is not None,
        "created_at": stamp(row.created_at),
    }


def _link_json(issued: IssuedLink) -> dict[str, Any]:
    return {
        **_account_json(issued.account),
        "set_password_url": _url(f"/admin/password/{issued.token}"),
        "expires_at": stamp(issued.expires_at),
    }


def _link_text(head: str, data: dict[str, Any]) -> str:
    return (
        f"{head}\n  set-password link: {data['set_password_url']}\n"
        f"  expires: {data['expires_at']}\n"
        "Send the link to its owner: it works once, and is shown only now."
    )


@admin_app.command("create")
def admin_create(
    email: Annotated[str, typer.Option(help="The admin's email: their sign-in name.")],
    tenant: Annotated[str | None, typer.Option(help="The tenant the admin manages.")] = None,
    operator: Annotated[
        bool, typer.Option("--operator", help="An operator: sees every tenant (no --tenant).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create an admin account; prints a one-time link to choose the password."""
    if operator == (tenant is not None):
        _fail("give either --tenant T or --operator", as_json, 2)
    issued = _run(as_json, lambda c: admins.create_account(c, tenant, email, now()))
    data = _link_json(issued)
    who = "operator" if operator else f"admin of {tenant!r}"
    _print(as_json, data, _link_text(f"{who} {issued.account.email} created", data))


@admin_app.command("list")
def admin_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's admins.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List admin accounts (all of them, or one tenant's)."""
    rows = _run(as_json, lambda c: admins.list_accounts(c, tenant))
    data = [_account_json(r) for r in rows]
    human = "\n".join(
        f"{d['email']:<32} {'operator' if d['operator'] else d['tenant']:<20} "
        + ("password set" if d["password_set"] else "waiting for the set-password link")
        for d in data
    )
    _print(as_json, data, human or "no admin accounts")


@admin_app.command("remove")
def admin_remove(email: str, yes: YesFlag = False, as_json: JsonFlag = False) -> None:
    """Remove an admin account; its sessions end at once."""
    confirm(f"Remove admin account {email!r}? Its sessions end at once.", yes, as_json)
    row = _run(as_json, lambda c: admins.remove_account(c, email))
    _print(as_json, {"removed": row.id, "email": row.email}, f"admin {row.email} removed")


@admin_app.command("reset")
def admin_reset(email: str, yes: YesFlag = False, as_json: JsonFlag = False) -> None:
    """Forget an admin's password and end its sessions; prints a new set-password link."""
    confirm(
        f"Forget the password of {email!r} and end its sessions? It signs in again only "
        "through the new set-password link.",
        yes,
        as_json,
    )
    issued = _run(as_json, lambda c: admins.reset_account(c, email, now()))
    data = _link_json(issued)
    _print(as_json, data, _link_text(f"password of {issued.account.email} reset", data))


@setup_link_app.command("create")
def setup_link_create(
    tenant: Annotated[str, typer.Option(help="The tenant the connection will belong to.")],
    expires: Annotated[str, typer.Option(help="How long it works: 7d, 36h, 90m.")] = "7d",
    as_json: JsonFlag = False,
) -> None:
    """Create a one-time setup link for a tenant's IT admin."""
    try:
        ttl = setup_links.parse_duration(expires)
    except InvalidValue as err:
        _fail(err.detail, as_json, 2)

    def run(conn: Connection) -> setup_links.IssuedSetupLink:
        return setup_links.create(conn, tenant, now(), ttl)

    issued = _run(as_json, run)
    data = {
        "id": issued.link.id,
        "tenant": issued.link.tenant_name,
        "url": _url(f"/admin/setup/{issued.token}"),
        "expires_at": stamp(issued.link.expires_at),
    }
    _print(
        as_json,
        data,
        f"setup link for {data['tenant']!r} (works once, until {data['expires_at']}):\n"
        f"  {data['url']}",
    )


@setup_link_app.command("list")
def setup_link_list(
    tenant: Annotated[str, typer.Option(help="Tenant name.")], as_json: JsonFlag = False
) -> None:
    """List a tenant's setup links (never the links themselves) and what became of them."""
    rows = _run(as_json, lambda c: setup_links.list_links(c, tenant))
    data = [
        {
            "id": r.id,
            "created_at": stamp(r.created_at),
            "expires_at": stamp(r.expires_at),
            "used_at": stamp(r.used_at),
            "connection": r.connection_uid,
        }
        for r in rows
    ]
    human = "\n".join(
        f"{d['id']}  created {d['created_at']}  "
        + (
            f"used {d['used_at']} -> connection {d['connection']}"
            if d["used_at"]
            else f"expires {d['expires_at']}"
        )
        for d in data
    )
    _print(as_json, data, human or "no setup links")
