"""``roster access-group|rule``: the tenant's access groups and its ordered rules (Sequr).

Editing rules changes no one's access by itself: ``roster rule dry-run`` shows who would
gain and lose what, ``roster rule apply`` re-evaluates the directory. Same conventions as
the rest of the CLI: ``--tenant`` and ``--json`` on every command, one JSON document with
``--json``; refusals exit 1, bad usage 2.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import typer
from sqlalchemy import Connection

from roster.cli.support import JsonFlag, YesFlag, confirm, progress_bar, stamp
from roster.cli.support import engine as _engine
from roster.cli.support import fail as _fail
from roster.cli.support import refusals as _refusals
from roster.cli.support import run as _run
from roster.cli.support import show as _print
from roster.cli.support import tenant_id as _tenant_id
from roster.directory.admin import rule_runs, rulebook
from roster.directory.admin.rulebook import RuleSpec
from roster.directory.entitlements.access import Change
from roster.directory.entitlements.group_bindings import RuleGroups
from roster.directory.places import locations
from roster.directory.reads import read_api
from roster.rules import syntax
from roster.storage.access import AccessGroupRow, RuleRow
from roster.storage.rule_runs import RunRow

access_group_app = typer.Typer(
    help="Access groups of a tenant (door groups, ...): what rules grant.", no_args_is_help=True
)
rule_app = typer.Typer(
    help="The tenant's ordered rules. Each employee is evaluated against them in order and "
    "the FIRST rule that matches wins: its grants (access groups, a role, locations, a "
    "mobile key) apply, the rules below it are not used. A rule matches when ALL its "
    "conditions hold (--match all, the default) or when ANY one does (--match any); a "
    "rule without conditions matches everyone. With no rules, nothing is granted. Changing "
    "rules changes no one's access until `roster rule apply` (see `roster rule dry-run`).",
    no_args_is_help=True,
)

TenantOpt = Annotated[str, typer.Option(help="Tenant name.")]
IfOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--if",
        help="A condition, FIELD OP [VALUE ...] (repeatable): 'city eq \"New York\"', "
        "'state in CA NY', 'groups any Eng Ops', 'groups none Contractors', "
        "'postalCode present', 'title starts_with Senior', 'custom.badge ne none'. "
        "Fields are the read API's names (docs/rules.md).",
    ),
]
MatchOpt = Annotated[
    str | None, typer.Option(help="all: every condition must hold; any: one is enough.")
]
AccessGroupOpt = Annotated[
    list[str] | None, typer.Option(help="Grant this access group (repeatable).")
]
RoleOpt = Annotated[str | None, typer.Option(help="Grant this role (see `role list`).")]
LocationOpt = Annotated[
    list[str] | None,
    typer.Option(help="Grant access to this location (repeatable); a location role's scope."),
]


def register(app: typer.Typer) -> None:
    """Add ``access-group`` and ``rule`` to the ``roster`` command (called by roster.cli)."""
    app.add_typer(access_group_app, name="access-group")
    app.add_typer(rule_app, name="rule")


# ---- access groups -------------------------------------------------------------------------


def _group_json(row: AccessGroupRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "created_at": stamp(row.created_at),
    }


@access_group_app.command("add")
def access_group_add(
    tenant: TenantOpt,
    name: str,
    description: Annotated[str | None, typer.Option(help="What it opens.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add an access group (rules grant it with `roster rule add --access-group NAME`)."""
    row = _run(
        as_json,
        lambda c: rulebook.add_access_group(c, _tenant_id(c, tenant), name, description),
    )
    _print(as_json, _group_json(row), f"access group {row.name!r} added ({row.id})")


@access_group_app.command("list")
def access_group_list(tenant: TenantOpt, as_json: JsonFlag = False) -> None:
    """List access groups, by name."""
    rows = _run(as_json, lambda c: rulebook.access_groups(c, _tenant_id(c, tenant)))
    human = "\n".join(
        f"{r.id}  {r.name}" + (f"  ({r.description})" if r.description else "") for r in rows
    )
    _print(as_json, [_group_json(r) for r in rows], human or "no access groups")


@access_group_app.command("remove")
def access_group_remove(
    tenant: TenantOpt,
    name_or_id: Annotated[str, typer.Argument(metavar="NAME_OR_ID")],
    yes: YesFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Remove an access group no rule grants (its grants, active or revoked, go with it)."""
    confirm(
        f"Remove access group {name_or_id!r} of tenant {tenant!r}? Its grants, active or "
        "revoked, go with it.",
        yes,
        as_json,
    )
    row = _run(
        as_json, lambda c: rulebook.remove_access_group(c, _tenant_id(c, tenant), name_or_id)
    )
    _print(as_json, {"removed": row.id, "name": row.name}, f"access group {row.name!r} removed")


# ---- rules ---------------------------------------------------------------------------------


def _rule_json(
    conn: Connection, tenant_id: int, row: RuleRow, bound: RuleGroups | None = None
) -> dict[str, Any]:
    """A rule as the CLI shows it; groups conditions name each group by its current name
    (``waiting_for_groups``: names no connection has a group for yet)."""
    if bound is None:
        bound = rulebook.rule_groups(conn, tenant_id, [row])
    a = row.actions
    groups = {g.id: g.name for g in rulebook.access_groups(conn, tenant_id)}
    places = {loc.id: loc.name for loc in locations.list_all(conn, tenant_id)}
    return {
        "position": row.position,
        "id": row.id,
        "name": row.name,
        "match": row.match,
        "conditions": [syntax.render(c) for c in rulebook.conditions(row, bound)],
        "waiting_for_groups": bound.waiting_for(row.pk),
        "grants": {
            "access_groups": [
                {"id": i, "name": groups.get(i)} for i in a.get("access_groups") or []
            ],
            "role": a.get("role"),
            "locations": [{"id": i, "name": places.get(i)} for i in a.get("locations") or []],
            "mobile_key": bool(a.get("mobile_key")),
        },
        "description": rulebook.describe(conn, tenant_id, row, bound),
    }


def _all_rules(conn: Connection, tenant_id: int) -> list[dict[str, Any]]:
    rows = rulebook.rules(conn, tenant_id)
    groups = rulebook.rule_groups(conn, tenant_id, rows)  # one read for every rule
    return [_rule_json(conn, tenant_id, r, groups) for r in rows]


def waiting_warning(names: list[str], what: str) -> None:
    """On stderr, so stdout stays the report (or the one JSON document)."""
    for name in names:
        typer.echo(
            f"warning: no group called {name!r} has been pushed yet: {what} and binds "
            "to the group when the IdP pushes one (POST /Groups or a rename to that name)",
            err=True,
        )


def _rule_line(rule: dict[str, Any]) -> str:
    return f"{rule['position']}. {rule['name']} ({rule['id']})\n   {rule['description']}"


def _rule_text(rule: dict[str, Any]) -> str:
    g = rule["grants"]
    lines = [
        f"rule {rule['name']!r} ({rule['id']}), position {rule['position']}",
        f"  match:       {rule['match']} of its conditions"
        + ("" if rule["conditions"] else " (none: it matches everyone)"),
    ]
    lines += [f"  if:          {c}" for c in rule["conditions"]]
    lines += [
        f"  waiting:     no group called {name!r} yet (binds when the IdP pushes one)"
        for name in rule["waiting_for_groups"]
    ]
    lines += [
        "  grants:",
        "    access groups: "
        + (", ".join(repr(x["name"] or x["id"]) for x in g["access_groups"]) or "-"),
        f"    role:          {g['role'] or '-'}",
        "    locations:     "
        + (", ".join(repr(x["name"] or x["id"]) for x in g["locations"]) or "-"),
        f"    mobile key:    {'yes' if g['mobile_key'] else 'no'}",
    ]
    return "\n".join(lines)


def _after_edit(as_json: bool, data: Any, head: str) -> None:
    _print(as_json, data, f"{head}\n{rulebook.NEXT_STEP}")


def _check_match(match: str | None, as_json: bool) -> None:
    if match is not None and match.strip().lower() not in ("all", "any"):
        _fail(f"--match must be all or any, not {match!r}", as_json, 2)


@rule_app.command("add")
def rule_add(
    tenant: TenantOpt,
    name: str,
    if_: IfOpt = None,
    match: MatchOpt = "all",
    access_group: AccessGroupOpt = None,
    role: RoleOpt = None,
    location: LocationOpt = None,
    mobile_key: Annotated[bool, typer.Option("--mobile-key", help="Issue a mobile key.")] = False,
    position: Annotated[
        int | None, typer.Option(min=1, help="1 is tried first (default: last).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a rule. Rules are tried in order and the first that matches wins. Without
    --if the rule matches everyone."""
    _check_match(match, as_json)
    spec = RuleSpec(
        name,
        tuple(if_ or ()),
        match or "all",
        tuple(access_group or ()),
        role,
        tuple(location or ()),
        mobile_key,
        position,
    )

    def run(conn: Connection) -> dict[str, Any]:
        tenant_id = _tenant_id(conn, tenant)
        return _rule_json(conn, tenant_id, rulebook.add_rule(conn, tenant_id, spec))

    data = _run(as_json, run)
    waiting_warning(data["waiting_for_groups"], "the condition waits for it")
    _after_edit(as_json, data, f"rule added:\n{_rule_line(data)}")


@rule_app.command("edit")
def rule_edit(
    tenant: TenantOpt,
    name_or_id: Annotated[str, typer.Argument(metavar="NAME_OR_ID", help="Name, id or position.")],
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    if_: IfOpt = None,
    clear_if: Annotated[
        bool, typer.Option("--clear-if", help="Drop every condition (matches everyone).")
    ] = False,
    match: MatchOpt = None,
    access_group: AccessGroupOpt = None,
    clear_access_groups: Annotated[
        bool, typer.Option("--clear-access-groups", help="Grant no access group.")
    ] = False,
    role: RoleOpt = None,
    no_role: Annotated[bool, typer.Option("--no-role", help="Grant no role.")] = False,
    location: LocationOpt = None,
    clear_locations: Annotated[
        bool, typer.Option("--clear-locations", help="Grant no location.")
    ] = False,
    mobile_key: Annotated[
        bool | None,
        typer.Option("--mobile-key/--no-mobile-key", help="Issue a mobile key, or not."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a rule in place: it keeps its id and its position (`rule move` moves it).
    Options given replace that part of the rule (--if, --access-group and --location
    replace the whole list); parts not named stay as they are."""
    _check_match(match, as_json)
    for given, cleared, what in (
        (if_, clear_if, "--if"),
        (access_group, clear_access_groups, "--access-group"),
        (location, clear_locations, "--location"),
        (role, no_role, "--role"),
    ):
        if given and cleared:
            _fail(f"give {what} or clear it, not both", as_json, 2)

    def run(conn: Connection) -> dict[str, Any]:
        tenant_id = _tenant_id(conn, tenant)
        row = rulebook.rule(conn, tenant_id, name_or_id)
        old = rulebook.spec_of(conn, tenant_id, row)
        spec = replace(
            old,
            name=old.name if name is None else name,
            conditions=() if clear_if else tuple(if_) if if_ else old.conditions,
            match=old.match if match is None else match,
            access_groups=(
                ()
                if clear_access_groups
                else tuple(access_group)
                if access_group
                else old.access_groups
            ),
            role=None if no_role else role if role is not None else old.role,
            locations=(() if clear_locations else tuple(location) if location else old.locations),
            mobile_key=old.mobile_key if mobile_key is None else mobile_key,
        )
        return _rule_json(conn, tenant_id, rulebook.edit_rule(conn, tenant_id, row.id, spec))

    data = _run(as_json, run)
    _after_edit(as_json, data, f"rule edited:\n{_rule_line(data)}")


@rule_app.command("list")
def rule_list(tenant: TenantOpt, as_json: JsonFlag = False) -> None:
    """List the rules in the order they are tried (the first that matches wins)."""

    data = _run(as_json, lambda c: _all_rules(c, _tenant_id(c, tenant)))
    human = "\n".join(_rule_line(r) for r in data)
    _print(as_json, data, human or "no rules: nothing is granted to anyone")


@rule_app.command("show")
def rule_show(
    tenant: TenantOpt,
    name_or_id: Annotated[str, typer.Argument(metavar="NAME_OR_ID", help="Name, id or position.")],
    as_json: JsonFlag = False,
) -> None:
    """Show one rule: its position, conditions and grants."""

    def run(conn: Connection) -> dict[str, Any]:
        tenant_id = _tenant_id(conn, tenant)
        return _rule_json(conn, tenant_id, rulebook.rule(conn, tenant_id, name_or_id))

    data = _run(as_json, run)
    _print(as_json, data, _rule_text(data))


@rule_app.command("move")
def rule_move(
    tenant: TenantOpt,
    name_or_id: Annotated[str, typer.Argument(metavar="NAME_OR_ID", help="Name, id or position.")],
    to: Annotated[int, typer.Option("--to", min=1, help="The new position (1: tried first).")],
    as_json: JsonFlag = False,
) -> None:
    """Move a rule to another position: rules above it are tried before it."""

    def run(conn: Connection) -> list[dict[str, Any]]:
        tenant_id = _tenant_id(conn, tenant)
        rulebook.move_rule(conn, tenant_id, name_or_id, to)
        return _all_rules(conn, tenant_id)

    data = _run(as_json, run)
    moved = next(r for r in data if r["position"] == to)
    order = "\n".join(f"{r['position']}. {r['name']}" for r in data)
    _after_edit(as_json, data, f"rule {moved['name']!r} is now at position {to}:\n{order}")


@rule_app.command("remove")
def rule_remove(
    tenant: TenantOpt,
    name_or_id: Annotated[str, typer.Argument(metavar="NAME_OR_ID", help="Name, id or position.")],
    yes: YesFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Remove a rule (what it granted stays until `roster rule apply`)."""
    found = _run(as_json, lambda c: rulebook.rule(c, _tenant_id(c, tenant), name_or_id))
    confirm(
        f"Remove rule {found.name!r} (position {found.position})? The rules below it move "
        "up; what it granted stays until `roster rule apply`.",
        yes,
        as_json,
    )
    row = _run(as_json, lambda c: rulebook.remove_rule(c, _tenant_id(c, tenant), found.id))
    _after_edit(as_json, {"removed": row.id, "name": row.name}, f"rule {row.name!r} removed")


def change_json(c: Change) -> dict[str, str]:
    """One change of a dry run or an explanation: ``line`` is how the text output shows it."""
    return {
        "kind": c.kind,
        "what": c.what,
        "change": c.change,
        "detail": c.detail,
        "line": c.line(),
    }


@rule_app.command("dry-run")
def rule_dry_run(tenant: TenantOpt, as_json: JsonFlag = False) -> None:
    """Who would gain (+) and who would lose (-) which access group, role, location or
    mobile key if the rules were applied now, for the whole directory. Changes nothing."""

    def run(conn: Connection) -> rule_runs.DryRun:
        return rule_runs.dry_run(conn, _tenant_id(conn, tenant))

    result = _run(as_json, run)
    totals = {
        "evaluated": result.evaluated,
        "rules": result.rules,
        "employees_changing": len(result.diffs),
        "gain": result.count("gain"),
        "lose": result.count("lose"),
        "change": result.count("change"),
        "keep": result.count("keep"),
    }
    data = {
        "totals": totals,
        "employees": [
            {
                "id": d.id,
                "email": d.email,
                "rule": d.rule,
                "changes": [change_json(c) for c in d.changes],
            }
            for d in result.diffs
        ],
    }
    lines = []
    for d in result.diffs:
        fired = f"rule {d.rule!r}" if d.rule else "no rule matches"
        lines.append(f"{d.email} ({fired})")
        lines += [f"  {c.line()}" for c in d.changes]
    lines.append(
        f"{result.evaluated} employees evaluated against {result.rules} rules: "
        f"{len(result.diffs)} would change ({totals['gain']} gained, {totals['lose']} lost, "
        f"{totals['change']} changed)"
    )
    if result.diffs:
        lines.append("nothing has changed yet: `roster rule apply` applies this")
    _print(as_json, data, "\n".join(lines))


@rule_app.command("apply")
def rule_apply(
    tenant: TenantOpt,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Employees per transaction (each batch commits).")
    ] = rule_runs.BATCH,
    as_json: JsonFlag = False,
) -> None:
    """Re-evaluate every employee under the current rules, in batches that each commit.
    An interrupted apply resumes after its last committed batch when run again (or starts
    over if the rules changed since)."""
    # The count is for a person watching a terminal: on stderr, so stdout stays the report.
    progress = progress_bar("applying rules", as_json)
    with _refusals(as_json), _engine() as engine, progress:
        with engine.begin() as conn:
            tenant_id = _tenant_id(conn, tenant)
            total = read_api.count_employees(conn, tenant_id)
        task = progress.add_task("employees", total=total)

        def advance(run: RunRow) -> None:
            progress.update(task, completed=run.processed)

        report = rule_runs.apply(engine, tenant_id, batch_size=batch_size, progress=advance)
    data = {
        "run": report.id,
        "resumed": report.resumed,
        "processed": report.processed,
        "changed": report.changed,
        "total_processed": report.total_processed,
        "batches": report.batches,
    }
    head = (
        f"resumed the interrupted apply {report.id}: {report.total_processed - report.processed}"
        " employees were already done\n"
        if report.resumed
        else ""
    )
    _print(
        as_json,
        data,
        f"{head}apply {report.id} done: {report.processed} employees evaluated, "
        f"{report.changed} changed ({report.total_processed} in all, batches: {report.batches}); "
        "see `roster log` for each change",
    )
