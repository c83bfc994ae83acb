"""Which SCIM attribute fills which employee field: a connection's attribute mapping.

The default mapping is the union of what the seed integrations read (Envoy, Sequr,
Engagedly): names, contact, job attributes of the enterprise extension, the address
(city = ``addresses[].locality``), locale and the Envoy extension. A tenant admin adds
custom fields: a field name and the path of any attribute, of any schema (published or
not), that fills it. Pure functions: the caller loads the custom mapping.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from roster.directory.attributes import locales, remote_status
from roster.errors import InvalidValue
from roster.scim.schema import CORE_USER, ENTERPRISE_USER, ENVOY_USER

Doc = dict[str, Any]


def _get(container: Any, name: str) -> Any:
    """A key of a JSON object, matched case-insensitively (RFC 7643 §2.1)."""
    if not isinstance(container, dict):
        return None
    if name in container:
        return container[name]
    low = name.lower()
    return next((v for k, v in container.items() if k.lower() == low), None)


def _preferred(items: Any) -> Any:
    """The element marked primary, else the only one (RFC 7643 §2.4)."""
    if not isinstance(items, list):
        return None
    values = [i for i in items if isinstance(i, dict)]
    marked = [i for i in values if i.get("primary") is True]
    if marked:
        return marked[0]
    return values[0] if len(values) == 1 else None


def _first_preferred(items: Any) -> Any:
    """For contact data: the primary element, else the first (a phone list with no
    primary still gives the employee a phone)."""
    chosen = _preferred(items)
    if chosen is None and isinstance(items, list):
        chosen = next((i for i in items if isinstance(i, dict)), None)
    return chosen


def primary_email(doc: Doc) -> str | None:
    """The email marked primary, else the only one; None when there is none."""
    chosen = _preferred(doc.get("emails"))
    value = chosen.get("value") if chosen else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool | int | float):
        return str(value)
    return None


def _core(name: str, sub: str | None = None) -> Callable[[Doc], Any]:
    def read(doc: Doc) -> Any:
        value = doc.get(name)
        return _text(_get(value, sub) if sub else value)

    return read


def _ext(urn: str, name: str) -> Callable[[Doc], Any]:
    return lambda doc: _text(_get(_get(doc, urn), name))


def _address(sub: str) -> Callable[[Doc], Any]:
    return lambda doc: _text(_get(_first_preferred(doc.get("addresses")), sub))


def _phone(doc: Doc) -> Any:
    return _text(_get(_first_preferred(doc.get("phoneNumbers")), "value"))


# (employee field, the SCIM path it is read from, reader). Order is the display order.
DEFAULT_MAPPING: tuple[tuple[str, str, Callable[[Doc], Any]], ...] = (
    ("givenName", "name.givenName", _core("name", "givenName")),
    ("familyName", "name.familyName", _core("name", "familyName")),
    ("displayName", "displayName", _core("displayName")),
    ("email", "emails[primary eq true].value", primary_email),
    ("phone", "phoneNumbers[primary eq true].value", _phone),
    ("title", "title", _core("title")),
    ("department", f"{ENTERPRISE_USER}:department", _ext(ENTERPRISE_USER, "department")),
    ("division", f"{ENTERPRISE_USER}:division", _ext(ENTERPRISE_USER, "division")),
    (
        "employeeNumber",
        f"{ENTERPRISE_USER}:employeeNumber",
        _ext(ENTERPRISE_USER, "employeeNumber"),
    ),
    ("costCenter", f"{ENTERPRISE_USER}:costCenter", _ext(ENTERPRISE_USER, "costCenter")),
    ("organization", f"{ENTERPRISE_USER}:organization", _ext(ENTERPRISE_USER, "organization")),
    ("city", "addresses[primary eq true].locality", _address("locality")),
    ("state", "addresses[primary eq true].region", _address("region")),
    ("postalCode", "addresses[primary eq true].postalCode", _address("postalCode")),
    ("country", "addresses[primary eq true].country", _address("country")),
    ("locale", "locale", _core("locale")),
    ("timezone", "timezone", _core("timezone")),
    ("userType", "userType", _core("userType")),
    (
        "primaryLocation",
        f"{ENVOY_USER}:defaultLocationName",
        _ext(ENVOY_USER, "defaultLocationName"),
    ),
    ("remoteStatus", f"{ENVOY_USER}:remoteStatus", _ext(ENVOY_USER, "remoteStatus")),
)
# Not plain fields: resolved to other employees (see directory/people/references.py).
REFERENCE_MAPPING: tuple[tuple[str, str], ...] = (
    ("manager", f"{ENTERPRISE_USER}:manager (displayName as email, else value)"),
    ("assistants", f"{ENVOY_USER}:assistants"),
)
DEFAULT_FIELDS = frozenset(f for f, _, _ in DEFAULT_MAPPING) | {f for f, _ in REFERENCE_MAPPING}

_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_PATH = re.compile(r"^[A-Za-z0-9_:.$\-]{1,300}$")


def check_custom_field(name: str, path: str) -> None:
    if not _FIELD_NAME.match(name):
        raise InvalidValue(
            f"custom field name {name!r}: use a letter then letters, digits or _ (64 at most)"
        )
    if name in DEFAULT_FIELDS:
        raise InvalidValue(f"{name!r} is a field of the default mapping; choose another name")
    if not _PATH.match(path) or path.startswith(".") or path.endswith((".", ":")):
        raise InvalidValue(
            f"attribute path {path!r}: use attr, attr.sub, or URN:attr[.sub] "
            "(e.g. urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter)"
        )


def read_path(doc: Doc, path: str) -> Any:
    """The value at ``[URN:]attr[.sub]``, for published and unpublished schemas alike
    (extension data of schemas Roster does not publish is stored as sent). A sub-attribute
    of a multi-valued attribute is read from its primary (else only, else first) element."""
    container: Any = doc
    rest = path
    low = path.lower()
    if low.startswith("urn:"):
        if low.startswith(CORE_USER.lower() + ":"):
            rest = path[len(CORE_USER) + 1 :]
        else:
            # The longest URN key of the document that prefixes the path.
            keys = sorted(
                (
                    k
                    for k in doc
                    if k.lower().startswith("urn:") and low.startswith(k.lower() + ":")
                ),
                key=len,
                reverse=True,
            )
            if not keys:
                return None
            container, rest = doc[keys[0]], path[len(keys[0]) + 1 :]
    head, _, sub = rest.partition(".")
    value = _get(container, head)
    if sub:
        if isinstance(value, list):
            value = _first_preferred(value)
        value = _get(value, sub)
    if isinstance(value, list):
        return [v for v in (_text(x) for x in value) if v is not None] or None
    return _text(value)


@dataclass(frozen=True)
class ManagerRef:
    raw: str  # what the IdP sent, shown while unresolved
    by: str  # "email" or "id" (a SCIM user id of the same connection)

    @property
    def key(self) -> str:
        return self.raw.lower() if self.by == "email" else self.raw


@dataclass(frozen=True)
class MappedUser:
    email: str
    active: bool
    fields: dict[str, Any]  # every default field, None where the IdP sent nothing
    custom: dict[str, Any]
    locale: str | None  # normalised, when valid
    locale_invalid: bool
    manager: ManagerRef | None
    assistants: list[str] = field(default_factory=list)

    @property
    def email_key(self) -> str:
        return self.email.lower()


def _manager(doc: Doc) -> ManagerRef | None:
    manager = _get(_get(doc, ENTERPRISE_USER), "manager")
    if isinstance(manager, str):  # a bare id (Entra), if a dialect left it so
        manager = {"value": manager}
    if not isinstance(manager, dict):
        return None
    # Envoy reads managerDisplayName, an email (Okta's mapping); otherwise the value:
    # an email, or the SCIM id of a user of the same connection (RFC 7643 §4.3).
    display = _text(_get(manager, "displayName"))
    if display and "@" in display:
        return ManagerRef(display, "email")
    value = _text(_get(manager, "value"))
    if value:
        return ManagerRef(value, "email" if "@" in value else "id")
    return None


def _assistants(doc: Doc) -> list[str]:
    raw = _get(_get(doc, ENVOY_USER), "assistants")
    if not isinstance(raw, list):
        return []
    seen: dict[str, str] = {}
    for item in raw:
        value = _text(_get(item, "value") if isinstance(item, dict) else item)
        if value and value.lower() not in seen:
            seen[value.lower()] = value
    return list(seen.values())


def email_problem(doc: Doc) -> str | None:
    """Why the user's primary email cannot key an employee (None: it can).

    The directory joins people by primary email (Envoy, Sequr: a user without one "will
    not be synced to the employee directory"); such a user is still a valid SCIM user."""
    email = primary_email(doc)
    if email is None:
        emails = doc.get("emails")
        listed = emails if isinstance(emails, list) else []
        # An element without a value (Entra's Remove of emails[type eq "work"].value
        # leaves {"type": "work"}) is no email.
        count = sum(1 for e in listed if isinstance(e, dict) and _text(e.get("value")))
        why = "it has no emails" if count == 0 else f"none of its {count} emails is marked primary"
        return f"no primary email ({why})"
    if "@" not in email:
        return f"its primary email {email!r} is not an email address"
    return None


def map_user(doc: Doc, custom: Mapping[str, str], *, email: str | None = None) -> MappedUser:
    """Apply the default and custom mapping.

    ``email``: the primary email to key the employee by, for a user whose own cannot
    (``email_problem``) but whose employee keeps its last one. Without it such a user is
    refused with 400 invalidValue (setting require_primary_email). A remote status outside
    Envoy's table is refused with 400 invalidValue."""
    if email is None:
        problem = email_problem(doc)
        if problem is not None:
            raise InvalidValue(
                f"a primary email is required to sync a user to the employee directory: "
                f"{problem} (setting require_primary_email is on)"
            )
        email = primary_email(doc)
        assert email is not None
    fields = {name: read(doc) for name, _, read in DEFAULT_MAPPING}
    fields["remoteStatus"] = remote_status.normalise(fields["remoteStatus"])
    raw_locale = fields["locale"]
    locale = locales.normalise(raw_locale)
    if locale is not None:
        fields["locale"] = locale  # en-US and en_US are the same locale: store en_US
    active = doc.get("active", True) is not False
    mapped = MappedUser(
        email=email,
        active=active,
        fields=fields,
        custom={name: read_path(doc, path) for name, path in custom.items()},
        locale=locale,
        locale_invalid=raw_locale is not None and locale is None,
        manager=_manager(doc),
        assistants=_assistants(doc),
    )
    check_lengths(mapped)
    return mapped


# The directory columns a mapped value is kept in (storage/tables.py) bound its length.
# Longer values are refused with 400 naming the attribute, before anything is written, so
# SQLite (which would store them) and PostgreSQL (which would fail) answer alike.
EMAIL_CHARS = 320  # RFC 5321: 64-character local part, @, 255-character domain
KEY_FIELD_CHARS = 200  # matched against location names and cities
REFERENCE_CHARS = 512  # a manager's or assistant's email or id, kept as sent
_KEY_FIELDS = {
    "city": "addresses[primary eq true].locality",
    "primaryLocation": f"{ENVOY_USER}:defaultLocationName",
}


def check_lengths(mapped: MappedUser) -> None:
    def check(attribute: str, value: Any, limit: int) -> None:
        # The lower-cased key is stored too, and lower-casing can lengthen text (İ -> i̇).
        if isinstance(value, str) and max(len(value), len(value.lower())) > limit:
            raise InvalidValue(
                f"{attribute} is {len(value)} characters long; the employee directory keeps "
                f"at most {limit}"
            )

    check("the primary email (emails[primary eq true].value)", mapped.email, EMAIL_CHARS)
    for name, attribute in _KEY_FIELDS.items():
        check(attribute, mapped.fields.get(name), KEY_FIELD_CHARS)
    if mapped.manager is not None:
        check(f"{ENTERPRISE_USER}:manager", mapped.manager.raw, REFERENCE_CHARS)
    for assistant in mapped.assistants:
        check(f"{ENVOY_USER}:assistants", assistant, REFERENCE_CHARS)
