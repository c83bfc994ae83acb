"""The rule model: a rule's conditions and actions, and the field vocabulary conditions
use. Values only: the engine (engine.py) evaluates them, the syntax (syntax.py) parses and
renders them; both import this module, and it imports neither.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from roster.errors import InvalidValue

Match = Literal["all", "any"]

GROUP_OPS = ("any", "all", "none")
ATTRIBUTE_OPS = ("eq", "ne", "contains", "starts_with", "in", "present")

# The attributes rules read: the employee fields under the read API's (and SCIM's) names,
# the one vocabulary employees are shown and imported with.
ATTRIBUTES: tuple[str, ...] = (
    "city",
    "state",
    "postalCode",
    "country",
    "department",
    "division",
    "title",
    "locale",
    "userType",
    "employeeNumber",
    "costCenter",
    "organization",
    "timezone",
    "givenName",
    "familyName",
    "email",
)
# The names rules used before they spoke the read API's vocabulary: still accepted (and
# read from rules stored with them), shown under the new names.
LEGACY_NAMES: dict[str, str] = {
    "postal_code": "postalCode",
    "employee_type": "userType",
    "employee_number": "employeeNumber",
    "cost_center": "costCenter",
    "given_name": "givenName",
    "family_name": "familyName",
}
_BY_FOLDED: dict[str, str] = {name.lower(): name for name in ATTRIBUTES} | LEGACY_NAMES
CUSTOM_PREFIX = "custom."


def attribute_name(name: str) -> str:
    """The canonical name of a condition's field as stored (a legacy snake_case name, any
    case): what evaluation and display use. Unknown names come back as they are."""
    if name.lower().startswith(CUSTOM_PREFIX) or name == "groups":
        return name
    return _BY_FOLDED.get(name.lower(), name)


def fold(text: str) -> str:
    """The comparison key of names and values: whitespace collapsed, case folded."""
    return " ".join(text.split()).casefold()


@dataclass(frozen=True)
class Condition:
    """``field`` is ``groups``, an ATTRIBUTES name, or ``custom.<field>``.

    ``names``: for a groups condition, what to show for each value — the current name of
    the group it is bound to, which follows renames
    (directory/entitlements/group_bindings.py); empty: the values as written."""

    field: str
    op: str
    values: tuple[str, ...] = ()
    names: tuple[str, ...] = dataclasses.field(default=(), compare=False)

    def shown(self) -> tuple[str, ...]:
        return self.names if len(self.names) == len(self.values) else self.values

    def check(self) -> Condition:
        """This condition in canonical form; raises InvalidValue naming what is wrong."""
        name = self.field.strip()
        op = self.op.strip().lower()
        values = tuple(v.strip() for v in self.values)
        if any(not v for v in values):
            raise InvalidValue(f"condition on {name!r}: values must not be empty")
        if name.lower() == "groups":
            if op not in GROUP_OPS:
                raise InvalidValue(
                    f"groups condition: {self.op!r} is not one of {', '.join(GROUP_OPS)}"
                )
            if not values:
                raise InvalidValue(f"groups {op}: name at least one group")
            return Condition("groups", op, values)
        if name.lower().startswith(CUSTOM_PREFIX):
            custom = name[len(CUSTOM_PREFIX) :]
            if not custom:
                raise InvalidValue("custom.<field>: name the custom field")
            name = CUSTOM_PREFIX + custom
        elif name.lower() in _BY_FOLDED:
            name = _BY_FOLDED[name.lower()]
        else:
            raise InvalidValue(
                f"unknown attribute {name!r}; known: groups, {', '.join(ATTRIBUTES)}, "
                "custom.<field>"
            )
        if op not in ATTRIBUTE_OPS:
            raise InvalidValue(f"{name}: {self.op!r} is not one of {', '.join(ATTRIBUTE_OPS)}")
        if op == "present" and values:
            raise InvalidValue(f"{name} present takes no value")
        if op == "in" and not values:
            raise InvalidValue(f"{name} in: give at least one value")
        if op not in ("present", "in") and len(values) != 1:
            raise InvalidValue(f"{name} {op} takes exactly one value, got {len(values)}")
        return Condition(name, op, values)


@dataclass(frozen=True)
class Actions:
    access_groups: tuple[str, ...] = ()  # access group ids
    role: str | None = None
    locations: tuple[str, ...] = ()  # location ids
    mobile_key: bool = False


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    match: Match
    conditions: tuple[Condition, ...]
    actions: Actions
