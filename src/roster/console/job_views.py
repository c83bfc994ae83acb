"""A background job's page (a rule apply, a CSV import): its state and a progress bar,
polled by htmx every second while it runs (a meta refresh without JavaScript), then its
result. ``start`` is how an action page starts one: the job row in the action's tenant,
then the work in a thread of this process (console/jobs.py), and a redirect at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from roster.console.jobs import Work
from roster.console.web import BASE, Console, SignedIn, signed_in, tenant_for, wants_fragment
from roster.directory.admin import console_jobs
from roster.directory.reads.console_reads import TenantRow

TITLES = {"rule.apply": "Applying the rules", "employee.import": "Importing employees"}


async def start(
    console: Console,
    me: SignedIn,
    slug: str,
    kind: str,
    total: Callable[[Connection, TenantRow], int],
    work: Callable[[TenantRow], Work],
    *,
    single: bool = False,
) -> str:
    """Queue a job of ``kind`` in the tenant ``slug`` names and start it; the URL of its
    page. ``single``: while one of this kind runs in the tenant, that one's URL instead
    (a second apply would only wait for the first's locks)."""
    at = console.clock()
    live = console.jobs.live()

    def create(c: Connection) -> tuple[TenantRow, console_jobs.JobRow, bool]:
        tenant = tenant_for(c, me.account, slug)
        if single and (running := console_jobs.running(c, tenant.id, kind, at, live)):
            return tenant, running, False
        job = console_jobs.create(c, tenant.id, kind, total(c, tenant), me.actor, at)
        return tenant, job, True

    tenant, job, new = await console.db(create, me.request_id)
    if new:
        console.jobs.start(tenant.id, job, work(tenant), me.request_id)
    return f"{BASE}/t/{tenant.slug}/jobs/{job.id}"


def routes(console: Console) -> list[Route]:
    async def page(request: Request) -> Response:
        me = await signed_in(console, request)
        slug, job_id = request.path_params["slug"], request.path_params["job"]
        at, live = console.clock(), console.jobs.live()

        def read(c: Connection) -> dict[str, Any]:
            tenant = tenant_for(c, me.account, slug)
            return {"tenant": tenant, "job": console_jobs.get(c, tenant.id, job_id, at, live)}

        data = await console.db(read, me.request_id)
        template = "job_part.html" if wants_fragment(request) else "job.html"
        return console.render(
            request,
            template,
            ctx=me,
            csrf=me.csrf,
            title=TITLES[data["job"].kind],
            **data,
        )

    return [Route("/t/{slug}/jobs/{job}", page)]
