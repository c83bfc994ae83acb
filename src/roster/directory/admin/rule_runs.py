"""The whole directory under the rules: dry run, apply, and one employee's explanation.

Apply works in batches of employees (by primary key), each one transaction that writes
the batch's changes and moves the run's cursor past it. A crash loses at most the batch
in flight, which rolled back whole; the next `roster rule apply` resumes after the last
committed batch. Evaluation is idempotent (it settles to what the rules say), and the
onboarding email of a grant is keyed by the grant's activation count, so nothing happens
twice. If the rules changed since the interrupted run, it starts over instead.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine

from roster.directory.admin import role_admin, rulebook
from roster.directory.entitlements import access, evaluations
from roster.directory.journal.clock import write_time
from roster.directory.journal.system_log import note, now
from roster.directory.people.employees import find as find_employee
from roster.errors import Conflict
from roster.rules.engine import Decision
from roster.storage import access as store
from roster.storage import rule_runs as runs
from roster.storage.employees import EmployeeRow
from roster.storage.rule_runs import RunRow

BATCH = 200


@dataclass(frozen=True)
class EmployeeDiff:
    id: str
    email: str
    rule: str | None  # the rule that would fire
    changes: list[access.Change]


@dataclass(frozen=True)
class DryRun:
    evaluated: int
    rules: int
    diffs: list[EmployeeDiff] = field(default_factory=list)

    def count(self, change: str) -> int:
        return sum(1 for d in self.diffs for c in d.changes if c.change == change)


def dry_run(conn: Connection, tenant_id: int, *, batch_size: int = 500) -> DryRun:
    """Who would gain and who would lose which access, role or location if the rules
    were applied now. Writes nothing."""
    cat = access.load(conn, tenant_id, labels=True)
    diffs: list[EmployeeDiff] = []
    evaluated, cursor = 0, 0
    while batch := store.employees_after(conn, tenant_id, cursor, batch_size):
        held = access.read_held(conn, tenant_id, batch, cat)
        at = now()
        for e in batch:
            plan = access.plan_for(e, held, cat, at)
            if plan.changes:
                fired = plan.decision.rule.name if plan.decision.rule else None
                diffs.append(EmployeeDiff(e.id, e.email, fired, plan.changes))
        evaluated += len(batch)
        cursor = batch[-1].pk
    return DryRun(evaluated, len(cat.rules), diffs)


@dataclass(frozen=True)
class RunReport:
    id: str
    resumed: bool
    processed: int  # by this call
    changed: int  # employees whose access changed, by this call
    total_processed: int  # by the whole run, including batches of an interrupted call
    batches: int


def apply(
    engine: Engine,
    tenant_id: int,
    *,
    batch_size: int = BATCH,
    progress: Callable[[RunRow], None] = lambda _run: None,
) -> RunReport:
    """Re-evaluate every employee under the current rules, resuming an interrupted run.

    ``progress`` is called inside each batch's transaction once its writes are done
    (a raise there rolls that batch back: tests use it to crash a run mid-way)."""
    with engine.begin() as conn:
        write_time(conn, tenant_id)  # locks first (the exclusive configuration lock)
        digest = rulebook.digest(store.rules_of(conn, tenant_id))
        run = runs.running(conn, tenant_id)
        resumed = run is not None and run.rules_digest == digest
        if run is not None and not resumed:
            runs.finish(conn, tenant_id, run.pk, "stale", now())
            note(
                conn,
                tenant_id,
                None,
                "rule.apply",
                f"apply {run.id} was interrupted and the rules changed since: starting over",
                actor="rules",
            )
        if run is None or not resumed:
            run = runs.start(conn, tenant_id, str(uuid.uuid4()), digest, now())
        else:
            note(
                conn,
                tenant_id,
                None,
                "rule.apply",
                f"resuming apply {run.id} after "
                f"{run.processed} employees ({run.batches} batches committed)",
                actor="rules",
            )
    processed = changed = 0
    while True:
        with engine.begin() as conn:
            write_time(conn, tenant_id)  # the tenant lock: SCIM writes wait for the batch
            if rulebook.digest(store.rules_of(conn, tenant_id)) != run.rules_digest:
                raise Conflict(
                    "the rules changed while applying: run `roster rule apply` again (it "
                    "starts over with the new rules)"
                )
            state = runs.by_pk(conn, tenant_id, run.pk)
            batch = store.employees_after(conn, tenant_id, state.cursor_pk, batch_size)
            if not batch:
                runs.finish(conn, tenant_id, run.pk, "done", now())
                note(
                    conn,
                    tenant_id,
                    None,
                    "rule.apply",
                    f"apply {run.id} done: {state.processed} employees evaluated in "
                    f"{state.batches} batches, {state.changed} changed",
                    actor="rules",
                )
                return RunReport(
                    run.id, resumed, processed, changed, state.processed, state.batches
                )
            # labels: an idle catalogue still names the grants it revokes in the log.
            cat = access.load(conn, tenant_id, labels=True)
            plans = evaluations.evaluate(
                conn, tenant_id, None, batch, cat, always_note=not cat.rules
            )
            moved = sum(1 for p in plans if p.changes)
            runs.advance(conn, tenant_id, run.pk, batch[-1].pk, len(batch), moved)
            progress(runs.by_pk(conn, tenant_id, run.pk))
        processed += len(batch)
        changed += moved


# ---- one employee ------------------------------------------------------------------------


@dataclass(frozen=True)
class Explanation:
    employee: EmployeeRow
    groups: list[str]
    decision: Decision
    reason: str
    roles: list[role_admin.HeldRole]
    grants: list[tuple[str, str, store.GrantRow]]  # (label, rule name, row)
    pending: list[access.Change]  # what applying the rules now would change

    def lines(self) -> list[str]:
        e = self.employee
        out = [
            f"{e.email} ({e.id}), {e.status}, "
            + (f"groups: {', '.join(self.groups)}" if self.groups else "in no group")
        ]
        if not self.decision.traces:
            out.append(self.reason)
        for n, trace in enumerate(self.decision.traces, start=1):
            rule = trace.rule
            if trace.matched:
                out.append(f"{n}. rule {rule.name!r} (match {rule.match}): FIRED")
            else:
                failed = trace.failed()
                if rule.match == "any":
                    out.append(f"{n}. rule {rule.name!r} (match any): no condition held:")
                    out += [f"     {o.because}" for o in failed]
                else:
                    out.append(
                        f"{n}. rule {rule.name!r} (match all): failed on {failed[0].because}"
                    )
        if self.decision.traces and self.decision.rule is None:
            out.append("no rule matched, so nothing is granted")
        for role in self.roles:
            where = f" at {role.location!r}" if role.location else " (company)"
            if role.source == "manual":
                # A manual role with an origin was synced from that group until its
                # connection was deleted (Envoy: roles "turn into manual roles").
                was = f", formerly synced from group {role.origin!r}" if role.origin else ""
                why = f" (manual{was})"
            else:
                why = f" from {role.source} {role.origin!r}"
            shadow = f"; outranks the synced {role.shadowed}" if role.shadowed else ""
            out.append(f"role: {role.role}{where}{why}{shadow}")
        for label, rule_name, g in self.grants:
            if g.status == "active":
                by = f"rule {rule_name!r}" if rule_name else "a rule since removed"
                out.append(f"granted: {label} (by {by})")
            else:
                out.append(f"revoked: {label}: {g.reason}")
        if self.pending:
            out.append("applying the rules now would change:")
            out += [f"  {c.line()}" for c in self.pending]
        return out


def explain(conn: Connection, tenant_id: int, who: str) -> Explanation:
    employee = find_employee(conn, tenant_id, who)
    cat = access.load(conn, tenant_id, labels=True)
    # Conditions shown with the current names of the groups they are bound to.
    rows = store.rules_of(conn, tenant_id)
    shown = rulebook.rule_groups(conn, tenant_id, rows).names
    cat = dataclasses.replace(cat, rules=tuple(access.to_rule(r, shown) for r in rows))
    held = access.read_held(conn, tenant_id, [employee], cat)
    plan = access.plan_for(employee, held, cat, now())
    names = {r.id: r.name for r in cat.rules}
    grants = [
        (cat.label(g.kind, g.target_pk), names.get(g.rule_id or "", ""), g)
        for g in store.grants_of(conn, tenant_id, [employee.pk])[employee.pk]
    ]
    return Explanation(
        employee,
        [g.name for g in held.groups.get(employee.resource_pk or -1, [])],
        plan.decision,
        plan.reason,
        role_admin.held(conn, tenant_id, employee),
        grants,
        plan.changes,
    )
