"""A tenant's locations: which employees each one receives, and primary locations.

Membership follows the employee's current attributes, re-evaluated on every sync (one
employee, ``place``) and on every admin change of locations or of a connection's
``location_sync`` (set-based, ``relocate``): with
``location_sync = all`` a synced employee is in every location; with ``per_location`` in
each location listing its city (``addresses[].locality``) or its (valid) locale. A manual
employee is in the locations an admin gave it (``join`` when added, ``set_explicit`` when
edited). Every write of a membership is one of these four; nothing else in the directory
writes them. The primary location (Envoy's
``defaultLocationName``) is for analytics only and grants no membership.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from roster.directory.attributes import locales
from roster.directory.journal import events
from roster.directory.journal.clock import write_time
from roster.directory.journal.system_log import note
from roster.directory.settings.config_cache import cached
from roster.directory.settings.registry import of as settings_of
from roster.errors import Conflict, InvalidValue, NotFound, UniquenessConflict
from roster.storage import access as access_store
from roster.storage import employees as emp_store
from roster.storage import locations as store
from roster.storage import tenancy as tenancy_store
from roster.storage.employees import EmployeeRow
from roster.storage.locations import LocationRow
from roster.storage.tenancy import ConnectionRow

__all__ = ["LocationRow", "add", "evaluate", "get", "list_all", "remove"]


def key(value: str | None) -> str | None:
    """How cities and location values compare: case- and whitespace-insensitively."""
    if value is None:
        return None
    folded = " ".join(value.split()).lower()
    return folded or None


def evaluate(
    mode: str, locations: Sequence[LocationRow], city_key: str | None, locale_key: str | None
) -> set[int]:
    """The locations a synced employee belongs to (pure)."""
    if mode == "all":
        return {loc.pk for loc in locations}
    return {
        loc.pk
        for loc in locations
        if (city_key is not None and city_key in loc.cities)
        or (locale_key is not None and locale_key in loc.locales)
    }


def _names(locations: Sequence[LocationRow], pks: set[int]) -> str:
    names = sorted(loc.name for loc in locations if loc.pk in pks)
    return ", ".join(names) or "no location"


def place(
    conn: Connection,
    tenant_id: int,
    connection_uid: str | None,
    employee: EmployeeRow,
    mode: str,
    locations: Sequence[LocationRow] | None = None,
    *,
    fresh: bool = False,
) -> None:
    """Bring a synced employee's memberships in line with its attributes; log a move.
    ``fresh``: the employee was just inserted and has no memberships yet.
    The sync path, one employee at a time (its updated_at is already new); admin changes
    re-evaluate set-based (``relocate``)."""
    if locations is None:
        locations = store.all_of(conn, tenant_id)
    if not locations:
        return  # no location, so no membership to have or to drop
    wanted = evaluate(mode, locations, employee.city_key, employee.locale_key)
    have = set() if fresh else emp_store.locations_of(conn, tenant_id, [employee.pk])[employee.pk]
    if wanted == have:
        return
    emp_store.set_locations(conn, tenant_id, employee.pk, wanted - have, have - wanted)
    names = {loc.pk: loc.name for loc in locations}
    events.location_changed(
        conn,
        tenant_id,
        connection_uid,
        employee,
        [names[pk] for pk in wanted if pk in names],
        [names[pk] for pk in have if pk in names],
    )
    note(
        conn,
        tenant_id,
        connection_uid,
        "employee.locations",
        f"{employee.email} is now in {_names(locations, wanted)} (was {_names(locations, have)})",
        employee.id,
    )


@dataclass(frozen=True)
class LocationIndex:
    """A tenant's locations as a SCIM sync needs them (cached per configuration
    version, directory/settings/config_cache.py): placement and the primary location."""

    rows: tuple[LocationRow, ...]
    by_name: dict[str, int]  # folded name -> pk
    aliases: dict[str, int]  # folded mapped value -> pk

    def primary(self, value_key: str | None) -> int | None:
        """An exact (case-insensitive) location name first, then the admin's mapping."""
        if value_key is None:
            return None
        exact = self.by_name.get(value_key)
        return exact if exact is not None else self.aliases.get(value_key)


def index(conn: Connection, tenant_id: int, config_version: int) -> LocationIndex:
    def load() -> LocationIndex:
        rows = tuple(store.all_of(conn, tenant_id))
        by_name = {k: loc.pk for loc in rows if (k := key(loc.name)) is not None}
        return LocationIndex(rows, by_name, store.alias_targets(conn, tenant_id))

    return cached(("locations", tenant_id), config_version, load)


def primary_location(conn: Connection, tenant_id: int, value_key: str | None) -> int | None:
    """An exact (case-insensitive) location name first, then the admin's mapping."""
    if value_key is None:
        return None
    exact = store.by_name(conn, tenant_id, value_key)
    if exact is not None:
        return exact.pk
    return store.alias_target(conn, tenant_id, value_key)


def relocate(
    conn: Connection,
    tenant_id: int,
    *,
    location_pk: int | None = None,
    connection: ConnectionRow | None = None,
    at: datetime,
    earlier: Sequence[store.Moved] = (),
) -> store.Relocated:
    """Re-evaluate synced employees' memberships after an admin change, set-based: the
    statements do not grow with the employees (a location added to a tenant of thousands
    must not write thousands of rows one by one, nor one log entry each). The caller writes
    one summary entry. Narrowed to one location (added) or one connection (its
    location_sync changed). Every employee moved — by this or by an ``earlier`` step of
    the same change — gets one ``employee.location_changed`` (``announce``)."""
    rows = store.all_of(conn, tenant_id)
    uids: dict[int, str] | None
    if connection is not None:
        per = [connection.id] if settings_of(connection).location_sync == "per_location" else []
        uids = {connection.id: connection.uid}
    else:
        connections = tenancy_store.connections_of(conn, tenant_id)
        per = [c.id for c in connections if settings_of(c).location_sync == "per_location"]
        uids = {c.id: c.uid for c in connections}
    relocated = store.relocate(
        conn,
        tenant_id,
        rows,
        per,
        at,
        connection_id=connection.id if connection is not None else None,
        location_pk=location_pk,
    )
    names = {loc.pk: loc.name for loc in rows}
    moved = _merge(earlier, relocated.moved)
    if any(m.connection_id not in uids for m in moved if m.connection_id is not None):
        uids = None  # an earlier step moved another connection's employee: look them up
    announce(conn, tenant_id, moved, names, uids)
    return relocated


def announce(
    conn: Connection,
    tenant_id: int,
    moved: Iterable[store.Moved],
    names: Mapping[int, str],
    uids: Mapping[int, str] | None = None,
) -> None:
    """``employee.location_changed`` for each employee an admin change moved (actor
    ``admin``), in the change's transaction. ``names``: location pk -> name, read before
    the change (a removed location keeps its name here); ``uids``: connection pk -> id,
    read here when not given."""
    moved = list(moved)
    if not moved:
        return
    if uids is None:
        uids = {c.id: c.uid for c in tenancy_store.connections_of(conn, tenant_id)}
    for m in moved:
        primary = None
        if m.primary_before != m.primary_after:
            primary = (
                names.get(m.primary_after) if m.primary_after is not None else None,
                names.get(m.primary_before) if m.primary_before is not None else None,
            )
        events.locations_moved(
            conn,
            tenant_id,
            uids.get(m.connection_id) if m.connection_id is not None else None,
            m.id,
            m.email,
            [names[pk] for pk in m.after if pk in names],
            [names[pk] for pk in m.before if pk in names],
            primary=primary,
            actor="admin",
        )


def _merge(first: Iterable[store.Moved], then: Iterable[store.Moved]) -> list[store.Moved]:
    """One move per employee of two steps of one change: before from the first step that
    moved it, after from the last."""
    out: dict[int, store.Moved] = {m.pk: m for m in first}
    for m in then:
        was = out.get(m.pk)
        out[m.pk] = (
            m
            if was is None
            else dataclasses.replace(m, before=was.before, primary_before=was.primary_before)
        )
    return [out[pk] for pk in sorted(out)]


def location_sync_changed(conn: Connection, row: ConnectionRow) -> None:
    """The on_change hook of the location_sync setting: the connection's employees move
    now, not one by one at their next update."""
    moved = relocate(conn, row.tenant_id, connection=row, at=write_time(conn, row.tenant_id))
    note(
        conn,
        row.tenant_id,
        row.uid,
        "location.resync",
        f"location_sync of connection {row.name!r} is now {settings_of(row).location_sync}: "
        f"{moved.employees} employees' locations changed ({moved.added} memberships added, "
        f"{moved.removed} removed)",
        actor="admin",
    )


# ---- admin actions -----------------------------------------------------------------------


def list_all(conn: Connection, tenant_id: int) -> list[LocationRow]:
    return store.all_of(conn, tenant_id)


def of_employee(conn: Connection, tenant_id: int, employee_pk: int) -> list[LocationRow]:
    """The locations an employee belongs to, in the tenant's order."""
    held = emp_store.locations_of(conn, tenant_id, [employee_pk]).get(employee_pk, set())
    return [loc for loc in store.all_of(conn, tenant_id) if loc.pk in held]


def get(conn: Connection, tenant_id: int, name_or_id: str) -> LocationRow:
    found = store.by_name(conn, tenant_id, name_or_id) or store.by_id(conn, tenant_id, name_or_id)
    if found is None:
        raise NotFound(f"no location called {name_or_id!r} (see `roster location list`)")
    return found


# Location names and mapped defaultLocationName values are kept in 200-character columns;
# longer ones are refused alike on SQLite and PostgreSQL (the SCIM side: mapping.py).
NAME_CHARS = 200


def _check_length(what: str, text: str) -> None:
    if max(len(text), len(text.lower())) > NAME_CHARS:
        raise InvalidValue(f"{what} is {len(text)} characters long; the limit is {NAME_CHARS}")


def add(
    conn: Connection,
    tenant_id: int,
    name: str,
    cities: Sequence[str] = (),
    locale_values: Sequence[str] = (),
) -> LocationRow:
    name = " ".join(name.split())
    if not name:
        raise InvalidValue("a location needs a name")
    _check_length("a location name", name)
    if store.by_name(conn, tenant_id, name) is not None:
        raise UniquenessConflict(f"a location called {name!r} already exists")
    city_keys = sorted({k for k in (key(c) for c in cities) if k})
    locale_keys = []
    for value in locale_values:
        normalised = locales.normalise(value)
        if normalised is None:
            raise InvalidValue(
                f"locale {value!r} is not ISO 639-1 language + ISO 3166-1 country (e.g. en_US)"
            )
        locale_keys.append(normalised)
    at = write_time(conn, tenant_id)
    row = store.insert_location(conn, tenant_id, name, city_keys, sorted(set(locale_keys)), at)
    # An exact name match assigns the primary location automatically.
    primary = store.assign_primary(conn, tenant_id, name.lower(), row.pk, at)
    joined = relocate(conn, tenant_id, location_pk=row.pk, at=at, earlier=primary.moved)
    note(
        conn,
        tenant_id,
        None,
        "location.add",
        f"location {name!r} added (cities: {', '.join(city_keys) or '-'}; "
        f"locales: {', '.join(row.locales) or '-'}); {joined.added} synced employees joined it; "
        f"{primary.employees} have it as primary location",
        actor="admin",
    )
    return row


def remove(conn: Connection, tenant_id: int, name: str) -> LocationRow:
    row = get(conn, tenant_id, name)
    users = [
        f"rule {r.name!r}"
        for r in access_store.rules_of(conn, tenant_id)
        if row.id in (r.actions.get("locations") or [])
    ] + [
        f"the role mapping of group {m.group_name!r}"
        for m in access_store.mappings_of(conn, tenant_id)
        if row.id in m.locations
    ]
    if users:
        raise Conflict(
            f"location {row.name!r} is used by {', '.join(users)}: change or remove those first"
        )
    at = write_time(conn, tenant_id)  # the tenant lock before the rows it changes
    # Roles held there go with it (said in the log: they are manual ones, since no rule or
    # mapping names the location any more); so do its grants' rows.
    access_store.touch_holders(conn, tenant_id, "location", row.pk, at)
    roles = access_store.delete_roles_at(conn, tenant_id, row.pk)
    access_store.delete_grants_of_target(conn, tenant_id, "location", row.pk)
    names = {loc.pk: loc.name for loc in store.all_of(conn, tenant_id)}
    moved = store.delete_location(conn, tenant_id, row.pk, at)
    members = sum(1 for m in moved if row.pk in m.before)
    primary = sum(1 for m in moved if m.primary_before == row.pk)
    # Manual employees' memberships go too: every member is told (actor admin).
    announce(conn, tenant_id, moved, names)
    note(
        conn,
        tenant_id,
        None,
        "location.remove",
        f"location {row.name!r} removed: {members} employees lost their membership; "
        f"{primary} lost it as primary location; {roles} roles held there were removed",
        actor="admin",
    )
    return row


def map_value(conn: Connection, tenant_id: int, value: str, location: str) -> LocationRow:
    """Map a defaultLocationName value to a location (values no name matches exactly)."""
    value_key = key(value)
    if value_key is None:
        raise InvalidValue("the value to map is empty")
    _check_length("the value to map", value)
    if store.by_name(conn, tenant_id, value_key) is not None:
        raise InvalidValue(
            f"{value!r} is the name of a location: exact matches are assigned automatically"
        )
    target = get(conn, tenant_id, location)
    store.put_alias(conn, tenant_id, value, target.pk)
    assigned = store.assign_primary(
        conn, tenant_id, value_key, target.pk, write_time(conn, tenant_id)
    )
    names = {loc.pk: loc.name for loc in store.all_of(conn, tenant_id)}
    announce(conn, tenant_id, assigned.moved, names)
    count = assigned.employees
    note(
        conn,
        tenant_id,
        None,
        "location.map",
        f"primary location {value!r} maps to {target.name!r} ({count} employees)",
        actor="admin",
    )
    return target


def unmap_value(conn: Connection, tenant_id: int, value: str) -> None:
    value_key = key(value)
    if value_key is None or not store.delete_alias(conn, tenant_id, value_key):
        raise NotFound(f"no mapping for {value!r}")
    assigned = store.assign_primary(conn, tenant_id, value_key, None, write_time(conn, tenant_id))
    names = {loc.pk: loc.name for loc in store.all_of(conn, tenant_id)}
    announce(conn, tenant_id, assigned.moved, names)
    note(conn, tenant_id, None, "location.unmap", f"mapping of {value!r} removed", actor="admin")


def mappings(conn: Connection, tenant_id: int) -> list[tuple[str, str]]:
    return store.aliases_of(conn, tenant_id)


def unmapped(conn: Connection, tenant_id: int) -> list[tuple[str, int]]:
    return store.unmapped(conn, tenant_id)


def join(
    conn: Connection, tenant_id: int, employee: EmployeeRow, chosen: Sequence[LocationRow]
) -> None:
    """A new manual employee's memberships, as an admin gave them (it has none yet; the
    caller announces the employee and its locations together)."""
    emp_store.set_locations(conn, tenant_id, employee.pk, {loc.pk for loc in chosen}, ())


def set_explicit(
    conn: Connection, tenant_id: int, employee: EmployeeRow, names: Sequence[str]
) -> list[LocationRow]:
    """A manual employee's locations, as an admin gave them."""
    chosen = [get(conn, tenant_id, n) for n in names]
    wanted = {loc.pk for loc in chosen}
    have = emp_store.locations_of(conn, tenant_id, [employee.pk])[employee.pk]
    emp_store.set_locations(conn, tenant_id, employee.pk, wanted - have, have - wanted)
    if wanted != have:
        named = {loc.pk: loc.name for loc in store.all_of(conn, tenant_id)}
        events.location_changed(
            conn,
            tenant_id,
            None,
            employee,
            [named[pk] for pk in wanted if pk in named],
            [named[pk] for pk in have if pk in named],
            actor="admin",
        )
    return chosen
