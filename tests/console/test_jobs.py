"""Rule apply and CSV import as background jobs: the console action answers at once with
the job's page (a 303 naming the job), the job runs in the server process, its progress
fragment (polled by htmx) shows its state and counts and then the result; another
tenant's job is not found; the actions need their CSRF token; a job left running by a
process that died is shown as failed, not running forever."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from roster.console.jobs import Jobs, Progress
from roster.directory.admin import console_jobs, rulebook
from roster.directory.admin.rulebook import RuleSpec
from roster.directory.journal import system_log
from roster.directory.places import locations
from roster.errors import InvalidValue
from roster.storage.tables import console_jobs as jobs_table
from tests.console.conftest import Admin, Clock, connect, jobs_of

HX = {"HX-Request": "true"}


@pytest.fixture
def jobs(admin: Admin) -> Iterator[Jobs]:
    made = jobs_of(admin.http)
    yield made
    made.resume()  # never leave a job waiting past its test


def _count(engine: Engine, tenant_id: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(jobs_table.c.tenant_id == tenant_id)
            ).scalar_one()
        )


def _directory(admin: Admin, engine: Engine) -> None:
    """Three employees, one in Boston, and a rule granting Boston its doors."""
    scim = connect(engine, admin.http, admin)
    boston = {"addresses": [{"type": "work", "locality": "Boston", "primary": True}]}
    scim.create_user("ann@example.test", **boston)
    scim.create_user("bob@example.test")
    scim.create_user("cy@example.test")
    with engine.begin() as conn:
        locations.add(conn, admin.tenant_id, "Boston HQ", cities=["Boston"])
        rulebook.add_access_group(conn, admin.tenant_id, "Doors", None)
        rulebook.add_rule(
            conn,
            admin.tenant_id,
            RuleSpec("Boston", ('city eq "Boston"',), access_groups=("Doors",)),
        )


def test_apply_answers_at_once_and_the_job_reports_its_progress(
    admin: Admin, engine: Engine, jobs: Jobs, clock: Clock
) -> None:
    _directory(admin, engine)
    rules = f"/admin/t/{admin.slug}/rules"
    jobs.pause()  # the job stays queued: the answer provably comes before the work
    started = admin.post(f"{rules}/apply", page=rules)
    assert started.status_code == 303
    url = started.headers["location"]
    job_id = url.rsplit("/", 1)[1]
    assert re.fullmatch(rf"/admin/t/{admin.slug}/jobs/[0-9a-f-]{{36}}", url)
    with engine.connect() as conn:
        row = console_jobs.get(conn, admin.tenant_id, job_id, clock(), jobs.live())
    assert (row.kind, row.state, row.done, row.total) == ("rule.apply", "queued", 0, 3)
    assert row.actor == f"admin:{admin.email}"

    page = admin.get(url).text  # the whole page: the fragment inside a live region
    assert "<h1>Applying the rules</h1>" in page and 'aria-live="polite"' in page
    assert '<meta http-equiv="refresh"' in page  # without JavaScript, the page reloads
    fragment = admin.get(url, headers=HX).text
    assert "<h1>" not in fragment and "<html" not in fragment
    assert f'hx-get="{url}"' in fragment and 'hx-trigger="every 1s"' in fragment
    assert "State: <strong>queued</strong>" in fragment
    assert '<label for="job-progress">Employees evaluated: <span class="count">0 of 3' in fragment
    assert '<progress id="job-progress" max="3" value="0">' in fragment

    # A second apply while this one waits: the same job, not a second one.
    again = admin.post(f"{rules}/apply", page=rules)
    assert again.headers["location"] == url
    assert _count(engine, admin.tenant_id) == 1

    jobs.resume()
    assert jobs.wait(job_id, 30)
    done = admin.get(url, headers=HX).text
    assert "hx-trigger" not in done  # polling stops
    assert "State: <strong>done</strong>" in done and "3 of 3" in done
    assert '<progress id="job-progress" max="3" value="3">' in done
    assert "<h2>Rules applied</h2>" in done and "<strong>1</strong> changed" in done
    assert '<meta http-equiv="refresh"' not in admin.get(url).text
    with engine.connect() as conn:
        entries = system_log.recent(conn, admin.tenant_id, limit=100)
    applied = [e for e in entries if e.path == "console.rule.apply"]
    assert applied and applied[0].actor == f"admin:{admin.email}"
    # The work's entries share the id of the request that started it.
    notes = [e for e in entries if e.path == "rule.apply" and "done" in (e.detail or "")]
    assert notes and notes[0].request_id == applied[0].request_id


def test_csv_import_runs_as_a_job_with_a_report(admin: Admin, engine: Engine, jobs: Jobs) -> None:
    url = f"/admin/t/{admin.slug}/employees/import"
    body = "email,givenName\na@example.test,Ann\nnot-an-email,X\nb@example.test,Bo\n"
    jobs.pause()
    started = admin.post(url, {"pasted": body}, page=url)
    job_url = started.headers["location"]
    queued = admin.get(job_url, headers=HX).text
    assert 'Rows processed: <span class="count">0 of 3' in queued
    jobs.resume()
    page = admin.job(started)
    assert "<h1>Importing employees</h1>" in page
    assert "pasted CSV: 2 of 3 rows imported, 1 refused." in page
    assert "3 of 3" in page and "refused:</span>" in page


def test_another_tenants_job_is_not_found(
    admin_factory: Callable[[tuple[str, str, int] | None], Admin], engine: Engine
) -> None:
    a, b = admin_factory(None), admin_factory(None)
    rules = f"/admin/t/{b.slug}/rules"
    started = b.post(f"{rules}/apply", page=rules)
    job_id = started.headers["location"].rsplit("/", 1)[1]
    assert jobs_of(b.http).wait(job_id, 30)
    for path in (f"/admin/t/{b.slug}/jobs/{job_id}", f"/admin/t/{a.slug}/jobs/{job_id}"):
        for headers in ({}, HX):
            response = a.get(path, headers=headers)
            assert response.status_code == 404, path
            assert b.tenant not in response.text and "Rules applied" not in response.text
    assert b.get(f"/admin/t/{b.slug}/jobs/{job_id}").status_code == 200


def test_starting_a_job_needs_the_csrf_token(admin: Admin, engine: Engine) -> None:
    t = f"/admin/t/{admin.slug}"
    for path, data in (
        (f"{t}/rules/apply", {}),
        (f"{t}/employees/import", {"pasted": "email\nm@example.test\n"}),
    ):
        for bad in (None, "", "0" * 64):
            sent = data if bad is None else {"csrf": bad, **data}
            response = admin.http.post(path, data=sent, follow_redirects=False)
            assert response.status_code == 403, (path, bad)
            assert "CSRF" in response.text
    assert _count(engine, admin.tenant_id) == 0


def test_a_job_whose_process_died_shows_as_failed(
    admin: Admin, engine: Engine, clock: Clock
) -> None:
    # A job another process started and beat for, then nothing: that process died.
    with engine.begin() as conn:
        job = console_jobs.create(conn, admin.tenant_id, "rule.apply", 40, "admin:x", clock())
        console_jobs.beat(conn, admin.tenant_id, job.pk, 20, clock())
    url = f"/admin/t/{admin.slug}/jobs/{job.id}"
    clock.advance(seconds=30)
    running = admin.get(url, headers=HX).text
    assert "State: <strong>running</strong>" in running and "20 of 40" in running
    clock.advance(seconds=31)  # past console_jobs.STALE without a beat
    failed = admin.get(url, headers=HX).text
    assert "State: <strong>failed</strong>" in failed and "hx-trigger" not in failed
    assert "server process running it stopped" in failed and "resumes" in failed
    with engine.connect() as conn:
        row = console_jobs.get(conn, admin.tenant_id, job.id, clock(), frozenset())
        logged = [
            e
            for e in system_log.recent(conn, admin.tenant_id, limit=50)
            if e.path == "console.job.failed"
        ]
    assert row.state == "failed" and row.finished_at is not None
    # The system log says so once, with the admin who started it as actor.
    assert [(e.actor, e.status) for e in logged] == [("admin:x", 500)]
    assert f"rule.apply job {job.id} failed after 20 of 40" in (logged[0].detail or "")
    # ... and it no longer holds the tenant's apply: a new one starts.
    rules = f"/admin/t/{admin.slug}/rules"
    started = admin.post(f"{rules}/apply", page=rules)
    assert started.headers["location"] != url
    assert "State: <strong>done</strong>" in admin.job(started)


def test_a_job_refused_by_its_action_fails_and_the_log_says_so(
    admin: Admin, engine: Engine, clock: Clock
) -> None:
    with engine.begin() as conn:
        job = console_jobs.create(conn, admin.tenant_id, "employee.import", 3, "admin:y", clock())

    def work(progress: Progress) -> dict[str, Any]:
        progress.advance()
        raise InvalidValue("row 2: the location 'Mars' does not exist")

    runner = Jobs(engine, clock)
    runner.start(admin.tenant_id, job, work, "req-refused")
    assert runner.wait(job.id, 30)
    with engine.connect() as conn:
        row = console_jobs.get(conn, admin.tenant_id, job.id, clock(), frozenset())
        logged = [
            e
            for e in system_log.recent(conn, admin.tenant_id, limit=50)
            if e.path == "console.job.failed"
        ]
    assert (row.state, row.done, row.error) == (
        "failed",
        1,
        "row 2: the location 'Mars' does not exist",
    )
    assert [(e.actor, e.status, e.request_id) for e in logged] == [("admin:y", 400, "req-refused")]
