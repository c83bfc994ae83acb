"""``roster employee|location|apikey|mapping`` and ``roster connection delete``: the
employee directory from the command line. Same conventions as cli.py: every command takes
``--json`` and then prints one JSON document; refusals exit 1, bad usage 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import Connection

from roster.cli.support import JsonFlag, progress_bar
from roster.cli.support import engine as _engine
from roster.cli.support import fail as _fail
from roster.cli.support import refusals as _refusals
from roster.cli.support import run as _run
from roster.cli.support import show as _print
from roster.cli.support import tenant_id as _tenant_id
from roster.directory.admin import apikeys, custom_fields
from roster.directory.admin.connections import delete_connection
from roster.directory.attributes.mapping import DEFAULT_MAPPING, REFERENCE_MAPPING
from roster.directory.people import employees, manual_import
from roster.directory.people.employees import MANUAL_FIELDS, ManualEmployee
from roster.directory.places import locations
from roster.directory.reads import queries
from roster.directory.settings import sync_options
from roster.errors import RosterError

__all__ = ["register", "sync_options"]

employee_app = typer.Typer(help="The employee directory of a tenant.", no_args_is_help=True)
location_app = typer.Typer(help="Locations of a tenant.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys of the read API (/api/v1).", no_args_is_help=True)
mapping_app = typer.Typer(
    help="Attribute mapping of a connection: default fields and custom fields.",
    no_args_is_help=True,
)

TenantOpt = Annotated[str, typer.Option(help="Tenant name.")]


def register(app: typer.Typer, connection_app: typer.Typer) -> None:
    """Add the directory's commands to the ``roster`` command (called by roster.cli)."""
    app.add_typer(employee_app, name="employee")
    app.add_typer(location_app, name="location")
    app.add_typer(apikey_app, name="apikey")
    app.add_typer(mapping_app, name="mapping")
    connection_app.command("delete")(connection_delete)


def _one_line(e: dict[str, Any]) -> str:
    name = e.get("displayName") or " ".join(
        x for x in (e.get("givenName"), e.get("familyName")) if x
    )
    source = e["source"]["connection"]["name"] if e["source"]["connection"] else "manual"
    return f"{e['id']}  {e['email']:<32} {e['status']:<8} {source:<16} {name}"


# ---- employees -----------------------------------------------------------------------------


@employee_app.command("add")
def employee_add(
    tenant: TenantOpt,
    email: Annotated[str, typer.Option(help="Primary email: the employee's key.")],
    given_name: Annotated[str | None, typer.Option(help="Given name.")] = None,
    family_name: Annotated[str | None, typer.Option(help="Family name.")] = None,
    title: Annotated[str | None, typer.Option(help="Job title.")] = None,
    field: Annotated[
        list[str] | None,
        typer.Option(help=f"Another field, name=value ({', '.join(MANUAL_FIELDS)})."),
    ] = None,
    location: Annotated[
        list[str] | None, typer.Option(help="A location (repeat for several).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a manual employee (a contractor, a temp): SCIM changes it only by linking."""
    fields = {"givenName": given_name, "familyName": family_name, "title": title}
    values = {k: v for k, v in fields.items() if v is not None}
    for item in field or []:
        name, sep, value = item.partition("=")
        if not sep:
            _fail(f"--field takes name=value, got {item!r}", as_json, 2)
        values[name.strip()] = value

    person = ManualEmployee(email, values, tuple(location or ()))

    def run(conn: Connection) -> dict[str, Any] | RosterError:
        tenant_id = _tenant_id(conn, tenant)
        row = manual_import.add_one(conn, tenant_id, person, where="roster employee add")
        if isinstance(row, RosterError):
            return row  # its refusal is logged and committed
        return queries.render_employees(conn, tenant_id, [row])[0]

    data = _run(as_json, run)
    if isinstance(data, RosterError):
        _fail(data.detail, as_json)
    _print(as_json, data, f"manual employee {data['email']} added ({data['id']})")


@employee_app.command("import")
def employee_import(
    tenant: TenantOpt,
    file: Annotated[Path, typer.Argument(help="CSV with a header row; email is required.")],
    as_json: JsonFlag = False,
) -> None:
    """Import manual employees from CSV. Each row is imported on its own: a bad row is
    reported (row number and reason) and never stops the good ones. Rows are committed
    200 at a time; exits 1 if any row was refused.

    Columns: email (required), givenName, familyName, displayName, title, department, …
    (any field of `roster employee add --field`), and locations (names separated by ;).
    """
    try:
        with file.open(newline="", encoding="utf-8-sig") as f:
            rows = manual_import.read_csv(f)
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {file}: {exc}", as_json)
    except RosterError as err:
        _fail(f"{file}: {err.detail}", as_json)
    # The bar is for a person watching a terminal: on stderr, so stdout stays the report.
    progress = progress_bar("importing", as_json)
    with _refusals(as_json), _engine() as engine, progress:
        with engine.begin() as conn:
            tenant_id = _tenant_id(conn, tenant)
        task = progress.add_task("rows", total=len(rows))
        results = manual_import.import_file(
            engine, tenant_id, rows, file.name, lambda: progress.advance(task)
        )
    imported = [
        {"row": r.number, "id": r.employee_id, "email": r.email} for r in results if r.employee_id
    ]
    failed = [
        {"row": r.number, "email": r.email, "error": r.error}
        for r in results
        if r.employee_id is None
    ]
    report = {
        "rows": len(results),
        "imported": len(imported),
        "refused": len(failed),
        "failed": failed,
        "employees": imported,
    }
    lines = [f"{len(imported)} of {len(results)} rows imported, {len(failed)} refused"]
    lines += [f"  row {f['row']} ({f['email'] or 'no email'}): {f['error']}" for f in failed]
    _print(as_json, report, "\n".join(lines))
    if failed:
        raise typer.Exit(1)


# Pages of the CLI's listing: the read API's largest, so a big tenant takes few round trips.
_LIST_PAGE = 1000


@employee_app.command("list")
def employee_list(
    tenant: TenantOpt,
    status: Annotated[str | None, typer.Option(help="active or inactive.")] = None,
    source: Annotated[str | None, typer.Option(help="manual, synced, or a connection id.")] = None,
    location: Annotated[str | None, typer.Option(help="A location name.")] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most this many (default: all).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List the tenant's employees (synced and manual), oldest first."""
    filters: dict[str, Any] = {"status": status, "source": source, "location": location}

    def run(conn: Connection) -> tuple[list[dict[str, Any]], int | None]:
        tenant_id = _tenant_id(conn, tenant)
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while limit is None or len(items) < limit:
            want = _LIST_PAGE if limit is None else min(_LIST_PAGE, limit - len(items))
            page, cursor = queries.list_employees(
                conn, tenant_id, **filters, cursor=cursor, limit=want
            )
            items += page
            if cursor is None:
                return items, None
        # Cut short by --limit: say how many there are, not just that there are more.
        return items, queries.count_employees(conn, tenant_id, **filters)

    data, total = _run(as_json, run)
    if total is not None:
        typer.echo(f"showing {len(data)} of {total} employees (--limit {limit})", err=True)
    _print(as_json, data, "\n".join(_one_line(e) for e in data) or "no employees")


@employee_app.command("show")
def employee_show(
    tenant: TenantOpt,
    employee: Annotated[str, typer.Argument(help="Employee id or email.")],
    as_json: JsonFlag = False,
) -> None:
    """Show one employee: fields, manager, assistants, locations, groups, source."""

    def run(conn: Connection) -> dict[str, Any]:
        tenant_id = _tenant_id(conn, tenant)
        row = employees.find(conn, tenant_id, employee)
        return queries.render_employees(conn, tenant_id, [row])[0]

    data = _run(as_json, run)
    _print(as_json, data, json.dumps(data, indent=2, default=str))


@employee_app.command("remove")
def employee_remove(
    tenant: TenantOpt,
    employee: Annotated[str, typer.Argument(help="Employee id or email.")],
    as_json: JsonFlag = False,
) -> None:
    """Remove a manual employee (synced ones are removed in the IdP)."""
    row = _run(as_json, lambda c: employees.remove_manual(c, _tenant_id(c, tenant), employee))
    _print(as_json, {"removed": row.id, "email": row.email}, f"{row.email} removed")


# ---- locations -----------------------------------------------------------------------------


def _location_json(row: locations.LocationRow) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "cities": row.cities, "locales": row.locales}


@location_app.command("add")
def location_add(
    tenant: TenantOpt,
    name: str,
    city: Annotated[
        list[str] | None, typer.Option(help="A city whose users it receives (per-location sync).")
    ] = None,
    locale: Annotated[
        list[str] | None, typer.Option(help="A locale whose users it receives (en_US).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a location; exact defaultLocationName matches get it as primary location."""
    row = _run(
        as_json,
        lambda c: locations.add(c, _tenant_id(c, tenant), name, city or (), locale or ()),
    )
    _print(as_json, _location_json(row), f"location {row.name!r} added ({row.id})")


@location_app.command("list")
def location_list(tenant: TenantOpt, as_json: JsonFlag = False) -> None:
    """List locations, with the cities and locales they receive and their head count."""
    data = _run(as_json, lambda c: queries.list_locations(c, _tenant_id(c, tenant)))
    human = "\n".join(
        f"{d['name']:<24} {d['employeeCount']:>6} employees  cities: "
        f"{', '.join(d['cities']) or '-'}  locales: {', '.join(d['locales']) or '-'}"
        for d in data
    )
    _print(as_json, data, human or "no locations")


@location_app.command("remove")
def location_remove(tenant: TenantOpt, name: str, as_json: JsonFlag = False) -> None:
    """Remove a location (its memberships and mappings go with it)."""
    row = _run(as_json, lambda c: locations.remove(c, _tenant_id(c, tenant), name))
    _print(as_json, _location_json(row), f"location {row.name!r} removed")


@location_app.command("map")
def location_map(
    tenant: TenantOpt,
    value: Annotated[str, typer.Argument(help="A defaultLocationName value the IdP sends.")],
    location: Annotated[str, typer.Argument(help="The location it means.")],
    as_json: JsonFlag = False,
) -> None:
    """Map a primary-location value to a location (exact names need no mapping)."""
    row = _run(as_json, lambda c: locations.map_value(c, _tenant_id(c, tenant), value, location))
    _print(as_json, {"value": value, "location": row.name}, f"{value!r} -> {row.name!r}")


@location_app.command("unmap")
def location_unmap(tenant: TenantOpt, value: str, as_json: JsonFlag = False) -> None:
    """Remove a primary-location mapping."""
    _run(as_json, lambda c: locations.unmap_value(c, _tenant_id(c, tenant), value))
    _print(as_json, {"unmapped": value}, f"{value!r} unmapped")


@location_app.command("mappings")
def location_mappings(tenant: TenantOpt, as_json: JsonFlag = False) -> None:
    """The admin's primary-location mapping."""
    pairs = _run(as_json, lambda c: locations.mappings(c, _tenant_id(c, tenant)))
    data = [{"value": v, "location": n} for v, n in pairs]
    _print(as_json, data, "\n".join(f"{v!r} -> {n!r}" for v, n in pairs) or "no mappings")


@location_app.command("unmapped")
def location_unmapped(tenant: TenantOpt, as_json: JsonFlag = False) -> None:
    """Primary-location values no location takes yet, with how many employees send each."""
    pairs = _run(as_json, lambda c: locations.unmapped(c, _tenant_id(c, tenant)))
    data = [{"value": v, "employees": n} for v, n in pairs]
    human = "\n".join(f"{v!r}: {n} employees" for v, n in pairs) or "every value is mapped"
    _print(as_json, data, human)


# ---- API keys ------------------------------------------------------------------------------


@apikey_app.command("create")
def apikey_create(
    tenant: TenantOpt,
    name: Annotated[str, typer.Option(help="What the key is for.")] = "default",
    as_json: JsonFlag = False,
) -> None:
    """Create a read-API key; it is shown once."""
    issued = _run(as_json, lambda c: apikeys.create(c, _tenant_id(c, tenant), name))
    data = {"id": issued.row.id, "name": issued.row.name, "key": issued.key}
    _print(
        as_json,
        data,
        f"API key {issued.row.name!r} ({issued.row.id}):\n  {issued.key}\n"
        "Copy it now: it is stored only as a hash. Send it as Authorization: Bearer <key>.",
    )


@apikey_app.command("list")
def apikey_list(tenant: TenantOpt, as_json: JsonFlag = False) -> None:
    """List a tenant's API keys (never the keys themselves)."""
    rows = _run(as_json, lambda c: apikeys.list_keys(c, _tenant_id(c, tenant)))
    data = [
        {"id": r.id, "name": r.name, "created_at": r.created_at.isoformat() + "Z"} for r in rows
    ]
    _print(as_json, data, "\n".join(f"{r.id}  {r.name}" for r in rows) or "no API keys")


@apikey_app.command("revoke")
def apikey_revoke(tenant: TenantOpt, key_id: str, as_json: JsonFlag = False) -> None:
    """Revoke an API key at once."""
    row = _run(as_json, lambda c: apikeys.revoke(c, _tenant_id(c, tenant), key_id))
    _print(as_json, {"revoked": row.id}, f"API key {row.name!r} revoked")


# ---- attribute mapping ---------------------------------------------------------------------


@mapping_app.command("show")
def mapping_show(connection_id: str, as_json: JsonFlag = False) -> None:
    """The connection's mapping: the default fields and the custom ones."""
    custom = _run(as_json, lambda c: custom_fields.fields_of(c, connection_id))
    data = {
        "default": {name: path for name, path, _ in DEFAULT_MAPPING} | dict(REFERENCE_MAPPING),
        "custom": custom,
    }
    lines = [f"{k:<16} <- {v}" for k, v in data["default"].items()]
    lines += [f"{k:<16} <- {v}   (custom)" for k, v in custom.items()]
    _print(as_json, data, "\n".join(lines))


@mapping_app.command("set")
def mapping_set(
    connection_id: str,
    field: Annotated[str, typer.Argument(help="Custom field name.")],
    path: Annotated[str, typer.Argument(help="Attribute path: attr[.sub] or URN:attr[.sub].")],
    as_json: JsonFlag = False,
) -> None:
    """Map an attribute of any schema to a custom field (applies from each user's next
    sync)."""
    _run(as_json, lambda c: custom_fields.set_field(c, connection_id, field, path))
    _print(as_json, {"field": field, "path": path}, f"{field} <- {path}")


@mapping_app.command("remove")
def mapping_remove(connection_id: str, field: str, as_json: JsonFlag = False) -> None:
    """Stop mapping a custom field (values already synced stay)."""
    _run(as_json, lambda c: custom_fields.remove_field(c, connection_id, field))
    _print(as_json, {"removed": field}, f"{field} no longer mapped")


# ---- connection delete (registered under `roster connection`) ------------------------------


def connection_delete(
    connection_id: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Delete a connection: its sync stops and its token dies; the employees it brought stay,
    as manual employees."""
    if not yes:
        if as_json or not sys.stdin.isatty():
            _fail("deleting a connection needs --yes", as_json, 2)
        typer.confirm(f"Delete connection {connection_id}?", abort=True)
    deleted = _run(as_json, lambda c: delete_connection(c, connection_id))
    data = {"deleted": deleted.connection.uid, "employees_kept": deleted.employees_kept}
    _print(
        as_json,
        data,
        f"connection {deleted.connection.name!r} deleted; its {deleted.employees_kept} "
        "employees stay, as manual employees",
    )
