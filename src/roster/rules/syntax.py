"""The condition text admins type and read back: ``FIELD OP [VALUE ...]``, shell-quoted.

    city eq "New York"          department contains Eng      title starts_with Senior
    state in CA NY WA           postalCode present           custom.badge ne none
    groups any Eng Ops          groups all "Envi_Admins"     groups none Contractors

Short forms are accepted as in SCIM filters (``co``, ``sw``, ``pr``). Fields are the read
API's names (``postalCode``, ``userType``); the older snake_case ones (``postal_code``)
are accepted and shown under the new names.
"""

from __future__ import annotations

import shlex

from roster.errors import InvalidValue
from roster.rules.model import Condition, attribute_name

_ALIASES = {"co": "contains", "sw": "starts_with", "pr": "present", "startswith": "starts_with"}


def parse(text: str) -> Condition:
    try:
        words = shlex.split(text)
    except ValueError as exc:
        # shlex says "No closing quotation" / "No escaped character": said in our words.
        why = (
            "unbalanced quote (a value opened with \" or ' is never closed; quote a value "
            "that holds a quote the other way, or escape it with \\)"
            if "quotation" in str(exc)
            else "it ends with a lone backslash (escape it as \\\\)"
        )
        raise InvalidValue(f"condition {text!r}: {why}") from exc
    if len(words) < 2:
        raise InvalidValue(
            f"condition {text!r}: write FIELD OP [VALUE ...], e.g. 'city eq \"New York\"' or "
            "'groups any Eng Ops'"
        )
    op = words[1].lower()
    return Condition(words[0], _ALIASES.get(op, op), tuple(words[2:])).check()


def render(condition: Condition) -> str:
    """The condition as an admin reads it: fields under the read API's names (a legacy
    snake_case one shown under its new name); a groups condition names each group by its
    current name where it is bound (``Condition.names``)."""
    field = attribute_name(condition.field)
    return " ".join([field, condition.op, *(_quote(v) for v in condition.shown())])


def _quote(value: str) -> str:
    if value and all(ch.isalnum() or ch in "_-.@" for ch in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
