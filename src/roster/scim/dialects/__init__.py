"""IdP dialects: the named quirks real SCIM clients need, and the profiles that enable them.

The SCIM core (document, patch, filter) implements RFC 7643/7644 as written. Each quirk
is one normaliser that rewrites what an IdP sends into the RFC form before the core sees
it, or picks among answers the RFC allows; a profile is the set a connection uses, chosen
by its IdP kind and overridable per connection. ``profiles`` names the quirks and the
profiles; ``resources``, ``operations`` and ``filters`` normalise bodies, PatchOps and
filter text. docs/compatibility.md is the reader's version of this package; the source
keys ([ENTRA-TUT] …) are in docs/idp/sources.md.
"""

from roster.scim.dialects.filters import normalise_filter
from roster.scim.dialects.operations import element_from_filter, normalise_patch
from roster.scim.dialects.profiles import (
    NO_CONTENT,
    PROFILE_DEFAULTS,
    QUIRKS,
    RESOURCE,
    Profile,
    Quirk,
    parse_setting,
    profile_for,
)
from roster.scim.dialects.resources import normalise_resource

__all__ = [
    "NO_CONTENT",
    "PROFILE_DEFAULTS",
    "QUIRKS",
    "RESOURCE",
    "Profile",
    "Quirk",
    "element_from_filter",
    "normalise_filter",
    "normalise_patch",
    "normalise_resource",
    "parse_setting",
    "profile_for",
]
