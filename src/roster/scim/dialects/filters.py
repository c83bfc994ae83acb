"""Normalisers for filter text."""

from __future__ import annotations

import json
import re

from roster.scim.dialects.profiles import Profile
from roster.scim.schema import ENTERPRISE_USER

_BARE = re.compile(
    r"(?P<op>\s(?:eq|ne|co|sw|ew|gt|lt|ge|le)\s+)(?P<value>[^\s\"()\[\]]+)", re.IGNORECASE
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_LITERAL = re.compile(r"^(true|false|null|-?\d+(\.\d+)?([eE][+-]?\d+)?)$", re.IGNORECASE)


_MANAGER_IN_FILTER = re.compile(r"(?<![\w:.$-])manager(?:\.value)?(?=\s)", re.IGNORECASE)


_EMAIL_COMPARISON = re.compile(
    r'(?P<string>"(?:[^"\\]|\\.)*")'
    r"|(?<![\w:.$-])email\s+(?P<op>eq|ne|co|sw|ew|gt|ge|lt|le)\s+"
    r'(?P<value>"(?:[^"\\]|\\.)*"|[^\s()\[\]"]+)',
    re.IGNORECASE,
)


def _primary_email(m: re.Match[str]) -> str:
    """``email eq "x"`` -> the primary email compares (the one marked primary, else the
    only one: the directory refuses users with several emails and none marked)."""
    if m.group("string") is not None:
        return m.group(0)
    op, value = m.group("op"), m.group("value")
    return (
        f"(emails[primary eq true and value {op} {value}] or "
        f"(emails.value {op} {value} and not (emails.primary eq true)))"
    )


def normalise_filter(profile: Profile, text: str, *, email_identifier: bool = False) -> str:
    """Filter text in the profile's dialect -> RFC 7644 §3.4.2.2. Quoted strings are left
    alone; only the text between them is rewritten.

    ``email_identifier``: the connection identifies users by email, as Okta's "Unique
    identifier field for users: email" does (the Engagedly guide); Okta then looks users
    up with ``email eq "…"``, which names no SCIM attribute: read it as the primary email.
    """
    bare, manager = profile.on("bare_filter_values"), profile.on("manager_shapes")
    if not bare and not manager and not email_identifier:
        return text
    if email_identifier:
        text = _EMAIL_COMPARISON.sub(_primary_email, text)

    def quote(m: re.Match[str]) -> str:
        # [ENTRA-TUT] Example 1: ``externalId eq jyoung``; quote bare words that are not
        # JSON literals.
        value = m.group("value")
        if _JSON_LITERAL.match(value):
            return m.group(0)
        return m.group("op") + json.dumps(value)

    def rewrite(part: str) -> str:
        if manager:
            # [ENTRA-TUT] Example 4: ``id eq … and manager eq …`` names the enterprise
            # manager without its URN and compares the object itself: its value is meant.
            part = _MANAGER_IN_FILTER.sub(f"{ENTERPRISE_USER}:manager.value", part)
        return _BARE.sub(quote, part) if bare else part

    out, last = [], 0
    for m in _STRING.finditer(text):
        out.append(rewrite(text[last : m.start()]))
        out.append(m.group(0))
        last = m.end()
    out.append(rewrite(text[last:]))
    return "".join(out)
