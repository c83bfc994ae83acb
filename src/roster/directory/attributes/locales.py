"""Locales as Envoy's per-location sync reads them: ISO 639-1 language, an underscore,
ISO 3166-1 alpha-2 country (``en_US``). ``en-US`` (BCP 47 spelling, what Entra and many
HR systems send) is the same locale. The code lists come from pycountry, not a hand list.
"""

from __future__ import annotations

import re

import pycountry

_SHAPE = re.compile(r"^([A-Za-z]{2})[-_]([A-Za-z]{2})$")


def normalise(value: str | None) -> str | None:
    """The canonical ``ll_CC`` form, or None when ``value`` is no valid locale."""
    if value is None:
        return None
    match = _SHAPE.match(value.strip())
    if match is None:
        return None
    language, country = match.group(1).lower(), match.group(2).upper()
    if pycountry.languages.get(alpha_2=language) is None:
        return None
    if pycountry.countries.get(alpha_2=country) is None:
        return None
    return f"{language}_{country}"
