"""The directory's per-connection settings, a leaf read everywhere: ``settings/options.py``
lists them (`roster connection show`) and validates and stores a change (`roster
connection configure ID --set name=value`); what a change means for people already
there is ``admin/connection_settings.py``'s. Stored under plain keys of
``connections.options``:

- ``unique_identifier``: ``userName`` (default; EnvKey) or ``email`` (Engagedly): the
  attribute that identifies a user within the connection.
- ``link_by_email``: ``true`` (default): a create whose primary email belongs to a manual
  employee (or to one of an inactive connection) links to it; ``false``: 409 instead.
- ``location_sync``: ``all`` (default; every user in every location) or ``per_location``
  (each location receives the users of its cities and locales).
- ``group_role_prefix``: ``""`` (default: every group) or a prefix such as ``Envi_``:
  only groups whose name starts with it take part in role mapping (Envi); the others are
  stored and ignored for roles.
- ``group_provisioning``: ``true`` (default); ``false``: group requests are acknowledged
  and change nothing (the system log says so).
- ``strict_members``: ``false`` (default): group members that name no user or group of
  the connection are skipped, the rest apply, and the system log names the skipped ones;
  ``true``: such a request is refused (400) and changes nothing.
- ``require_primary_email``: ``false`` (default): a user without a usable primary email
  (none, not an address, or one another user of this connection holds) is stored and
  answered normally and kept out of the directory, the log says why; ``true``: such a
  request is refused (400, or 409 for the shared email), as the IdP then shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from roster.directory.settings.spec import OptionSpec
from roster.errors import InvalidValue
from roster.storage import tenancy as tenancy_store
from roster.storage.tenancy import ConnectionRow


def _prefix(text: str) -> str:
    value = text.strip()
    if len(value) > 100:
        raise InvalidValue("group_role_prefix: at most 100 characters")
    return value


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        for choice in choices:
            if text.strip().lower() == choice.lower():
                return choice
        raise InvalidValue(f"{text!r} is not one of: {', '.join(choices)}")

    return parse


def _boolean(text: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "yes", "on", "1"):
        return True
    if low in ("false", "no", "off", "0"):
        return False
    raise InvalidValue(f"{text!r} is not a boolean (true or false)")


@dataclass(frozen=True)
class SyncOptions:
    unique_identifier: str = "userName"
    link_by_email: bool = True
    location_sync: str = "all"
    group_role_prefix: str = ""
    group_provisioning: bool = True
    strict_members: bool = False
    require_primary_email: bool = False


_DEFAULTS = SyncOptions()
SPECS = (
    OptionSpec(
        "unique_identifier",
        "the attribute identifying a user within the connection (userName: EnvKey; "
        "email: Engagedly)",
        ("userName", "email"),
        _choice("userName", "email"),
        lambda _row: _DEFAULTS.unique_identifier,
    ),
    OptionSpec(
        "link_by_email",
        "a new user whose primary email belongs to a manual employee links to it (off: 409)",
        (True, False),
        _boolean,
        lambda _row: _DEFAULTS.link_by_email,
    ),
    OptionSpec(
        "location_sync",
        "all users to all locations, or per location by city (locality) or locale",
        ("all", "per_location"),
        _choice("all", "per_location"),
        lambda _row: _DEFAULTS.location_sync,
    ),
    OptionSpec(
        "group_role_prefix",
        "only groups whose name starts with this prefix map to roles (Envi: Envi_); "
        "empty: every group",
        ("", "Envi_"),
        _prefix,
        lambda _row: _DEFAULTS.group_role_prefix,
    ),
    OptionSpec(
        "group_provisioning",
        "group requests change groups (off: acknowledged, nothing changes, logged)",
        (True, False),
        _boolean,
        lambda _row: _DEFAULTS.group_provisioning,
    ),
    OptionSpec(
        "strict_members",
        "a group write naming a member that is no user or group of this connection is "
        "refused (off: that member is skipped, the rest apply, the log names it)",
        (False, True),
        _boolean,
        lambda _row: _DEFAULTS.strict_members,
    ),
    OptionSpec(
        "require_primary_email",
        "a user without a usable primary email (none, not an address, or another user's "
        "of this connection) is refused (off: stored, kept out of the directory, logged)",
        (False, True),
        _boolean,
        lambda _row: _DEFAULTS.require_primary_email,
    ),
)


def of(row: ConnectionRow) -> SyncOptions:
    values: dict[str, Any] = {}
    stored = row.options if isinstance(row.options, dict) else {}
    for spec in SPECS:
        default = spec.default(row)
        value = stored.get(spec.name, default)
        # A stored value of the wrong type (hand-edited JSON) must not break every sync.
        values[spec.name] = value if type(value) is type(default) else default
    return SyncOptions(**values)


def load(conn: Connection, connection_uid: str) -> SyncOptions:
    row = tenancy_store.connection_by_uid(conn, connection_uid)
    return of(row) if row is not None else _DEFAULTS
