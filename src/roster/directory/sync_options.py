"""The directory's per-connection options, kept in ``connections.options`` under plain keys.

- ``unique_identifier``: ``userName`` (default; EnvKey) or ``email`` (Engagedly): the
  attribute that identifies a user within the connection.
- ``link_by_email``: ``true`` (default): a create whose primary email belongs to a manual
  employee (or to one of an inactive connection) links to it; ``false``: 409 instead.
- ``location_sync``: ``all`` (default; every user in every location) or ``per_location``
  (each location receives the users of its cities and locales).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from roster.errors import InvalidValue
from roster.storage import tenancy as tenancy_store


@dataclass(frozen=True)
class OptionSpec:
    key: str
    default: Any
    parse: Callable[[str], Any]
    help: str


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


SPECS: dict[str, OptionSpec] = {
    spec.key: spec
    for spec in (
        OptionSpec(
            "unique_identifier",
            "userName",
            _choice("userName", "email"),
            "the attribute identifying a user within the connection: userName or email",
        ),
        OptionSpec(
            "link_by_email",
            True,
            _boolean,
            "link a new user to the existing employee with its primary email",
        ),
        OptionSpec(
            "location_sync",
            "all",
            _choice("all", "per_location"),
            "all users to all locations, or per location by city or locale",
        ),
    )
}


@dataclass(frozen=True)
class SyncOptions:
    unique_identifier: str = "userName"
    link_by_email: bool = True
    location_sync: str = "all"


def from_options(options: dict[str, Any]) -> SyncOptions:
    """The typed view of a connection's options (stored values were validated on write;
    a value of the wrong type falls back to the default rather than break every sync)."""
    values: dict[str, Any] = {}
    for key, spec in SPECS.items():
        value = options.get(key, spec.default)
        values[key] = value if isinstance(value, type(spec.default)) else spec.default
    return SyncOptions(**values)


def load(conn: Connection, connection_uid: str) -> SyncOptions:
    row = tenancy_store.connection_by_uid(conn, connection_uid)
    return from_options(row.options if row else {})


def parse(key: str, text: str) -> Any:
    spec = SPECS.get(key)
    if spec is None:
        raise InvalidValue(f"unknown directory option {key!r}; known: {', '.join(SPECS)}")
    return spec.parse(text)
