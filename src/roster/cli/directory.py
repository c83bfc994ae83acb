"""``roster employee|location|apikey|mapping`` and ``roster connection delete``: the
employee directory from the command line. Same conventions as cli.py: every command takes
``--json`` and then prints one JSON document; refusals exit 1, bad usage 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import Connection

from roster.cli.support import (
    ConnectionArg,
    ConnectionTenantOpt,
    JsonFlag,
    YesFlag,
    confirm,
    progress_bar,
)
from roster.cli.support import connection_uid as _connection_uid
from roster.cli.support import engine as _engine
from roster.cli.support import fail as _fail
from roster.cli.support import refusals as _refusals
from roster.cli.support import run as _run
from roster.cli.support import show as _print
from roster.cli.support import tenant_id as _tenant_id
from roster.directory.admin import apikeys, custom_fields
from roster.directory.admin.connections import delete_connection
from roster.directory.admin.tenancy import resolve_connection
from roster.directory.attributes.employee_fields import DEFAULT_MAPPING, REFERENCE_MAPPING
from roster.directory.people import employees, manual_import
from roster.directory.people.employees import MANUAL_FIELDS, ManualEmployee
from roster.directory.places import locations
from roster.directory.reads import read_api
from roster.errors import RosterError

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


def _person(ref: dict[str, Any] | None) -> str:
    """A manager or an assistant: the employee it resolved to, or the value still waiting."""
    if ref is None:
        return "-"
    if ref["employee"]:
        return str(ref["employee"]["email"])
    return f"{ref['value']!r} (not in the directory yet)"


def _granted(item: dict[str, Any]) -> str:
    by = f" by rule {item['rule']['name']!r}" if item.get("rule") else ""
    if item["status"] == "revoked":
        return f"{item['name']} (revoked{by}: {item['reason']})"
    return f"{item['name']}{by}"


def employee_text(e: dict[str, Any]) -> str:
    """One employee as a person reads it: `roster employee show` without --json (the same
    fields, under the read API's names)."""
    source = e["source"]
    if source["connection"]:
        c = source["connection"]
        origin = f"synced by connection {c['name']!r} ({c['id'][:8]}, {c['idp']})"
        if source.get("userName"):
            origin += f" as userName {source['userName']!r}"
    else:
        origin = "manual (added by an admin)"
    rows: list[tuple[str, str]] = [("id", e["id"]), ("status", e["status"]), ("source", origin)]
    skip = {"id", "email", "status", "source", "createdAt", "updatedAt"}
    for name, value in e.items():
        if name in skip or isinstance(value, dict | list) or value in (None, ""):
            continue
        rows.append((name, str(value)))
    if e.get("primaryLocation"):
        p = e["primaryLocation"]
        where = p["location"]["name"] if p["location"] else "no location takes it"
        rows.append(("primaryLocation", f"{p['value']!r} -> {where}"))
    rows.append(("manager", _person(e.get("manager"))))
    if e.get("assistants"):
        rows.append(("assistants", ", ".join(_person(a) for a in e["assistants"])))
    rows.append(("locations", ", ".join(loc["name"] for loc in e["locations"]) or "-"))
    rows.append(("groups", ", ".join(g["displayName"] for g in e["groups"]) or "-"))
    roles = [
        f"{r['role']} "
        + (f"at {r['location']['name']}" if r["location"] else "company-wide")
        + f" ({r['source']}{': ' + r['origin'] if r['origin'] else ''})"
        for r in e.get("roles", [])
    ]
    rows.append(("roles", "; ".join(roles) or "-"))
    rows.append(("accessGroups", ", ".join(map(_granted, e.get("accessGroups", []))) or "-"))
    rows.append(("locationAccess", ", ".join(map(_granted, e.get("locationAccess", []))) or "-"))
    if "mobileKey" in e:
        rows.append(("mobileKey", e["mobileKey"]["status"]))
    for name, value in (e.get("customFields") or {}).items():
        rows.append((f"custom.{name}", str(value)))
    rows += [("createdAt", str(e["createdAt"])), ("updatedAt", str(e["updatedAt"]))]
    width = max(len(k) for k, _ in rows) + 1
    return "\n".join([e["email"], *(f"  {k + ':':<{width}} {v}" for k, v in rows)])


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
        return read_api.render_employees(conn, tenant_id, [row])[0]

    data = _run(as_json, run)
    if isinstance(data, RosterError):
        _fail(data.detail, as_json)
    _print(as_json, data, f"manual employee {data['email']} added ({data['id']})")


@employee_app.command("import")
def employee_import(
    tenant: TenantOpt,
    file: Annotated[Path, typer.Argument(help="CSV with a header row; email is required.")],
    update: Annotated[
        bool,
        typer.Option(
            "--update",
            help="A row whose email a manual employee already has updates it (the file's "
            "columns replace its values; an empty cell clears one). Without it such rows are "
            "refused.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Import manual employees from CSV. Each row is imported on its own: a bad row is
    reported (row number and reason) and never stops the good ones. Rows are committed
    200 at a time; exits 1 if any row was refused. Synced employees are never changed
    (they are the IdP's): with --update their rows are refused, saying so.

    Columns: email (required), givenName, familyName, displayName, title, department, …
    (any field of `roster employee add --field`), and locations (names separated by ;).
    Comma-, semicolon- and tab-separated files are all read (the header row tells which).
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
            engine, tenant_id, rows, file.name, lambda: progress.advance(task), update=update
        )
    counts = {a: sum(1 for r in results if r.action == a) for a in ("added", "updated")}
    failed = [{"row": r.number, "email": r.email, "error": r.error} for r in results if r.refused]
    report = {
        "rows": len(results),
        "imported": len(results) - len(failed),
        "added": counts["added"],
        "updated": counts["updated"],
        "refused": len(failed),
        "failed": failed,
        "employees": [
            {"row": r.number, "id": r.employee_id, "email": r.email, "action": r.action}
            for r in results
            if not r.refused
        ],
        "results": [
            {"row": r.number, "email": r.email, "action": r.action, "error": r.error}
            for r in results
        ],
    }
    done = f"{len(results) - len(failed)} of {len(results)} rows imported"
    if update:
        # Each row's fate (added, updated, refused): what a person checks after --update.
        lines = [
            f"{done} ({counts['added']} added, {counts['updated']} updated), {len(failed)} refused"
        ]
        for r in results:
            why = f": {r.error}" if r.error else ""
            lines.append(f"  row {r.number} ({r.email or 'no email'}): {r.action}{why}")
    else:
        lines = [f"{done}, {len(failed)} refused"]
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
    source: Annotated[
        str | None,
        typer.Option(help="manual, synced, or a connection (its id, its start, or its name)."),
    ] = None,
    location: Annotated[str | None, typer.Option(help="A location name.")] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most this many (default: all).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List the tenant's employees (synced and manual), oldest first."""

    def run(conn: Connection) -> tuple[list[dict[str, Any]], int | None]:
        tenant_id = _tenant_id(conn, tenant)
        chosen = source
        if source is not None and source not in ("manual", "synced"):
            chosen = _connection_uid(conn, source, tenant)
        filters: dict[str, Any] = {"status": status, "source": chosen, "location": location}
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while limit is None or len(items) < limit:
            want = _LIST_PAGE if limit is None else min(_LIST_PAGE, limit - len(items))
            page, cursor = read_api.list_employees(
                conn, tenant_id, **filters, cursor=cursor, limit=want
            )
            items += page
            if cursor is None:
                return items, None
        # Cut short by --limit: say how many there are, not just that there are more.
        return items, read_api.count_employees(conn, tenant_id, **filters)

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
        return read_api.render_employees(conn, tenant_id, [row])[0]

    data = _run(as_json, run)
    _print(as_json, data, employee_text(data))


@employee_app.command("remove")
def employee_remove(
    tenant: TenantOpt,
    employee: Annotated[str, typer.Argument(help="Employee id or email.")],
    yes: YesFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Remove a manual employee (synced ones are removed in the IdP)."""
    confirm(
        f"Remove manual employee {employee!r} from tenant {tenant!r}? Its roles, grants and "
        "locations go with it.",
        yes,
        as_json,
    )
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
    data = _run(as_json, lambda c: read_api.list_locations(c, _tenant_id(c, tenant)))
    human = "\n".join(
        f"{d['name']:<24} {d['employeeCount']:>6} employees  cities: "
        f"{', '.join(d['cities']) or '-'}  locales: {', '.join(d['locales']) or '-'}"
        for d in data
    )
    _print(as_json, data, human or "no locations")


@location_app.command("remove")
def location_remove(
    tenant: TenantOpt, name: str, yes: YesFlag = False, as_json: JsonFlag = False
) -> None:
    """Remove a location (its memberships and mappings go with it)."""
    confirm(
        f"Remove location {name!r} of tenant {tenant!r}? Its memberships, mappings and the "
        "roles held at it go with it.",
        yes,
        as_json,
    )
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
def location_unmap(
    tenant: TenantOpt, value: str, yes: YesFlag = False, as_json: JsonFlag = False
) -> None:
    """Remove a primary-location mapping."""
    confirm(
        f"Remove the mapping of {value!r} (tenant {tenant!r})? Employees whose IdP sends it "
        "lose it as primary location (unless a location has that exact name).",
        yes,
        as_json,
    )
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
def apikey_revoke(
    tenant: TenantOpt, key_id: str, yes: YesFlag = False, as_json: JsonFlag = False
) -> None:
    """Revoke an API key at once."""
    confirm(
        f"Revoke API key {key_id!r} of tenant {tenant!r}? Requests made with it are refused "
        "(401) at once.",
        yes,
        as_json,
    )
    row = _run(as_json, lambda c: apikeys.revoke(c, _tenant_id(c, tenant), key_id))
    _print(as_json, {"revoked": row.id}, f"API key {row.name!r} revoked")


# ---- attribute mapping ---------------------------------------------------------------------


@mapping_app.command("show")
def mapping_show(
    connection: ConnectionArg, tenant: ConnectionTenantOpt = None, as_json: JsonFlag = False
) -> None:
    """The connection's mapping: the default fields and the custom ones."""
    custom = _run(
        as_json,
        lambda c: custom_fields.fields_of(c, _connection_uid(c, connection, tenant)),
    )
    data = {
        "default": {name: path for name, path, _ in DEFAULT_MAPPING} | dict(REFERENCE_MAPPING),
        "custom": custom,
    }
    lines = [f"{k:<16} <- {v}" for k, v in data["default"].items()]
    lines += [f"{k:<16} <- {v}   (custom)" for k, v in custom.items()]
    _print(as_json, data, "\n".join(lines))


@mapping_app.command("set")
def mapping_set(
    connection: ConnectionArg,
    field: Annotated[str, typer.Argument(help="Custom field name.")],
    path: Annotated[str, typer.Argument(help="Attribute path: attr[.sub] or URN:attr[.sub].")],
    tenant: ConnectionTenantOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Map an attribute of any schema to a custom field (applies from each user's next
    sync)."""
    _run(
        as_json,
        lambda c: custom_fields.set_field(c, _connection_uid(c, connection, tenant), field, path),
    )
    _print(as_json, {"field": field, "path": path}, f"{field} <- {path}")


@mapping_app.command("remove")
def mapping_remove(
    connection: ConnectionArg,
    field: str,
    tenant: ConnectionTenantOpt = None,
    yes: YesFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Stop mapping a custom field (values already synced stay)."""
    uid = _run(as_json, lambda c: _connection_uid(c, connection, tenant))
    confirm(
        f"Stop mapping custom field {field!r} of connection {uid[:8]}? Values already synced "
        "stay; new syncs no longer fill it.",
        yes,
        as_json,
    )
    _run(as_json, lambda c: custom_fields.remove_field(c, uid, field))
    _print(as_json, {"removed": field}, f"{field} no longer mapped")


# ---- connection delete (registered under `roster connection`) ------------------------------


def connection_delete(
    connection: ConnectionArg,
    tenant: ConnectionTenantOpt = None,
    yes: YesFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Delete a connection: its sync stops and its token dies; the employees it brought stay,
    as manual employees."""
    row = _run(as_json, lambda c: resolve_connection(c, connection, tenant))
    confirm(
        f"Delete connection {row.name!r} ({row.uid}, tenant {row.tenant_name!r})? Its token "
        "stops working and its sync stops; the employees it brought stay, as manual employees.",
        yes,
        as_json,
    )
    deleted = _run(as_json, lambda c: delete_connection(c, row.uid))
    data = {"deleted": deleted.connection.uid, "employees_kept": deleted.employees_kept}
    _print(
        as_json,
        data,
        f"connection {deleted.connection.name!r} deleted; its {deleted.employees_kept} "
        "employees stay, as manual employees",
    )
