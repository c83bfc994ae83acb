"""Envoy's remote status: the values its Okta guide accepts, and the two it stores.

Compared case- and whitespace-insensitively (" Working  From Home " is "working from
home"); anything else is refused, so an IdP mapping mistake shows up at once in the IdP's
provisioning errors instead of silently filing people under the wrong status.
"""

from __future__ import annotations

from roster.errors import InvalidValue

REMOTE = "Remote"
IN_PERSON = "In person"

# The table from Envoy's guide ("Remote Status Mapping"), verbatim.
_ACCEPTED: dict[str, str] = {
    "remote": REMOTE,
    "working from home": REMOTE,
    "wfh": REMOTE,
    "telecommuting": REMOTE,
    "in person": IN_PERSON,
    "in-office": IN_PERSON,
    "in office": IN_PERSON,
    "on-site": IN_PERSON,
    "on site": IN_PERSON,
    "onsite": IN_PERSON,
    "office-based": IN_PERSON,
    "office based": IN_PERSON,
    "hybrid": IN_PERSON,
    "flexible": IN_PERSON,
    "blended": IN_PERSON,
}
ACCEPTED_VALUES: tuple[str, ...] = tuple(_ACCEPTED)


def normalise(value: str | None) -> str | None:
    """``Remote`` or ``In person``; None when unset. Raises 400 invalidValue otherwise."""
    if value is None:
        return None
    key = " ".join(value.split()).lower()
    if not key:
        return None
    try:
        return _ACCEPTED[key]
    except KeyError:
        raise InvalidValue(
            f"remoteStatus {value!r} is not an accepted value; use one of: "
            + ", ".join(ACCEPTED_VALUES)
            + f" (stored as {REMOTE!r} or {IN_PERSON!r})"
        ) from None
