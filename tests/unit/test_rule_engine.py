"""Sequr's rule engine, pure: every condition operator (missing values included), case and
whitespace folding, group tests, match all / any, first match wins, traces, refusals, and
the condition text admins type."""

from __future__ import annotations

from typing import Any

import pytest

from roster.errors import InvalidValue
from roster.rules import syntax
from roster.rules.engine import Subject, evaluate, judge
from roster.rules.model import Actions, Condition, Match, Rule


def _subject(groups: tuple[str, ...] = (), **attributes: str | None) -> Subject:
    return Subject(dict(attributes), groups)


def _rule(rule_id: str, *conditions: str, match: Match = "all", role: str | None = None) -> Rule:
    parsed = tuple(syntax.parse(c) for c in conditions)
    return Rule(rule_id, rule_id.title(), match, parsed, Actions(role=role))


# ---- attribute operators -----------------------------------------------------------------

NY = {"city": "New York"}


@pytest.mark.parametrize(
    ("condition", "attributes", "passed"),
    [
        ('city eq "New York"', NY, True),
        ('city eq "new york"', NY, True),  # case folds
        ('city eq "  New   York "', NY, True),  # whitespace folds, inside too
        ("city eq Boston", NY, False),
        ('city eq "New York"', {"city": "NEW  YORK\t"}, True),
        ("city eq Boston", {}, False),  # missing
        ("city eq Boston", {"city": None}, False),
        ("city eq Boston", {"city": "   "}, False),  # blank is missing
        ("city ne Boston", NY, True),
        ('city ne "new york"', NY, False),
        ("city ne Boston", {}, True),  # a missing value is not Boston
        ("city ne Boston", {"city": ""}, True),
        ("department contains eng", {"department": "Platform Engineering"}, True),
        ("department contains sales", {"department": "Platform Engineering"}, False),
        ("department contains eng", {}, False),
        ("title starts_with senior", {"title": "Senior Engineer"}, True),
        ("title starts_with engineer", {"title": "Senior Engineer"}, False),
        ("title starts_with senior", {}, False),
        ("state in CA NY WA", {"state": "ny"}, True),
        ("state in CA NY WA", {"state": "TX"}, False),
        ("state in CA NY WA", {}, False),
        ("postalCode present", {"postalCode": "10001"}, True),
        ("postalCode present", {"postalCode": "  "}, False),
        ("postal_code present", {"postalCode": "10001"}, True),  # the older name
        ("postal_code present", {}, False),
        ("userType eq Contractor", {"userType": "contractor"}, True),
        ("employee_type eq Contractor", {"userType": "contractor"}, True),
        ("costCenter eq CC-1", {"costCenter": "cc-1"}, True),
        ("givenName sw An", {"givenName": "Ann"}, True),
        ("locale eq en_US", {"locale": "EN_us"}, True),
        ("custom.badge eq Blue", {"custom.badge": "blue"}, True),
        ("custom.badge present", {"custom.other": "x"}, False),
    ],
)
def test_attribute_operators(condition: str, attributes: dict[str, Any], passed: bool) -> None:
    outcome = judge(syntax.parse(condition), Subject(attributes))
    assert outcome.passed is passed
    assert outcome.because.endswith(
        f"is {str(passed).lower()}: {outcome.condition.field} is "
        + (
            "not set"
            if not (attributes.get(outcome.condition.field) or "").strip()
            else repr(attributes[outcome.condition.field])
        )
    )


# ---- group operators ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "groups", "passed"),
    [
        ("groups any Eng Ops", ("Eng",), True),
        ("groups any Eng Ops", ("ops",), True),  # case folds
        ("groups any Eng Ops", ("Sales",), False),
        ("groups any Eng Ops", (), False),
        ("groups all Eng Ops", ("Eng", "Ops", "Sales"), True),
        ("groups all Eng Ops", ("Eng",), False),
        ("groups all Eng Ops", (), False),
        ("groups none Contractors", ("Eng",), True),
        ("groups none Contractors", (), True),
        ("groups none Contractors Interns", ("interns",), False),
        ('groups any "Envi Admins"', ("envi   admins",), True),  # whitespace folds
    ],
)
def test_group_operators(condition: str, groups: tuple[str, ...], passed: bool) -> None:
    assert judge(syntax.parse(condition), _subject(groups)).passed is passed


def test_group_outcome_names_the_groups_the_employee_is_in() -> None:
    inside = judge(syntax.parse("groups none Contractors Interns"), _subject(("Interns", "Eng")))
    assert inside.because == "groups none Contractors Interns is false: member of 'Interns'"
    outside = judge(syntax.parse("groups any Eng"), _subject(("Sales",)))
    assert outside.because == "groups any Eng is false: in none"


# ---- match all / any, catch-all, order -----------------------------------------------------


@pytest.mark.parametrize(
    ("match", "attributes", "fires"),
    [
        ("all", {"city": "Boston", "department": "Eng"}, True),
        ("all", {"city": "Boston", "department": "Sales"}, False),
        ("all", {"city": "Paris", "department": "Eng"}, False),
        ("all", {}, False),
        ("any", {"city": "Boston", "department": "Eng"}, True),
        ("any", {"city": "Boston", "department": "Sales"}, True),
        ("any", {"city": "Paris", "department": "Eng"}, True),
        ("any", {"city": "Paris", "department": "Sales"}, False),
        ("any", {}, False),
    ],
)
def test_match_all_versus_any(match: Match, attributes: dict[str, str], fires: bool) -> None:
    rule = _rule("r", "city eq Boston", "department eq Eng", match=match)
    decision = evaluate([rule], Subject(attributes))
    assert (decision.rule is rule) is fires
    assert len(decision.traces[0].outcomes) == 2  # both conditions are tested and kept


@pytest.mark.parametrize("match", ["all", "any"])
def test_a_rule_without_conditions_matches_everyone(match: Match) -> None:
    catch_all = _rule("everyone", match=match)
    assert evaluate([catch_all], _subject()).rule is catch_all
    assert evaluate([catch_all], _subject(("Eng",), city="Paris")).rule is catch_all


def test_first_match_wins_and_reordering_changes_the_winner() -> None:
    eng = _rule("eng", "groups any Eng", role="Front desk admin")
    boston = _rule("boston", "city eq Boston", role="Deliveries")
    catch_all = _rule("everyone")
    person = _subject(("Eng",), city="Boston")
    first = evaluate([eng, boston, catch_all], person)
    assert first.rule is eng
    assert first.actions.role == "Front desk admin"
    assert [t.rule.id for t in first.traces] == ["eng"]  # evaluation stops at the winner
    second = evaluate([boston, eng, catch_all], person)
    assert second.rule is boston
    assert second.actions.role == "Deliveries"
    # Neither matches a Parisian outside Eng: the catch-all does, after two traced misses.
    third = evaluate([eng, boston, catch_all], _subject(("Sales",), city="Paris"))
    assert third.rule is catch_all
    assert [(t.rule.id, t.matched) for t in third.traces] == [
        ("eng", False),
        ("boston", False),
        ("everyone", True),
    ]


def test_no_rules_grants_nothing_and_says_why() -> None:
    decision = evaluate([], _subject(city="Boston"))
    assert decision.rule is None
    assert decision.traces == ()
    assert decision.actions == Actions()
    assert decision.reason() == "no rules are defined, so nothing is granted"


def test_no_rule_matched_names_each_rules_failed_condition() -> None:
    rules = [
        _rule("boston", "city eq Boston", "department eq Eng"),
        _rule("eng-or-ops", "groups any Eng", "groups any Ops", match="any"),
    ]
    decision = evaluate(rules, _subject(("Sales",), city="Paris", department="Eng"))
    assert decision.rule is None
    assert decision.actions == Actions()
    assert decision.reason() == (
        "no rule matched, so nothing is granted ("
        "'Boston': city eq Boston is false: city is 'Paris'; "
        "'Eng-Or-Ops': none of: groups any Eng is false: in none, "
        "groups any Ops is false: in none)"
    )


def test_trace_keeps_the_failing_condition_and_the_employees_value() -> None:
    rule = _rule("sf", 'city eq "San Francisco"', "title starts_with Senior")
    decision = evaluate([rule], _subject(city="Oakland", title="Senior Engineer"))
    [trace] = decision.traces
    assert trace.matched is False
    [failed] = trace.failed()
    assert failed.condition == Condition("city", "eq", ("San Francisco",))
    assert failed.because == "city eq \"San Francisco\" is false: city is 'Oakland'"
    assert [o.passed for o in trace.outcomes] == [False, True]


def test_the_fired_rule_is_the_last_trace_and_named_in_the_reason() -> None:
    rule = _rule("r-1", "city present")
    decision = evaluate([rule], _subject(city="Oslo"))
    assert decision.traces[-1].rule is rule
    assert decision.traces[-1].matched
    assert decision.reason() == "rule 'R-1' (r-1) matched"


# ---- Condition.check -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "canonical"),
    [
        (Condition(" City ", " EQ ", (" Boston ",)), Condition("city", "eq", ("Boston",))),
        (Condition("GROUPS", "Any", ("Eng",)), Condition("groups", "any", ("Eng",))),
        (Condition("Custom.Badge", "ne", ("x",)), Condition("custom.Badge", "ne", ("x",))),
        (Condition("postal_code", "present"), Condition("postalCode", "present", ())),
        (Condition("PostalCode", "present"), Condition("postalCode", "present", ())),
        (Condition("employee_type", "eq", ("x",)), Condition("userType", "eq", ("x",))),
        (Condition("FAMILY_NAME", "eq", ("x",)), Condition("familyName", "eq", ("x",))),
        (Condition("state", "in", ("CA", "NY")), Condition("state", "in", ("CA", "NY"))),
    ],
)
def test_check_canonicalises(condition: Condition, canonical: Condition) -> None:
    assert condition.check() == canonical


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (Condition("shoe_size", "eq", ("42",)), "unknown attribute 'shoe_size'"),
        (Condition("city", "like", ("x",)), "'like' is not one of eq, ne, contains"),
        (Condition("groups", "eq", ("Eng",)), "'eq' is not one of any, all, none"),
        (Condition("groups", "any", ()), "name at least one group"),
        (Condition("city", "eq", ("",)), "values must not be empty"),
        (Condition("city", "eq", ("  ",)), "values must not be empty"),
        (Condition("city", "eq", ()), "takes exactly one value, got 0"),
        (Condition("city", "eq", ("a", "b")), "takes exactly one value, got 2"),
        (Condition("city", "present", ("x",)), "present takes no value"),
        (Condition("state", "in", ()), "give at least one value"),
        (Condition("custom.", "eq", ("x",)), "name the custom field"),
    ],
)
def test_check_refuses(condition: Condition, message: str) -> None:
    with pytest.raises(InvalidValue, match=message.replace("(", r"\(")):
        condition.check()


# ---- condition text ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "condition"),
    [
        ('city eq "New York"', Condition("city", "eq", ("New York",))),
        ("city EQ Boston", Condition("city", "eq", ("Boston",))),
        ("department co Eng", Condition("department", "contains", ("Eng",))),
        ("title sw Senior", Condition("title", "starts_with", ("Senior",))),
        ("title startswith Senior", Condition("title", "starts_with", ("Senior",))),
        ("postal_code pr", Condition("postalCode", "present", ())),
        ("postalCode pr", Condition("postalCode", "present", ())),
        ("employeeNumber eq 42", Condition("employeeNumber", "eq", ("42",))),
        ("state in CA NY WA", Condition("state", "in", ("CA", "NY", "WA"))),
        ("groups any Eng Ops", Condition("groups", "any", ("Eng", "Ops"))),
        ("groups all 'Envi_Admins'", Condition("groups", "all", ("Envi_Admins",))),
        ("custom.badge ne none", Condition("custom.badge", "ne", ("none",))),
        ('email eq "a@corp.test"', Condition("email", "eq", ("a@corp.test",))),
    ],
)
def test_parse(text: str, condition: Condition) -> None:
    assert syntax.parse(text) == condition


@pytest.mark.parametrize(
    "condition",
    [
        Condition("city", "eq", ("New York",)),
        Condition("city", "eq", ("Zürich",)),
        Condition("title", "contains", ('say "hi"',)),
        Condition("title", "contains", ("back\\slash",)),
        Condition("title", "contains", ("O'Brien",)),
        Condition("title", "eq", ("$HOME",)),
        Condition("state", "in", ("CA", "New Mexico")),
        Condition("postalCode", "present", ()),
        Condition("groups", "none", ("Envi_Admins", "Contractors & Temps")),
        Condition("custom.badge", "starts_with", ("#1",)),
    ],
)
def test_render_then_parse_round_trips(condition: Condition) -> None:
    assert syntax.parse(syntax.render(condition)) == condition


def test_render_shows_the_read_api_names_for_the_older_ones() -> None:
    # Rules stored before the one vocabulary keep their snake_case field; shown camelCase.
    assert syntax.render(Condition("postal_code", "present")) == "postalCode present"
    assert syntax.render(Condition("cost_center", "eq", ("X",))) == "costCenter eq X"


def test_render_quotes_only_what_needs_it() -> None:
    assert syntax.render(Condition("city", "eq", ("Boston",))) == "city eq Boston"
    assert syntax.render(Condition("city", "eq", ("New York",))) == 'city eq "New York"'
    assert syntax.render(Condition("email", "eq", ("a@b.test",))) == "email eq a@b.test"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "write FIELD OP"),
        ("city", "write FIELD OP"),
        ('city eq "New York', r"condition 'city eq \"New York': unbalanced quote \("),
        ("title eq O'Brien", "unbalanced quote"),
        ("city eq York\\", "lone backslash"),
        ("city eq", "takes exactly one value, got 0"),
        ("city between 1 2", "'between' is not one of"),
        ("groups contains Eng", "is not one of any, all, none"),
        ("nickname eq Bob", "unknown attribute 'nickname'"),
    ],
)
def test_parse_refuses(text: str, message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        syntax.parse(text)
