"""Envoy's admin roles and their ranking.

Envoy's Admin Provisioning FAQ: an admin holds at most one location role per location and
one company role; "Envoy will give admins the higher role assigned"; "synced roles will
take priority over manual only if the synced role has higher priority permissions"; "you
cannot manually delete synced roles". Ranks below are listed highest first, as the FAQ
and the product brief order them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from roster.errors import InvalidValue

LOCATION_ROLES = ("Location admin", "Front desk admin", "Deliveries", "Security admin")
COMPANY_ROLES = ("Global admin", "Billing admin")
ALL_ROLES = LOCATION_ROLES + COMPANY_ROLES

Scope = Literal["location", "company"]
Source = Literal["manual", "group", "rule"]


def _key(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


_BY_KEY = {_key(role): role for role in ALL_ROLES}


def parse(text: str) -> str:
    """Admin text -> the canonical role name: any case, spaces, ``-`` or ``_``
    (``front_desk_admin``, ``Front Desk Admin``)."""
    role = _BY_KEY.get(_key(text))
    if role is None:
        raise InvalidValue(
            f"{text!r} is not a role; location roles (highest first): "
            f"{', '.join(LOCATION_ROLES)}; company roles: {', '.join(COMPANY_ROLES)}"
        )
    return role


def scope_of(role: str) -> Scope:
    return "location" if role in LOCATION_ROLES else "company"


def rank(role: str) -> int:
    """Higher is stronger; comparable only within one scope."""
    order = LOCATION_ROLES if role in LOCATION_ROLES else COMPANY_ROLES
    return len(order) - order.index(role)


@dataclass(frozen=True)
class Claim:
    """A synced reason to hold ``role``: a mapped group the employee is in, or the rule
    that fired for it. ``origin`` names it (the group's or the rule's name)."""

    role: str
    source: Source
    origin: str
    # The group's identity (its row) for a group claim: a rename changes ``origin``, not
    # this, so the held role is the same one (no event, nothing to say).
    ref: int | None = None


def strongest(claims: Iterable[Claim]) -> Claim | None:
    """The highest-ranking claim; on a tie, a group claim before a rule claim, then the
    smaller origin, so the outcome never depends on the order rows were read in."""
    ordered = sorted(
        claims, key=lambda c: (-rank(c.role), 0 if c.source == "group" else 1, c.origin)
    )
    return ordered[0] if ordered else None


@dataclass(frozen=True)
class Held:
    """The role row of one scope: what the employee holds and why."""

    role: str
    source: Source
    origin: str | None = None
    shadowed: str | None = None  # a synced role the manual one outranks
    ref: int | None = None  # the group behind a group role (Claim.ref)


@dataclass(frozen=True)
class Settlement:
    held: Held | None
    event: str | None  # what changed, for the system log; None: nothing to say


def settle(current: Held | None, claim: Claim | None) -> Settlement:
    """What one scope holds once the strongest synced claim meets the held role.

    - nothing held: the claim is granted;
    - a manual role: the claim replaces it only if it ranks higher (Envoy: "synced roles
      take priority over manual only if the synced role has higher priority
      permissions"); otherwise the manual role stays in force and the claim is noted as
      shadowed;
    - a synced role: it follows the claim, lowered, raised or removed with membership.
    """
    if current is None:
        if claim is None:
            return Settlement(None, None)
        return Settlement(
            Held(claim.role, claim.source, claim.origin, ref=claim.ref),
            f"granted {claim.role}{_by(claim)}",
        )
    if current.source == "manual":
        if claim is not None and rank(claim.role) > rank(current.role):
            return Settlement(
                Held(claim.role, claim.source, claim.origin, ref=claim.ref),
                f"granted {claim.role}{_by(claim)}, replacing the manual {current.role} "
                "(a synced role outranks a lower manual one)",
            )
        shadowed = claim.role if claim is not None else None
        if shadowed == current.shadowed:
            return Settlement(current, None)
        held = Held(current.role, "manual", current.origin, shadowed)
        if claim is None:
            return Settlement(held, None)
        return Settlement(
            held,
            f"kept the manual {current.role}: the synced {claim.role}{_by(claim)} does not "
            "rank higher",
        )
    if claim is None:
        return Settlement(None, f"removed {current.role}: {_lost(current)}")
    held = Held(claim.role, claim.source, claim.origin, ref=claim.ref)
    if held == current:
        return Settlement(current, None)
    if claim.ref is not None and (held.role, held.source, held.ref) == (
        current.role,
        current.source,
        current.ref,
    ):
        return Settlement(held, None)  # the same group under a new name: nothing changed
    if claim.role == current.role:
        return Settlement(held, f"{claim.role} now held{_by(claim)}")
    verb = "raised" if rank(claim.role) > rank(current.role) else "lowered"
    return Settlement(held, f"{verb} {current.role} to {claim.role}{_by(claim)}")


def _by(claim: Claim) -> str:
    if claim.source == "group":
        return f" by group {claim.origin!r}"
    return f" by rule {claim.origin!r}"


def _lost(current: Held) -> str:
    if current.source == "group":
        return f"no longer in a group mapped to a role here (was {current.origin!r})"
    return f"the rule that granted it ({current.origin!r}) no longer applies"
