"""Envoy's admin roles, pure: parsing, ranking within a scope, the strongest claim, and how a
synced claim settles against the role an employee holds (the Admin Provisioning FAQ)."""

from __future__ import annotations

import pytest

from roster.errors import InvalidValue
from roster.rules import roles
from roster.rules.roles import Claim, Held, Settlement, settle, strongest

LA, FDA, DEL, SEC = roles.LOCATION_ROLES
GLOBAL, BILLING = roles.COMPANY_ROLES


# ---- parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "role"),
    [
        ("Location admin", LA),
        ("location admin", LA),
        ("LOCATION ADMIN", LA),
        ("location_admin", LA),
        ("Front Desk Admin", FDA),
        ("front_desk_admin", FDA),
        ("front-desk-admin", FDA),
        ("  frontdeskadmin  ", FDA),
        ("deliveries", DEL),
        ("Security admin", SEC),
        ("security_ADMIN", SEC),
        ("global admin", GLOBAL),
        ("Billing_Admin", BILLING),
    ],
)
def test_parse_accepts_any_case_and_separator(text: str, role: str) -> None:
    assert roles.parse(text) == role


@pytest.mark.parametrize("text", ["", "admin", "Front desk", "Location admins", "Owner"])
def test_parse_refuses_what_is_not_a_role_and_lists_the_roles(text: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        roles.parse(text)
    message = str(refused.value)
    assert repr(text) in message
    assert "Location admin, Front desk admin, Deliveries, Security admin" in message
    assert "Global admin, Billing admin" in message


# ---- scope and rank ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        (LA, "location"),
        (FDA, "location"),
        (DEL, "location"),
        (SEC, "location"),
        (GLOBAL, "company"),
        (BILLING, "company"),
    ],
)
def test_scope_of_each_role(role: str, scope: str) -> None:
    assert roles.scope_of(role) == scope


def test_location_roles_rank_in_the_faq_order_highest_first() -> None:
    ranks = [roles.rank(r) for r in (LA, FDA, DEL, SEC)]
    assert ranks == sorted(ranks, reverse=True)
    assert len(set(ranks)) == 4


def test_company_roles_rank_global_above_billing() -> None:
    assert roles.rank(GLOBAL) > roles.rank(BILLING)


# ---- the strongest claim -----------------------------------------------------------------


def _g(role: str, origin: str) -> Claim:
    return Claim(role, "group", origin)


def _r(role: str, origin: str) -> Claim:
    return Claim(role, "rule", origin)


@pytest.mark.parametrize(
    ("claims", "winner"),
    [
        ([], None),
        ([_g(FDA, "Envi_FD")], _g(FDA, "Envi_FD")),
        # Envoy: "Front Desk Admin and Location Admin ... will be assigned Location Admin".
        ([_g(FDA, "Envi_FD"), _g(LA, "Envi_LA")], _g(LA, "Envi_LA")),
        ([_g(LA, "Envi_LA"), _g(FDA, "Envi_FD")], _g(LA, "Envi_LA")),
        ([_g(SEC, "s"), _g(DEL, "d"), _g(FDA, "f")], _g(FDA, "f")),
        ([_r(LA, "rule-1"), _g(FDA, "Envi_FD")], _r(LA, "rule-1")),  # rank before source
        ([_g(BILLING, "b"), _g(GLOBAL, "g")], _g(GLOBAL, "g")),
        # Ties: a group claim before a rule claim, then the smaller origin.
        ([_r(FDA, "a-rule"), _g(FDA, "z-group")], _g(FDA, "z-group")),
        ([_g(FDA, "Envi_B"), _g(FDA, "Envi_A")], _g(FDA, "Envi_A")),
        ([_r(DEL, "r2"), _r(DEL, "r1")], _r(DEL, "r1")),
    ],
)
def test_strongest(claims: list[Claim], winner: Claim | None) -> None:
    assert strongest(claims) == winner
    assert strongest(reversed(claims)) == winner  # never depends on the order read


# ---- settle: every held source against every claim ---------------------------------------

MANUAL_FDA = Held(FDA, "manual")
SYNCED_FDA = Held(FDA, "group", "Envi_FD")
RULE_FDA = Held(FDA, "rule", "rule-1")


@pytest.mark.parametrize(
    ("current", "claim", "held", "event"),
    [
        # Nothing held.
        (None, None, None, None),
        (None, _g(SEC, "Envi_Sec"), Held(SEC, "group", "Envi_Sec"), "granted Security admin"),
        (None, _r(LA, "r1"), Held(LA, "rule", "r1"), "granted Location admin by rule 'r1'"),
        # A manual role: kept unless the claim ranks higher (Envoy's FAQ).
        (MANUAL_FDA, None, MANUAL_FDA, None),
        (MANUAL_FDA, _g(SEC, "Envi_Sec"), Held(FDA, "manual", None, SEC), "kept the manual"),
        (MANUAL_FDA, _g(FDA, "Envi_FD"), Held(FDA, "manual", None, FDA), "kept the manual"),
        (MANUAL_FDA, _g(LA, "Envi_LA"), Held(LA, "group", "Envi_LA"), "replacing the manual"),
        # A synced role follows the claim: removed, lowered, unchanged, raised.
        (SYNCED_FDA, None, None, "removed Front desk admin"),
        (SYNCED_FDA, _g(DEL, "Envi_Del"), Held(DEL, "group", "Envi_Del"), "lowered"),
        (SYNCED_FDA, _g(FDA, "Envi_FD"), SYNCED_FDA, None),
        (SYNCED_FDA, _g(FDA, "Envi_FD2"), Held(FDA, "group", "Envi_FD2"), "now held"),
        (SYNCED_FDA, _g(LA, "Envi_LA"), Held(LA, "group", "Envi_LA"), "raised"),
        # A rule's role is synced too.
        (RULE_FDA, None, None, "the rule that granted it ('rule-1') no longer applies"),
        (RULE_FDA, _r(SEC, "rule-1"), Held(SEC, "rule", "rule-1"), "lowered"),
        (RULE_FDA, _r(FDA, "rule-1"), RULE_FDA, None),
        (RULE_FDA, _g(LA, "Envi_LA"), Held(LA, "group", "Envi_LA"), "raised"),
    ],
)
def test_settle(current: Held | None, claim: Claim | None, held: Held | None, event: str | None):
    settled = settle(current, claim)
    assert settled.held == held
    if event is None:
        assert settled.event is None
    else:
        assert settled.event is not None
        assert event in settled.event


def test_settle_events_name_the_roles_and_the_group() -> None:
    assert settle(MANUAL_FDA, _g(SEC, "Envi_Sec")).event == (
        "kept the manual Front desk admin: the synced Security admin by group 'Envi_Sec' "
        "does not rank higher"
    )
    assert settle(MANUAL_FDA, _g(LA, "Envi_LA")).event == (
        "granted Location admin by group 'Envi_LA', replacing the manual Front desk admin "
        "(a synced role outranks a lower manual one)"
    )
    assert settle(SYNCED_FDA, _g(DEL, "Envi_Del")).event == (
        "lowered Front desk admin to Deliveries by group 'Envi_Del'"
    )
    assert settle(SYNCED_FDA, None).event == (
        "removed Front desk admin: no longer in a group mapped to a role here (was 'Envi_FD')"
    )


def test_a_shadowed_manual_role_is_quiet_until_the_shadow_changes() -> None:
    shadowed = Held(FDA, "manual", None, SEC)
    # The same lower claim again: nothing to write, nothing to say.
    assert settle(shadowed, _g(SEC, "Envi_Sec")) == Settlement(shadowed, None)
    # The claim goes: the note of the shadow goes, silently.
    assert settle(shadowed, None) == Settlement(MANUAL_FDA, None)
    # A different lower claim: noted again.
    other = settle(shadowed, _g(DEL, "Envi_Del"))
    assert other.held == Held(FDA, "manual", None, DEL)
    assert other.event is not None and "Deliveries" in other.event


def test_company_roles_settle_like_location_roles() -> None:
    manual_billing = Held(BILLING, "manual")
    assert settle(manual_billing, _g(GLOBAL, "Envi_IT")).held == Held(GLOBAL, "group", "Envi_IT")
    manual_global = Held(GLOBAL, "manual")
    assert settle(manual_global, _g(BILLING, "Envi_Fin")).held == Held(
        GLOBAL, "manual", None, BILLING
    )
