"""Sequr's provisioning rules: an ordered list, the first matching rule wins.

A rule tests group membership (in any / all / none of given groups) and employee
attributes (equals, not equals, contains, starts with, in list, is present), combined
with *match all* or *match any*. Its actions grant access groups, a role, locations and
whether to issue a mobile key. With no rules, nothing is granted (Sequr: "if no rules are
defined, no users will be provisioned").

Every condition of every rule tried is evaluated and kept in the trace, so `roster
employee explain` can say, for each rule above the one that fired, which condition
failed and what the employee's value was.

Comparisons ignore case and surrounding whitespace: IdPs differ in both ("New York" from
Okta's profile, "new york " from a hand-typed CSV) and an admin means the same city.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from roster.rules.model import Actions, Condition, Rule, fold
from roster.rules.syntax import render


@dataclass(frozen=True)
class Subject:
    """What rules can see of one employee: attribute values by ATTRIBUTES name (and
    ``custom.<field>``), and the names of the groups it is a member of.

    ``bound``: the groups its group conditions are bound to — (rule id, folded condition
    value) -> the current name of the employee's group bound to that value. A condition
    value names a group once, when it is written or when a group of that name arrives;
    from then on it is that group, renamed or not (directory/entitlements/group_bindings.py). None:
    values are compared with the group names (a subject built without bindings)."""

    attributes: Mapping[str, str | None]
    groups: Sequence[str] = ()
    bound: Mapping[tuple[str, str], str] | None = None
    _folded: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_folded", {fold(g): g for g in self.groups})

    def in_group(self, name: str, rule_id: str = "") -> str | None:
        """The name of the employee's group that the condition value ``name`` (of rule
        ``rule_id``) designates, or None when it is in no such group."""
        if self.bound is not None:
            return self.bound.get((rule_id, fold(name)))
        return self._folded.get(fold(name))

    def value(self, name: str) -> str | None:
        raw = self.attributes.get(name)
        return raw if raw is not None and raw.strip() else None


@dataclass(frozen=True)
class Outcome:
    condition: Condition
    passed: bool
    because: str  # what the employee had, in words


@dataclass(frozen=True)
class Trace:
    rule: Rule
    matched: bool
    outcomes: tuple[Outcome, ...]

    def failed(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if not o.passed)


@dataclass(frozen=True)
class Decision:
    rule: Rule | None  # the rule that fired
    traces: tuple[Trace, ...]  # every rule tried, in order, ending with the one that fired

    @property
    def actions(self) -> Actions:
        return self.rule.actions if self.rule is not None else Actions()

    def reason(self) -> str:
        """One line for the system log."""
        if self.rule is not None:
            return f"rule {self.rule.name!r} ({self.rule.id}) matched"
        if not self.traces:
            return "no rules are defined, so nothing is granted"
        misses = "; ".join(f"{t.rule.name!r}: {_miss(t)}" for t in self.traces)
        return f"no rule matched, so nothing is granted ({misses})"


def _miss(trace: Trace) -> str:
    failed = trace.failed()
    if trace.rule.match == "any" and len(failed) > 1:
        return "none of: " + ", ".join(o.because for o in failed)
    return failed[0].because if failed else "no conditions"


def describe(condition: Condition) -> str:
    """The condition as an admin reads it (and types it: see syntax.py)."""
    return render(condition)


def judge(condition: Condition, subject: Subject, rule_id: str = "") -> Outcome:
    c = condition
    if c.field == "groups":
        found = [subject.in_group(g, rule_id) for g in c.values]
        inside = list(dict.fromkeys(g for g in found if g is not None))
        if c.op == "any":
            ok = bool(inside)
        elif c.op == "all":
            ok = all(g is not None for g in found)
        else:
            ok = not inside
        member = f"member of {', '.join(repr(g) for g in inside)}" if inside else "in none"
        return Outcome(c, ok, f"{describe(c)} is {str(ok).lower()}: {member}")
    value = subject.value(c.field)
    if c.op == "present":
        ok = value is not None
    elif value is None:
        ok = c.op == "ne"
    else:
        have = fold(value)
        wants = [fold(v) for v in c.values]
        if c.op == "eq":
            ok = have == wants[0]
        elif c.op == "ne":
            ok = have != wants[0]
        elif c.op == "contains":
            ok = wants[0] in have
        elif c.op == "starts_with":
            ok = have.startswith(wants[0])
        else:
            ok = have in wants
    shown = "not set" if value is None else repr(value)
    return Outcome(c, ok, f"{describe(c)} is {str(ok).lower()}: {c.field} is {shown}")


def evaluate(rules: Sequence[Rule], subject: Subject) -> Decision:
    """The first rule whose conditions match wins. A rule without conditions matches
    everyone (a catch-all to put last)."""
    traces: list[Trace] = []
    for rule in rules:
        outcomes = tuple(judge(c, subject, rule.id) for c in rule.conditions)
        if not outcomes:
            matched = True
        elif rule.match == "all":
            matched = all(o.passed for o in outcomes)
        else:
            matched = any(o.passed for o in outcomes)
        traces.append(Trace(rule, matched, outcomes))
        if matched:
            return Decision(rule, tuple(traces))
    return Decision(None, tuple(traces))
