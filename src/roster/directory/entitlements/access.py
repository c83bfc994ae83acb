"""Access: the roles and grants each employee holds, and the one evaluation that settles
them after every create, update and membership change (and for the whole directory on
``roster rule apply``).

- Roles come from groups (a pushed group mapped to a role: Envoy's "Sync admins"; only
  groups with the connection's prefix take part: Envi's ``Envi_``), from the rule that
  fired, or from an admin. rules/roles.py decides what one scope holds.
- The rule that fired (rules/engine.py) grants access groups, locations and a mobile key.
  A grant the employee no longer earns is revoked, not deleted, with the reason (Sequr:
  the user is "deactivated in that location").
- A mobile key granted to someone without one queues the onboarding email in this same
  transaction (directory/entitlements/onboarding.py, an outbox): the grant and its email commit or
  roll back together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from roster.directory.entitlements import onboarding
from roster.directory.journal import events
from roster.directory.journal.system_log import notes
from roster.directory.settings import registry
from roster.rules import roles as role_rules
from roster.rules.engine import Decision, Subject, evaluate
from roster.rules.model import ATTRIBUTES, Actions, Condition, Rule, attribute_name, fold
from roster.storage import access as store
from roster.storage import employees as emp_store
from roster.storage import group_bindings as binding_store
from roster.storage import locations as loc_store
from roster.storage import tenancy as tenancy_store
from roster.storage.access import GrantRow, MappingRow, RoleRow, RuleRow
from roster.storage.employees import EmployeeRow
from roster.storage.group_bindings import GroupOf

COMPANY = 0  # employee_roles.scope_pk of the company role
MOBILE_KEY = "mobile_key"


def to_rule(row: RuleRow, names: Mapping[tuple[int, str], str] | None = None) -> Rule:
    """The engine's rule; ``names``: (rule pk, folded value) -> the current name of the
    group a groups condition value is bound to, to show
    (directory/entitlements/group_bindings.py)."""
    conditions = tuple(_condition(row.pk, c, names) for c in row.conditions)
    a = row.actions
    actions = Actions(
        tuple(a.get("access_groups") or ()),
        a.get("role"),
        tuple(a.get("locations") or ()),
        bool(a.get("mobile_key")),
    )
    return Rule(row.id, row.name, "any" if row.match == "any" else "all", conditions, actions)


def _condition(
    rule_pk: int, c: dict[str, Any], names: Mapping[tuple[int, str], str] | None
) -> Condition:
    values = tuple(c.get("values") or ())
    if names is None or c["field"] != "groups":
        # attribute_name: rules stored before the read API's names (postal_code) read alike.
        return Condition(attribute_name(c["field"]), c["op"], values)
    shown = tuple(names.get((rule_pk, fold(v)), v) for v in values)
    return Condition(c["field"], c["op"], values, shown)


def group_values(row: RuleRow) -> list[str]:
    """The group names a rule's groups conditions name, as written (each once)."""
    values = [v for c in row.conditions if c["field"] == "groups" for v in c.get("values") or ()]
    return list({fold(v): v for v in values}.values())


@dataclass(frozen=True)
class Catalogue:
    """What evaluation needs of the tenant, read once per request or batch."""

    rules: tuple[Rule, ...]
    mappings: dict[int, list[MappingRow]]  # connection id -> its group-role mappings
    prefixes: dict[int, str]  # connection id -> group role prefix ("" : every group)
    location_pks: dict[str, int] = field(default_factory=dict)  # location id -> pk
    location_names: dict[int, str] = field(default_factory=dict)
    access_pks: dict[str, int] = field(default_factory=dict)  # access group id -> pk
    access_names: dict[int, str] = field(default_factory=dict)
    rule_ids: dict[int, str] = field(default_factory=dict)  # rule pk -> id
    # Folded group name -> the rules' condition values (rule pk, folded value) naming it:
    # a group arriving under that name binds them (directory/entitlements/group_bindings.py).
    group_values: dict[str, tuple[tuple[int, str], ...]] = field(default_factory=dict)

    @property
    def idle(self) -> bool:
        """No rules and no mappings: evaluation can only say that nothing is granted."""
        return not self.rules and not any(self.mappings.values())

    @property
    def uses_groups(self) -> bool:
        return any(self.mappings.values()) or any(
            c.field == "groups" for r in self.rules for c in r.conditions
        )

    def label(self, kind: str, target_pk: int) -> str:
        if kind == "access_group":
            return f"access group {self.access_names.get(target_pk, '?')!r}"
        if kind == "location":
            return f"location {self.location_names.get(target_pk, '?')!r}"
        return "the mobile key"

    def scope_label(self, scope_pk: int) -> str:
        if scope_pk == COMPANY:
            return "the company"
        return repr(self.location_names.get(scope_pk, "?"))


def load(
    conn: Connection,
    tenant_id: int,
    *,
    connection_id: int | None = None,
    prefix: str | None = None,
    labels: bool = False,
) -> Catalogue:
    """The tenant's rules and the mappings of one connection (with its prefix as the
    request already knows it), or of every connection (``connection_id=None``).
    ``labels``: the names of locations and access groups even without rules (to name
    grants that outlived them)."""
    rows = store.rules_of(conn, tenant_id)
    rules = tuple(to_rule(r) for r in rows)
    rule_ids = {r.pk: r.id for r in rows}
    named: dict[str, list[tuple[int, str]]] = {}
    for r in rows:
        for value in group_values(r):
            named.setdefault(fold(value), []).append((r.pk, fold(value)))
    values = {k: tuple(v) for k, v in named.items()}
    mappings: dict[int, list[MappingRow]] = {}
    for m in store.mappings_of(conn, tenant_id, connection_id):
        mappings.setdefault(m.connection_id, []).append(m)
    prefixes: dict[int, str] = {}
    if connection_id is not None and prefix is not None:
        prefixes[connection_id] = prefix
    elif mappings:
        for row in tenancy_store.connections_of(conn, tenant_id):
            prefixes[row.id] = registry.of(row).group_role_prefix
    catalogue = Catalogue(rules, mappings, prefixes, rule_ids=rule_ids, group_values=values)
    if catalogue.idle and not labels:
        return catalogue
    locs = loc_store.all_of(conn, tenant_id)
    groups = store.access_groups_of(conn, tenant_id)
    return Catalogue(
        rules,
        mappings,
        prefixes,
        {loc.id: loc.pk for loc in locs},
        {loc.pk: loc.name for loc in locs},
        {g.id: g.pk for g in groups},
        {g.pk: g.name for g in groups},
        rule_ids,
        values,
    )


def subject_of(employee: EmployeeRow, groups: Sequence[GroupOf], cat: Catalogue) -> Subject:
    """What the rules see of the employee: its attributes and groups, with the groups
    conditions bound to them (by the group, not its name: a rename changes nothing)."""
    bound = {
        (cat.rule_ids[rule_pk], value): g.name
        for g in groups
        for rule_pk, value in g.rule_values
        if rule_pk in cat.rule_ids
    }
    attributes: dict[str, str | None] = {}
    for name in ATTRIBUTES:
        raw = employee.email if name == "email" else employee.fields.get(name)
        attributes[name] = None if raw is None else str(raw)
    for name, raw in (employee.fields.get("custom") or {}).items():
        attributes[f"custom.{name}"] = None if raw is None else str(raw)
    return Subject(attributes, tuple(g.name for g in groups), bound)


# ---- the plan for one employee ---------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One difference evaluation makes, as a dry run reports it."""

    kind: str  # role | access_group | location | mobile_key
    what: str  # "Location admin at 'HQ'", "access group 'Doors'", "the mobile key"
    change: str  # gain | lose | change
    detail: str

    def line(self) -> str:
        sign = {"gain": "+", "lose": "-"}.get(self.change, "~")
        return f"{sign} {self.what}: {self.detail}"


@dataclass
class Plan:
    employee: EmployeeRow
    decision: Decision
    reason: str
    previous_rule: str | None
    evaluated_before: bool
    changes: list[Change] = field(default_factory=list)
    role_writes: list[tuple[int, RoleRow | None, bool]] = field(default_factory=list)
    grant_writes: list[tuple[int | None, dict[str, Any]]] = field(default_factory=list)
    mobile_key_activation: int | None = None
    mobile_key_revoked: bool = False

    @property
    def rule_changed(self) -> bool:
        fired = self.decision.rule.id if self.decision.rule else None
        return not self.evaluated_before or fired != self.previous_rule


def _claims(
    employee: EmployeeRow, groups: Sequence[GroupOf], decision: Decision, cat: Catalogue
) -> dict[int, list[role_rules.Claim]]:
    out: dict[int, list[role_rules.Claim]] = {}

    def claim(role: str, location_ids: Iterable[str], c: role_rules.Claim) -> None:
        if role_rules.scope_of(role) == "company":
            out.setdefault(COMPANY, []).append(c)
            return
        for loc_id in location_ids:
            pk = cat.location_pks.get(loc_id)
            if pk is not None:
                out.setdefault(pk, []).append(c)

    if employee.connection_id is not None:
        prefix = cat.prefixes.get(employee.connection_id, "").casefold()
        # A mapping grants through the group it is bound to, whatever its name now; the
        # prefix (Envi's) is a property of the name, so it is checked on the name now.
        bound = {mapping_pk: g for g in groups for mapping_pk in g.mappings}
        for m in cat.mappings.get(employee.connection_id, []):
            g = bound.get(m.pk)
            if g is not None and g.name.casefold().startswith(prefix):
                claim(m.role, m.locations, role_rules.Claim(m.role, "group", g.name, g.pk))
    rule = decision.rule
    if rule is not None and rule.actions.role:
        role = rule.actions.role
        claim(role, rule.actions.locations, role_rules.Claim(role, "rule", rule.name))
    return out


def _role_label(role: str, scope: str) -> str:
    return role if scope == "the company" else f"{role} at {scope}"


def _plan_roles(
    plan: Plan,
    held: list[RoleRow],
    claims: dict[int, list[role_rules.Claim]],
    cat: Catalogue,
    at: datetime,
) -> None:
    by_scope = {r.scope_pk: r for r in held}
    for scope_pk in sorted(set(by_scope) | set(claims)):
        row = by_scope.get(scope_pk)
        current = (
            role_rules.Held(row.role, row.source, row.origin, row.shadowed, row.group_pk)  # type: ignore[arg-type]
            if row
            else None
        )
        settled = role_rules.settle(current, role_rules.strongest(claims.get(scope_pk, [])))
        new = settled.held
        if new == current:
            continue
        scope = cat.scope_label(scope_pk)
        if new is None:
            plan.role_writes.append((scope_pk, None, True))
        else:
            plan.role_writes.append(
                (
                    scope_pk,
                    RoleRow(
                        plan.employee.pk,
                        scope_pk,
                        None if scope_pk == COMPANY else scope_pk,
                        new.role,
                        new.source,
                        new.origin,
                        plan.employee.connection_id if new.source == "group" else None,
                        new.shadowed,
                        at,
                        new.ref if new.source == "group" else None,
                    ),
                    row is not None,
                )
            )
        detail = settled.event or "unchanged"
        if current is None and new is not None:
            plan.changes.append(Change("role", _role_label(new.role, scope), "gain", detail))
        elif new is None and current is not None:
            plan.changes.append(Change("role", _role_label(current.role, scope), "lose", detail))
        elif current is not None and new is not None and current.role != new.role:
            what = f"{_role_label(current.role, scope)} -> {new.role}"
            plan.changes.append(Change("role", what, "change", detail))
        elif settled.event and new is not None:
            plan.changes.append(Change("role", _role_label(new.role, scope), "keep", detail))


def _desired(employee: EmployeeRow, actions: Actions, cat: Catalogue) -> set[tuple[str, int]]:
    if employee.status != "active":
        return set()
    wanted = {
        ("access_group", cat.access_pks[a]) for a in actions.access_groups if a in cat.access_pks
    }
    wanted |= {
        ("location", cat.location_pks[i]) for i in actions.locations if i in cat.location_pks
    }
    if actions.mobile_key:
        wanted.add((MOBILE_KEY, 0))
    return wanted


def _revocation(grant: GrantRow, decision: Decision, reason: str) -> str:
    """Why a grant goes: the condition of its rule that no longer holds, when there is
    one to name (Sequr: "deactivated in that location", with the reason)."""
    for trace in decision.traces:
        if trace.rule.id == grant.rule_id and not trace.matched:
            failed = trace.failed()
            why = failed[0].because if failed else "no conditions"
            return f"no longer matches rule {trace.rule.name!r} ({why})"
    if decision.rule is not None and decision.rule.id == grant.rule_id:
        return f"rule {decision.rule.name!r} no longer grants it"
    if decision.rule is not None:
        return f"now matched by rule {decision.rule.name!r}, which does not grant it"
    return reason


def _plan_grants(plan: Plan, grants: list[GrantRow], cat: Catalogue, at: datetime) -> None:
    decision = plan.decision
    rule_id = decision.rule.id if decision.rule else None
    rule_name = decision.rule.name if decision.rule else ""
    wanted = _desired(plan.employee, decision.actions, cat)
    have = {(g.kind, g.target_pk): g for g in grants}
    for key in sorted(wanted | {k for k, g in have.items() if g.status == "active"}):
        kind, target = key
        grant = have.get(key)
        what = cat.label(kind, target)
        if key in wanted:
            if grant is None or grant.status != "active":
                activations = (grant.activations if grant else 0) + 1
                values = {
                    "status": "active",
                    "rule_id": rule_id,
                    "activations": activations,
                    "granted_at": at,
                    "revoked_at": None,
                    "reason": None,
                }
                if grant is None:
                    values.update(employee_pk=plan.employee.pk, kind=kind, target_pk=target)
                plan.grant_writes.append((grant.pk if grant else None, values))
                again = " again" if grant else ""
                plan.changes.append(
                    Change(kind, what, "gain", f"granted{again} by rule {rule_name!r}")
                )
                if kind == MOBILE_KEY:
                    plan.mobile_key_activation = activations
            elif grant.rule_id != rule_id:
                plan.grant_writes.append((grant.pk, {"rule_id": rule_id}))
        elif grant is not None:
            why = (
                plan.reason
                if plan.employee.status != "active"
                else _revocation(grant, decision, plan.reason)
            )
            plan.grant_writes.append(
                (grant.pk, {"status": "revoked", "revoked_at": at, "reason": why})
            )
            if kind == MOBILE_KEY:
                plan.mobile_key_revoked = True
            plan.changes.append(Change(kind, what, "lose", f"revoked: {why}"))


@dataclass(frozen=True)
class Held:
    """What an employee holds now, read once for a batch."""

    groups: dict[int, list[GroupOf]]  # resource pk -> its groups, with their bindings
    roles: dict[int, list[RoleRow]]
    grants: dict[int, list[GrantRow]]
    decisions: dict[int, str | None]


def read_held(
    conn: Connection,
    tenant_id: int,
    employees: Sequence[EmployeeRow],
    cat: Catalogue,
    *,
    fresh: bool = False,
) -> Held:
    """``fresh``: brand-new employees hold nothing yet and are in no group; skip reads."""
    pks = [e.pk for e in employees]
    synced = [e.resource_pk for e in employees if e.resource_pk is not None]
    if fresh:
        return Held({}, {}, {}, {})
    groups = binding_store.groups_of_members(conn, tenant_id, synced) if synced else {}
    return Held(
        groups,
        store.roles_of(conn, tenant_id, pks),
        # Read even without rules: grants of a removed last rule are revoked (no rules,
        # nothing granted), not kept forever.
        store.grants_of(conn, tenant_id, pks),
        store.decisions_of(conn, tenant_id, pks),
    )


def plan_for(employee: EmployeeRow, held: Held, cat: Catalogue, at: datetime) -> Plan:
    groups = held.groups.get(employee.resource_pk or -1, [])
    if employee.status != "active":
        decision = Decision(None, ())
        reason = "the employee is inactive, so nothing is granted"
    else:
        decision = evaluate(cat.rules, subject_of(employee, groups, cat))
        reason = decision.reason()
    plan = Plan(
        employee,
        decision,
        reason,
        held.decisions.get(employee.pk),
        employee.pk in held.decisions,
    )
    claims = _claims(employee, groups, decision, cat) if employee.status == "active" else {}
    _plan_roles(plan, held.roles.get(employee.pk, []), claims, cat, at)
    _plan_grants(plan, held.grants.get(employee.pk, []), cat, at)
    return plan


# ---- writing plans ---------------------------------------------------------------------------


def write(
    conn: Connection,
    tenant_id: int,
    connection_uid: str | None,
    plans: Sequence[Plan],
    at: datetime,
    *,
    always_note: bool = False,
    cause: str | None = None,
) -> None:
    """Write what the plans change, with one system-log note per employee whose access
    or deciding rule changed (``always_note``: every employee, e.g. on create, so the log
    says why a new user got nothing; ``cause``: what an admin did, leading each note)."""
    touched: list[int] = []
    items: list[tuple[str, str, str]] = []
    for plan in plans:
        e = plan.employee
        fired = plan.decision.rule.id if plan.decision.rule else None
        if plan.rule_changed:
            store.put_decision(conn, tenant_id, e.pk, fired, at, exists=plan.evaluated_before)
        for scope_pk, row, exists in plan.role_writes:
            if row is None:
                store.delete_role(conn, tenant_id, e.pk, scope_pk)
            else:
                store.put_role(conn, tenant_id, row, exists=exists)
        for grant_pk, values in plan.grant_writes:
            if grant_pk is None:
                store.insert_grant(conn, tenant_id, values)
            else:
                store.update_grant(conn, tenant_id, grant_pk, values)
        if plan.mobile_key_revoked:
            onboarding.withdraw(conn, tenant_id, e, at)
        if plan.mobile_key_activation is not None and plan.decision.rule is not None:
            onboarding.queue(
                conn,
                tenant_id,
                e,
                plan.mobile_key_activation,
                rule_name=plan.decision.rule.name,
                at=at,
            )
        rule = plan.decision.rule
        events.access_changed(
            conn,
            tenant_id,
            connection_uid,
            e,
            (rule.id, rule.name) if rule else None,
            [(c.kind, c.what, c.change, c.detail) for c in plan.changes],
        )
        if plan.changes or plan.role_writes or plan.grant_writes:
            # Also a write no change line names (a shadowed role cleared, a grant now
            # credited to another rule): the read API shows both.
            touched.append(e.pk)
        if plan.changes or plan.rule_changed or always_note:
            said = "; ".join(c.line() for c in plan.changes) or "nothing changes"
            why = f"{cause}: " if cause else ""
            items.append(("access.evaluate", f"{why}{e.email}: {plan.reason}; {said}", e.id))
    emp_store.touch(conn, tenant_id, touched, at)
    if items:
        notes(conn, tenant_id, connection_uid, items, actor="rules")
