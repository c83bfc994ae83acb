"""Per-connection settings: one registry, so `roster connection show` lists every setting
with its effective value and where that value comes from, and `configure` validates them.

Settings live in ``connections.options`` (a JSON object). IdP quirk overrides sit under
``options["dialect"]`` (scim/dialects/ owns their meaning); every other setting is a field
of the pydantic model ``ConnectionSettings`` (``settings/model.py``). Both lists are read
here, explicitly: nothing registers itself at import time. ``of`` reads a connection's
settings; ``apply`` validates and stores a change; what a change means for rows already
there (re-evaluating people) is the admin action's
(``directory/admin/connection_settings.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection

from roster.directory.journal.clock import write_time
from roster.directory.journal.system_log import Outcome, record
from roster.directory.settings import model
from roster.directory.settings.model import ConnectionSettings
from roster.errors import InvalidValue
from roster.scim import dialects
from roster.storage import tenancy as store
from roster.storage.tenancy import ConnectionRow

DIALECT = "dialect"


@dataclass(frozen=True)
class OptionSpec:
    """A setting as listed and typed by admins: its meaning, choices, parser and default."""

    name: str
    summary: str
    choices: tuple[Any, ...]  # shown to admins; ``parse`` is the real check
    parse: Callable[[str], Any]  # admin text -> value; raises InvalidValue
    default: Callable[[ConnectionRow], Any]
    section: str | None = None  # options[section][name] instead of options[name]


def _quirk_spec(quirk: dialects.Quirk) -> OptionSpec:
    return OptionSpec(
        quirk.name,
        f"{quirk.summary} (source: {quirk.source})",
        quirk.choices,
        lambda text: dialects.parse_setting(quirk.name, text),
        lambda row: dialects.PROFILE_DEFAULTS.get(row.idp, dialects.PROFILE_DEFAULTS["generic"])[
            quirk.name
        ],
        DIALECT,
    )


def _model_spec(name: str) -> OptionSpec:
    default = model.DEFAULTS.model_dump(mode="json")[name]
    return OptionSpec(
        name,
        model.summary(name),
        model.choices(name),
        functools.partial(model.parse, name),
        lambda _row: default,
    )


REGISTRY: dict[str, OptionSpec] = {
    spec.name: spec
    for spec in (
        *(_quirk_spec(q) for q in dialects.QUIRKS.values()),
        *(_model_spec(name) for name in model.NAMES),
    )
}


def of(row: ConnectionRow) -> ConnectionSettings:
    """Connection ``row``'s settings (the IdP quirks are its ``profile``)."""
    return model.stored(row.options if isinstance(row.options, dict) else {})


def load(conn: Connection, connection_uid: str) -> ConnectionSettings:
    row = store.connection_by_uid(conn, connection_uid)
    return of(row) if row is not None else model.DEFAULTS


def _stored(row: ConnectionRow, spec: OptionSpec) -> tuple[bool, Any]:
    holder = row.options.get(spec.section, {}) if spec.section else row.options
    if isinstance(holder, dict) and spec.name in holder:
        return True, holder[spec.name]
    return False, None


def value(row: ConnectionRow, name: str) -> Any:
    """The effective value of setting ``name`` for connection ``row``."""
    spec = REGISTRY[name]
    overridden, stored = _stored(row, spec)
    return stored if overridden else spec.default(row)


@dataclass(frozen=True)
class Effective:
    name: str
    value: Any
    source: str  # "override", or where the default comes from ("okta profile", "default")
    summary: str
    choices: tuple[Any, ...]


def effective(row: ConnectionRow) -> list[Effective]:
    out = []
    for spec in REGISTRY.values():
        overridden, stored = _stored(row, spec)
        if overridden:
            source = "override"
        else:
            source = f"{row.idp} profile" if spec.section == DIALECT else "default"
        out.append(
            Effective(
                spec.name,
                stored if overridden else spec.default(row),
                source,
                spec.summary,
                spec.choices,
            )
        )
    return out


@dataclass(frozen=True)
class Applied:
    """What ``apply`` did: one line per change (each also in the system log), the
    connection as it now is, and the settings whose effective value changed."""

    lines: list[str]
    row: ConnectionRow
    changed: frozenset[str]


def apply(conn: Connection, row: ConnectionRow, sets: list[str], resets: list[str]) -> Applied:
    """Apply ``key=value`` overrides and resets; all are checked before any is written."""
    # Locks first: a setting change waits for the tenant's SCIM writes in flight and
    # holds off new ones until it commits (its consequences re-evaluate people).
    write_time(conn, row.tenant_id)
    options: dict[str, Any] = {
        k: dict(v) if isinstance(v, dict) else v for k, v in row.options.items()
    }
    changes: list[str] = []
    for item in sets:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep:
            raise InvalidValue(f"--set takes name=value, got {item!r}")
        spec = _spec(name)
        parsed = spec.parse(text)
        holder = options.setdefault(spec.section, {}) if spec.section else options
        holder[name] = parsed
        changes.append(f"{name} = {_show(parsed)} (override)")
    for name in resets:
        spec = _spec(name.strip())
        holder = options.get(spec.section, {}) if spec.section else options
        holder.pop(spec.name, None)
        changes.append(f"{spec.name} reset to {_show(spec.default(row))}")
    if not changes:
        raise InvalidValue("nothing to change: give --set name=value or --reset name")
    store.update_connection(conn, row.tenant_id, row.id, options=options)
    updated = replace(row, options=options)
    for line in changes:
        record(
            conn,
            tenant_id=row.tenant_id,
            connection_uid=row.uid,
            actor="admin",
            method="ADMIN",
            path="connection.configure",
            outcome=Outcome(200, "Connection", row.uid, None, f"connection {row.name!r}: {line}"),
        )
    touched = {_spec(item.partition("=")[0].strip()).name for item in [*sets, *resets]}
    changed = frozenset(n for n in touched if value(updated, n) != value(row, n))
    return Applied(changes, updated, changed)


def _spec(name: str) -> OptionSpec:
    spec = REGISTRY.get(name)
    if spec is None:
        raise InvalidValue(f"unknown connection setting {name!r}; known: {', '.join(REGISTRY)}")
    return spec


def _show(v: Any) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)
