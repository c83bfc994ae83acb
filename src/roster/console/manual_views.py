"""Manual employees (contractors, temps: people no IdP syncs): add, edit and remove one,
and import a CSV file with a report per row. The actions are the CLI's: `roster employee
add` (manual_import.add_one), `roster employee import` (manual_import.import_file),
`roster employee remove` (employees.remove_manual), and employees.edit_manual."""

from __future__ import annotations

import io
from typing import Any

from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from roster.console.web import (
    BASE,
    Console,
    Redirect,
    Refused,
    SignedIn,
    as_list,
    check_csrf,
    form,
    signed_in,
    tenant_for,
)
from roster.directory.admin import admins
from roster.directory.journal.system_log import correlated
from roster.directory.people import employees, manual_import
from roster.directory.people.employees import MANUAL_FIELDS, ManualEmployee
from roster.directory.places import locations
from roster.errors import Conflict, RosterError

# The request waits for the import: a larger file is for `roster employee import`.
IMPORT_MAX_BYTES = 2 * 1024 * 1024
IMPORT_MAX_ROWS = 5000

LABELS = {
    "givenName": "Given name",
    "familyName": "Family name",
    "displayName": "Display name",
    "phone": "Phone",
    "title": "Job title",
    "department": "Department",
    "division": "Division",
    "employeeNumber": "Employee number",
    "costCenter": "Cost center",
    "organization": "Organization",
    "city": "City",
    "state": "State or region",
    "postalCode": "Postal code",
    "country": "Country",
    "locale": "Locale (en_US)",
    "timezone": "Time zone",
    "userType": "User type",
}


def _person(values: dict[str, Any]) -> ManualEmployee:
    fields = {name: str(values.get(name, "")) for name in MANUAL_FIELDS if values.get(name)}
    return ManualEmployee(
        str(values.get("email", "")), fields, tuple(as_list(values.get("location")))
    )


def routes(console: Console) -> list[Route]:  # noqa: C901 (one small closure per route, registered in one place)
    async def render_form(
        request: Request,
        me: SignedIn,
        values: dict[str, Any],
        *,
        employee: dict[str, Any] | None = None,
        status: int = 200,
        error: str | None = None,
    ) -> Response:
        slug = request.path_params["slug"]

        def read(c: Connection) -> dict[str, Any]:
            tenant = tenant_for(c, me.account, slug)
            return {"tenant": tenant, "places": locations.list_all(c, tenant.id)}

        data = await console.db(read)
        heading = f"Edit {employee['email']}" if employee else "Add a manual employee"
        return console.render(
            request,
            "employee_form.html",
            status,
            ctx=me,
            csrf=me.csrf,
            title=heading,
            heading=heading,
            employee=employee,
            values=values,
            error=error,
            fields=[(name, LABELS[name]) for name in MANUAL_FIELDS],
            **data,
        )

    async def add(request: Request) -> Response:
        me = await signed_in(console, request)
        slug = request.path_params["slug"]
        if request.method == "GET":
            return await render_form(request, me, {})
        values = await form(request, me.token)
        person = _person(values)

        def run(c: Connection) -> str | RosterError:
            tenant = tenant_for(c, me.account, slug)
            row = manual_import.add_one(c, tenant.id, person, where="console")
            if isinstance(row, RosterError):
                return row
            admins.log_action(
                c,
                tenant.id,
                me.actor,
                "console.employee.add",
                f"manual employee {row.email} added",
                resource_type="Employee",
                resource_id=row.id,
            )
            return row.id

        done = await console.db(run, me.request_id)
        if isinstance(done, RosterError):
            return await render_form(request, me, values, status=done.status, error=done.detail)
        raise Redirect(f"{BASE}/t/{slug}/employees/{done}")

    async def edit(request: Request) -> Response:
        me = await signed_in(console, request)
        slug, employee_id = request.path_params["slug"], request.path_params["id"]

        def current(c: Connection) -> dict[str, Any]:
            tenant = tenant_for(c, me.account, slug)
            row = employees.find(c, tenant.id, employee_id)
            if row.id != employee_id:  # ids only in URLs
                raise Refused(404, "No such employee.")
            if row.synced:
                raise Conflict(f"{row.email} is synced: change it in the identity provider")
            mine = locations.of_employee(c, tenant.id, row.pk)
            return {
                "id": row.id,
                "email": row.email,
                **{k: v for k, v in row.fields.items() if k in MANUAL_FIELDS and v},
                "location": [p.id for p in mine],
            }

        employee = await console.db(current)
        if request.method == "GET":
            return await render_form(request, me, employee, employee=employee)
        values = await form(request, me.token)
        person = _person(values)

        def run(c: Connection) -> None:
            tenant = tenant_for(c, me.account, slug)
            row = employees.edit_manual(c, tenant.id, employee_id, person)
            admins.log_action(
                c,
                tenant.id,
                me.actor,
                "console.employee.edit",
                f"manual employee {row.email} edited",
                resource_type="Employee",
                resource_id=row.id,
            )

        try:
            await console.db(run, me.request_id)
        except RosterError as err:
            return await render_form(
                request, me, values, employee=employee, status=err.status, error=err.detail
            )
        raise Redirect(f"{BASE}/t/{slug}/employees/{employee_id}")

    async def remove(request: Request) -> Response:
        me = await signed_in(console, request)
        slug, employee_id = request.path_params["slug"], request.path_params["id"]
        if request.method == "GET":

            def read(c: Connection) -> dict[str, Any]:
                tenant = tenant_for(c, me.account, slug)
                row = employees.find(c, tenant.id, employee_id)
                if row.id != employee_id:
                    raise Refused(404, "No such employee.")
                return {"tenant": tenant, "employee": row}

            data = await console.db(read)
            return console.render(
                request,
                "employee_remove.html",
                ctx=me,
                csrf=me.csrf,
                title=f"Remove {data['employee'].email}",
                **data,
            )
        await form(request, me.token)

        def run(c: Connection) -> None:
            tenant = tenant_for(c, me.account, slug)
            row = employees.find(c, tenant.id, employee_id)
            if row.id != employee_id:
                raise Refused(404, "No such employee.")
            employees.remove_manual(c, tenant.id, row.id)
            admins.log_action(
                c,
                tenant.id,
                me.actor,
                "console.employee.remove",
                f"manual employee {row.email} removed",
                resource_type="Employee",
                resource_id=row.id,
            )

        await console.db(run, me.request_id)
        raise Redirect(f"{BASE}/t/{slug}/employees?removed=1")

    async def import_page(request: Request) -> Response:
        me = await signed_in(console, request)
        slug = request.path_params["slug"]
        tenant = await console.db(lambda c: tenant_for(c, me.account, slug))
        status, error, report = 200, None, None
        if request.method == "POST":
            async with request.form(max_part_size=IMPORT_MAX_BYTES) as data:
                check_csrf(me.token, data.get("csrf"))
                upload, pasted = data.get("file"), str(data.get("pasted") or "")
                if isinstance(upload, UploadFile) and upload.filename:
                    raw = await upload.read(IMPORT_MAX_BYTES + 1)
                    name = upload.filename
                else:
                    raw, name = pasted.encode(), "pasted CSV"
            try:
                if len(raw) > IMPORT_MAX_BYTES:
                    raise Conflict(
                        f"the file is over {IMPORT_MAX_BYTES // 1024 // 1024} MB: "
                        "import it with `roster employee import`"
                    )
                try:
                    text = raw.decode("utf-8-sig")
                except UnicodeDecodeError:
                    raise Conflict("the file is not UTF-8 text") from None
                rows = manual_import.read_csv(io.StringIO(text, newline=""))
                if len(rows) > IMPORT_MAX_ROWS:
                    raise Conflict(
                        f"the file has {len(rows)} rows; the console imports up to "
                        f"{IMPORT_MAX_ROWS}: use `roster employee import` for more"
                    )
            except RosterError as err:
                status, error = err.status, err.detail
            else:

                def run() -> list[manual_import.RowResult]:
                    with correlated(me.request_id):
                        results = manual_import.import_file(
                            console.engine, tenant.id, rows, f"console upload {name!r}"
                        )
                        with console.engine.begin() as c:
                            done = sum(1 for r in results if r.employee_id)
                            admins.log_action(
                                c,
                                tenant.id,
                                me.actor,
                                "console.employee.import",
                                f"{name}: {done} of {len(results)} rows imported",
                            )
                        return results

                report = await run_in_threadpool(run)
        return console.render(
            request,
            "employee_import.html",
            status,
            ctx=me,
            csrf=me.csrf,
            title="Import employees",
            tenant=tenant,
            error=error,
            report=report,
            columns=["email", "locations", *MANUAL_FIELDS],
        )

    return [
        Route("/t/{slug}/employees/new", add, methods=["GET", "POST"]),
        Route("/t/{slug}/employees/import", import_page, methods=["GET", "POST"]),
        Route("/t/{slug}/employees/{id}/edit", edit, methods=["GET", "POST"]),
        Route("/t/{slug}/employees/{id}/remove", remove, methods=["GET", "POST"]),
    ]
