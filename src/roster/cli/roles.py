"""``roster role`` and ``roster employee explain``: roles from IdP groups (Envoy's "Sync
admins", Envi's prefix), manual roles, and why an employee holds what it holds.

Same conventions as the rest of the CLI: ``--tenant`` and ``--json`` on every command,
one JSON document with ``--json``; refusals exit 1, bad usage 2.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy import Connection

from roster.cli.rules import change_json, waiting_warning
from roster.cli.support import JsonFlag, YesFlag, confirm
from roster.cli.support import connection_uid as _connection_uid
from roster.cli.support import run as _run
from roster.cli.support import show as _print
from roster.cli.support import tenant_id as _tenant_id
from roster.directory.admin import role_admin, rule_runs, tenancy
from roster.directory.admin.role_admin import HeldRole
from roster.directory.entitlements import group_bindings
from roster.directory.people.employees import find as find_employee
from roster.directory.places import locations
from roster.rules import roles
from roster.rules.syntax import render
from roster.storage.access import MappingRow

role_app = typer.Typer(
    help="Roles. Location roles, highest first: "
    + ", ".join(roles.LOCATION_ROLES)
    + "; company roles, highest first: "
    + ", ".join(roles.COMPANY_ROLES)
    + ". An employee holds at most one role per location and one company role. Roles come "
    "from IdP groups mapped to a role (`role map`; where several apply the highest wins), "
    "from the rule that fired, or from an admin (`role assign`). A synced role replaces a "
    "manual one only where it ranks higher, and cannot be removed by hand.",
    no_args_is_help=True,
)

TenantOpt = Annotated[str, typer.Option(help="Tenant name.")]
EmployeeArg = Annotated[str, typer.Argument(metavar="EMPLOYEE", help="Employee id or email.")]


def register(app: typer.Typer, employee_app: typer.Typer) -> None:
    """Add ``role`` and ``employee explain`` to the ``roster`` command."""
    app.add_typer(role_app, name="role")
    employee_app.command("explain")(employee_explain)


def _held_json(r: HeldRole) -> dict[str, Any]:
    return {
        "role": r.role,
        "scope": roles.scope_of(r.role),
        "location": {"id": r.location_id, "name": r.location} if r.location else None,
        "source": r.source,
        "origin": r.origin,
        "shadowed": r.shadowed,
    }


def _held_line(r: HeldRole) -> str:
    where = f"at {r.location!r}" if r.location else "company-wide"
    why = {
        "manual": "manual (assigned by an admin)",
        "group": f"synced from IdP group {r.origin!r}",
        "rule": f"granted by rule {r.origin!r}",
    }.get(r.source, r.source)
    shadow = (
        f"; outranks the synced {r.shadowed}, which takes over if this manual role is removed"
        if r.shadowed
        else ""
    )
    return f"{r.role:<17} {where:<24} {why}{shadow}"


@role_app.command("list")
@role_app.command("list-roles", hidden=True)  # its first name, kept for scripts
def role_list(as_json: JsonFlag = False) -> None:
    """The role names: location roles, then company roles, each highest first."""
    data = {"location": list(roles.LOCATION_ROLES), "company": list(roles.COMPANY_ROLES)}
    human = "location roles (one per location), highest first:\n"
    human += "".join(f"  {n}. {r}\n" for n, r in enumerate(roles.LOCATION_ROLES, start=1))
    human += "company roles (one per employee), highest first:\n"
    human += "\n".join(f"  {n}. {r}" for n, r in enumerate(roles.COMPANY_ROLES, start=1))
    _print(as_json, data, human)


def _mappings_json(conn: Connection, tenant: str, rows: list[MappingRow]) -> list[dict[str, Any]]:
    """``group``: the bound group's current name (it follows renames), or the name the
    mapping waits for (``waiting``); ``group_id``: the bound group's SCIM id."""
    tenant_id = _tenant_id(conn, tenant)
    uids = {c.id: (c.uid, c.name) for c in tenancy.list_connections(conn, tenant)}
    places = {loc.id: loc.name for loc in locations.list_all(conn, tenant_id)}
    bound = group_bindings.of_mappings(conn, tenant_id, rows)
    return [
        {
            "id": m.id,
            "connection": {"id": uids[m.connection_id][0], "name": uids[m.connection_id][1]},
            "group": bound[m.pk].name if m.pk in bound else m.group_name,
            "group_id": bound[m.pk].group_id if m.pk in bound else None,
            "waiting": m.pk not in bound or bound[m.pk].waiting,
            "role": m.role,
            "locations": [{"id": i, "name": places.get(i)} for i in m.locations],
            "created_at": m.created_at.isoformat() + "Z",
        }
        for m in rows
    ]


def _mapping_line(m: dict[str, Any]) -> str:
    where = (
        " at " + ", ".join(repr(loc["name"] or loc["id"]) for loc in m["locations"])
        if m["locations"]
        else ""
    )
    wait = " (waiting: no such group pushed yet)" if m["waiting"] else ""
    line = f"{m['id']}  {m['connection']['name']}: group {m['group']!r}{wait} -> {m['role']}"
    return line + where


@role_app.command("map")
def role_map(
    tenant: TenantOpt,
    connection: Annotated[
        str,
        typer.Option(
            help="The SCIM connection whose groups count: its id, the start of it, or its name."
        ),
    ],
    group: Annotated[
        str,
        typer.Option(
            help="The group's name (displayName in the IdP). The mapping binds to that "
            "group and follows its renames; with no such group yet it waits for one."
        ),
    ],
    role: Annotated[str, typer.Option(help="The role members get (see `role list`).")],
    location: Annotated[
        list[str] | None,
        typer.Option(help="A location the role applies at (repeatable; location roles only)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Map a pushed group to a role: its members hold the role at once, and lose it when
    they leave the group. Where several mapped groups apply, the highest role wins."""

    def run(conn: Connection) -> dict[str, Any]:
        tenant_id = _tenant_id(conn, tenant)
        uid = _connection_uid(conn, connection, tenant)
        row = role_admin.map_group(conn, tenant_id, uid, group, role, location or ())
        return _mappings_json(conn, tenant, [row])[0]

    data = _run(as_json, run)
    if data["waiting"]:
        waiting_warning([data["group"]], "the mapping waits for it")
    _print(as_json, data, f"mapped: {_mapping_line(data)}")


@role_app.command("unmap")
def role_unmap(
    tenant: TenantOpt,
    mapping_id: Annotated[str, typer.Argument(metavar="MAPPING_ID")],
    yes: YesFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Remove a group-to-role mapping: its members lose the role (or fall to the next one
    that still applies) at once."""

    def read(conn: Connection) -> list[dict[str, Any]]:
        tenant_id = _tenant_id(conn, tenant)
        rows = [m for m in role_admin.mappings(conn, tenant_id) if m.id == mapping_id.strip()]
        return _mappings_json(conn, tenant, rows)

    found = _run(as_json, read)
    if found:  # else unmapping refuses, naming what is missing
        confirm(
            f"Remove the mapping {_mapping_line(found[0])}? Its members lose the role at once "
            "(or fall to the next one that still applies).",
            yes,
            as_json,
        )

    def run(conn: Connection) -> dict[str, Any]:
        tenant_id = _tenant_id(conn, tenant)
        before = _mappings_json(
            conn,
            tenant,
            [m for m in role_admin.mappings(conn, tenant_id) if m.id == mapping_id.strip()],
        )
        role_admin.unmap_group(conn, tenant_id, mapping_id)
        return before[0]

    data = _run(as_json, run)
    _print(as_json, {"removed": data["id"], **data}, f"unmapped: {_mapping_line(data)}")


@role_app.command("mappings")
def role_mappings(
    tenant: TenantOpt,
    connection: Annotated[
        str | None,
        typer.Option(help="Only this connection's (its id, the start of it, or its name)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """The group-to-role mappings, by connection and group."""

    def run(conn: Connection) -> list[dict[str, Any]]:
        tenant_id = _tenant_id(conn, tenant)
        uid = None if connection is None else _connection_uid(conn, connection, tenant)
        return _mappings_json(conn, tenant, role_admin.mappings(conn, tenant_id, uid))

    data = _run(as_json, run)
    _print(as_json, data, "\n".join(_mapping_line(m) for m in data) or "no group-role mappings")


def _roles_of(conn: Connection, tenant_id: int, who: str) -> dict[str, Any]:
    employee = find_employee(conn, tenant_id, who)
    held = role_admin.held(conn, tenant_id, employee)
    return {
        "employee": {"id": employee.id, "email": employee.email},
        "roles": [_held_json(r) for r in held],
        "_lines": [_held_line(r) for r in held],
    }


def _show_roles(as_json: bool, data: dict[str, Any], head: str = "") -> None:
    lines = data.pop("_lines")
    email = data["employee"]["email"]
    body = "\n".join(lines) if lines else f"{email} holds no role"
    _print(as_json, data, f"{head}{body}")


@role_app.command("assign")
def role_assign(
    tenant: TenantOpt,
    employee: EmployeeArg,
    role: Annotated[str, typer.Option(help="The role (see `role list`).")],
    location: Annotated[
        str | None, typer.Option(help="Where (location roles); none for a company role.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Give an employee a manual role (replacing a manual one in the same scope). A synced
    role cannot be replaced by hand; a higher synced role later replaces this one."""

    def run(conn: Connection) -> dict[str, Any]:
        tenant_id = _tenant_id(conn, tenant)
        row = role_admin.assign(conn, tenant_id, employee, role, location)
        return _roles_of(conn, tenant_id, row.id)

    data = _run(as_json, run)
    _show_roles(as_json, data, f"{data['employee']['email']} now holds:\n")


@role_app.command("unassign")
def role_unassign(
    tenant: TenantOpt,
    employee: EmployeeArg,
    location: Annotated[
        str | None, typer.Option(help="The location role's location; none: the company role.")
    ] = None,
    yes: YesFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Remove a manual role. A synced role is refused: remove the person from the IdP
    group (or change the rules) instead."""
    where = f"at {location!r}" if location else "company role"
    confirm(f"Remove the manual role of {employee!r} ({where})?", yes, as_json)

    def run(conn: Connection) -> tuple[HeldRole, dict[str, Any]]:
        tenant_id = _tenant_id(conn, tenant)
        removed = role_admin.unassign(conn, tenant_id, employee, location)
        return removed, _roles_of(conn, tenant_id, employee)

    removed, data = _run(as_json, run)
    data["removed"] = {"role": removed.role, "location": removed.location}
    where = f" at {removed.location!r}" if removed.location else ""
    _show_roles(as_json, data, f"manual {removed.role}{where} removed; now holds:\n")


@role_app.command("show")
def role_show(tenant: TenantOpt, employee: EmployeeArg, as_json: JsonFlag = False) -> None:
    """The roles an employee holds, with their source (manual, group, rule), origin (the
    group or rule) and any synced role a manual one outranks."""
    data = _run(as_json, lambda c: _roles_of(c, _tenant_id(c, tenant), employee))
    _show_roles(as_json, data)


# ---- roster employee explain -------------------------------------------------------------


def _explanation_json(x: rule_runs.Explanation) -> dict[str, Any]:
    e, d = x.employee, x.decision
    return {
        "employee": {"id": e.id, "email": e.email, "status": e.status},
        "groups": list(x.groups),
        "rule": {"id": d.rule.id, "name": d.rule.name} if d.rule else None,
        "reason": x.reason,
        "rules_tried": [
            {
                "position": n,
                "id": t.rule.id,
                "name": t.rule.name,
                "match": t.rule.match,
                "matched": t.matched,
                "conditions": [
                    {"condition": render(o.condition), "passed": o.passed, "because": o.because}
                    for o in t.outcomes
                ],
            }
            for n, t in enumerate(d.traces, start=1)
        ],
        "roles": [_held_json(r) for r in x.roles],
        "grants": [
            {
                "label": label,
                "kind": g.kind,
                "status": g.status,
                "rule": rule_name,
                "reason": g.reason,
                "granted_at": g.granted_at.isoformat() + "Z",
                "revoked_at": g.revoked_at.isoformat() + "Z" if g.revoked_at else None,
            }
            for label, rule_name, g in x.grants
        ],
        "pending": [change_json(c) for c in x.pending],
    }


def employee_explain(tenant: TenantOpt, employee: EmployeeArg, as_json: JsonFlag = False) -> None:
    """Why an employee holds what it holds: the rules tried in order (the first that
    matches wins) with the condition each one above the winner failed on, the roles with
    their source, the grants (active and revoked, with the reason), and what applying the
    rules now would change."""
    x = _run(as_json, lambda c: rule_runs.explain(c, _tenant_id(c, tenant), employee))
    _print(as_json, _explanation_json(x), "\n".join(x.lines()))
