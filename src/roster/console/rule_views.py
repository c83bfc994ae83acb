"""Rules: the ordered list, adding one (rulebook.add_rule, the CLI's validation), the dry
run's diff, and apply (rule_runs.apply, batched like `roster rule apply`), run as a
background job whose page shows its progress (job_views.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from roster.console import job_views
from roster.console.jobs import Progress, Work
from roster.console.web import (
    BASE,
    Console,
    Redirect,
    Refused,
    as_list,
    form,
    signed_in,
    tenant_for,
    wants_fragment,
)
from roster.directory.admin import admins, rule_runs, rulebook
from roster.directory.admin.rulebook import RuleSpec
from roster.directory.places import locations
from roster.directory.reads import read_api
from roster.directory.reads.console_reads import TenantRow
from roster.errors import RosterError
from roster.rules import roles


def _catalogue(c: Connection, tenant: TenantRow) -> dict[str, Any]:
    rows = rulebook.rules(c, tenant.id)
    return {
        "tenant": tenant,
        "rules": [(r, rulebook.describe(c, tenant.id, r)) for r in rows],
        "access_groups": rulebook.access_groups(c, tenant.id),
        "locations": locations.list_all(c, tenant.id),
        "roles": list(roles.LOCATION_ROLES) + list(roles.COMPANY_ROLES),
    }


def _spec(values: dict[str, Any]) -> RuleSpec:
    """The rule a posted form describes (checked by rulebook, as the CLI's)."""
    position = str(values.get("position", "")).strip()
    return RuleSpec(
        str(values.get("name", "")),
        tuple(
            line.strip() for line in str(values.get("conditions", "")).splitlines() if line.strip()
        ),
        str(values.get("match", "all")),
        tuple(as_list(values.get("access_group"))),
        str(values.get("role") or "") or None,
        tuple(as_list(values.get("location"))),
        values.get("mobile_key") == "on",
        int(position) if position.isdigit() else None,
    )


def _values(spec: RuleSpec) -> dict[str, Any]:
    """A rule as its form's values."""
    return {
        "name": spec.name,
        "conditions": "\n".join(spec.conditions),
        "match": spec.match,
        "access_group": list(spec.access_groups),
        "role": spec.role or "",
        "location": list(spec.locations),
        "mobile_key": "on" if spec.mobile_key else "",
    }


def routes(console: Console) -> list[Route]:  # noqa: C901 (one small closure per route, registered in one place)
    async def rules_page(request: Request) -> Response:
        me = await signed_in(console, request)
        slug = request.path_params["slug"]
        error, status, values = None, 200, {}
        if request.method == "POST":
            values = await form(request, me.token)
            spec = _spec(values)

            def add(c: Connection) -> None:
                tenant = tenant_for(c, me.account, slug)
                row = rulebook.add_rule(c, tenant.id, spec)
                admins.log_action(
                    c,
                    tenant.id,
                    me.actor,
                    "console.rule.add",
                    f"rule {row.name!r} added at position {row.position}: "
                    + rulebook.describe(c, tenant.id, row),
                    resource_type="Rule",
                    resource_id=row.id,
                )

            try:
                await console.db(add, me.request_id)
            except RosterError as err:
                status, error = err.status, err.detail
            else:
                raise Redirect(f"{BASE}/t/{slug}/rules?added=1")

        def read(c: Connection) -> dict[str, Any]:
            return _catalogue(c, tenant_for(c, me.account, slug))

        data = await console.db(read)
        return console.render(
            request,
            "rules.html",
            status,
            ctx=me,
            csrf=me.csrf,
            title="Rules",
            error=error,
            values=values,
            added=request.query_params.get("added") == "1",
            edited=request.query_params.get("edited") == "1",
            **data,
        )

    async def edit_rule(request: Request) -> Response:
        """Edit a rule in place (rulebook.edit_rule): it keeps its id and position, and
        no one's access changes until the rules are applied."""
        me = await signed_in(console, request)
        slug, rule_id = request.path_params["slug"], request.path_params["rule"]
        error, status, values = None, 200, {}

        def current(c: Connection) -> dict[str, Any]:
            tenant = tenant_for(c, me.account, slug)
            row = rulebook.rule(c, tenant.id, rule_id)
            if row.id != rule_id:  # only ids here, not names or positions
                raise Refused(404, "No such rule.")
            return {
                **_catalogue(c, tenant),
                "rule": row,
                "spec": rulebook.spec_of(c, tenant.id, row),
            }

        if request.method == "POST":
            values = await form(request, me.token)
            spec = _spec(values)

            def run(c: Connection) -> None:
                tenant = tenant_for(c, me.account, slug)
                before = rulebook.rule(c, tenant.id, rule_id)
                if before.id != rule_id:
                    raise Refused(404, "No such rule.")
                row = rulebook.edit_rule(c, tenant.id, before.id, spec)
                admins.log_action(
                    c,
                    tenant.id,
                    me.actor,
                    "console.rule.edit",
                    f"rule {row.name!r} at position {row.position} edited: "
                    + rulebook.describe(c, tenant.id, row),
                    resource_type="Rule",
                    resource_id=row.id,
                )

            try:
                await console.db(run, me.request_id)
            except RosterError as err:
                status, error = err.status, err.detail
            else:
                raise Redirect(f"{BASE}/t/{slug}/rules?edited=1")
        data = await console.db(current)
        return console.render(
            request,
            "rule_edit.html",
            status,
            ctx=me,
            csrf=me.csrf,
            title=f"Edit rule {data['rule'].name}",
            error=error,
            values=values or _values(data.pop("spec")),
            **{k: v for k, v in data.items() if k != "spec"},
        )

    async def dry_run(request: Request) -> Response:
        me = await signed_in(console, request)
        slug = request.path_params["slug"]

        def read(c: Connection) -> dict[str, Any]:
            tenant = tenant_for(c, me.account, slug)
            return {"tenant": tenant, "result": rule_runs.dry_run(c, tenant.id)}

        data = await console.db(read)
        template = "dry_run_part.html" if wants_fragment(request) else "dry_run.html"
        return console.render(request, template, ctx=me, csrf=me.csrf, title="Dry run", **data)

    async def apply(request: Request) -> Response:
        """Start the apply in the background (rule_runs.apply, as `roster rule apply`) and
        answer at once with its job's page, which shows its progress."""
        me = await signed_in(console, request)
        slug = request.path_params["slug"]
        await form(request, me.token)

        def work(tenant: TenantRow) -> Work:
            def run(progress: Progress) -> dict[str, Any]:
                report = rule_runs.apply(
                    console.engine, tenant.id, progress=lambda run: progress.set(run.processed)
                )
                with console.engine.begin() as c:
                    admins.log_action(
                        c,
                        tenant.id,
                        me.actor,
                        "console.rule.apply",
                        f"rules applied (run {report.id}): {report.processed} employees "
                        f"evaluated, {report.changed} changed",
                    )
                return dataclasses.asdict(report)

            return run

        url = await job_views.start(
            console,
            me,
            slug,
            "rule.apply",
            lambda c, tenant: read_api.count_employees(c, tenant.id),
            work,
            single=True,
        )
        raise Redirect(url)

    async def edit(request: Request) -> Response:
        """Move a rule (``to``: its new position) or remove it. Either changes no one's
        access until the rules are applied."""
        me = await signed_in(console, request)
        slug, rule_id, verb = (request.path_params[k] for k in ("slug", "rule", "verb"))
        if verb not in ("move", "remove"):
            raise Refused(404, "No such page.")
        values = await form(request, me.token)

        def run(c: Connection) -> None:
            tenant = tenant_for(c, me.account, slug)
            row = rulebook.rule(c, tenant.id, rule_id)
            if row.id != rule_id:  # only ids here, not names or positions
                raise Refused(404, "No such rule.")
            if verb == "move":
                to = str(values.get("to", ""))
                if not to.isdigit():
                    raise Refused(400, "say which position to move the rule to")
                moved = rulebook.move_rule(c, tenant.id, row.id, int(to))
                detail = f"rule {row.name!r} moved from position {row.position} to {moved.position}"
            else:
                rulebook.remove_rule(c, tenant.id, row.id)
                detail = f"rule {row.name!r} removed"
            admins.log_action(
                c,
                tenant.id,
                me.actor,
                f"console.rule.{verb}",
                detail,
                resource_type="Rule",
                resource_id=row.id,
            )

        await console.db(run, me.request_id)
        raise Redirect(f"{BASE}/t/{slug}/rules")

    return [
        Route("/t/{slug}/rules", rules_page, methods=["GET", "POST"]),
        Route("/t/{slug}/rules/{rule}/edit", edit_rule, methods=["GET", "POST"]),
        Route("/t/{slug}/rules/{rule}/{verb:str}", edit, methods=["POST"]),
        Route("/t/{slug}/rules/dry-run", dry_run),
        Route("/t/{slug}/rules/apply", apply, methods=["POST"]),
    ]
