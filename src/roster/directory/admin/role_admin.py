"""Roles as admins manage them: group-to-role mappings of a connection (Envoy's "Sync
admins") and manual roles.

Envoy's FAQ decides the edges: a synced role cannot be removed by hand ("You must remove
that person from the Okta group first"); a manual role stays in force unless a synced one
outranks it (rules/roles.py). After every change the employees concerned are evaluated
at once, so roles never wait for the next push.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from roster.directory.admin.tenancy import get_connection
from roster.directory.entitlements import evaluations, group_bindings
from roster.directory.journal import events
from roster.directory.journal.clock import write_time
from roster.directory.journal.system_log import note
from roster.directory.people.employees import find as find_employee
from roster.directory.places import locations
from roster.directory.settings.registry import of as settings_of
from roster.errors import Conflict, InvalidValue, NotFound
from roster.rules import roles
from roster.storage import access as store
from roster.storage import employees as emp_store
from roster.storage import tenancy as tenancy_store
from roster.storage.access import MappingRow, RoleRow
from roster.storage.employees import EmployeeRow
from roster.storage.integrity import unique_key

COMPANY = 0


# ---- group -> role mappings --------------------------------------------------------------


def mappings(
    conn: Connection, tenant_id: int, connection_uid: str | None = None
) -> list[MappingRow]:
    connection_id = None
    if connection_uid is not None:
        connection_id = _connection(conn, tenant_id, connection_uid).id
    return store.mappings_of(conn, tenant_id, connection_id)


def _connection(conn: Connection, tenant_id: int, uid: str) -> tenancy_store.ConnectionRow:
    row = get_connection(conn, uid)
    if row.tenant_id != tenant_id:
        raise NotFound(f"no connection {uid!r} in this tenant")
    return row


def map_group(
    conn: Connection,
    tenant_id: int,
    connection_uid: str,
    group_name: str,
    role_text: str,
    location_names: Sequence[str] = (),
) -> MappingRow:
    """Map the group called ``group_name`` to a role. The mapping binds to that group and
    follows it through renames; with no such group yet it waits for one
    (directory/entitlements/group_bindings.py)."""
    at = write_time(conn, tenant_id)  # locks first: no group arrives while it binds
    row = _connection(conn, tenant_id, connection_uid)
    name = " ".join(group_name.split())
    if not name:
        raise InvalidValue("name the group (its displayName in the IdP)")
    role = roles.parse(role_text)
    places = [locations.get(conn, tenant_id, n) for n in location_names]
    if roles.scope_of(role) == "location" and not places:
        raise InvalidValue(f"{role} is a location role: name its locations (--location)")
    if roles.scope_of(role) == "company" and places:
        raise InvalidValue(f"{role} is a company role: it takes no locations")
    prefix = settings_of(row).group_role_prefix
    if prefix and not name.casefold().startswith(prefix.casefold()):
        raise InvalidValue(
            f"connection {row.name!r} maps only groups whose name starts with {prefix!r} "
            f"(setting group_role_prefix); {name!r} would never grant a role"
        )
    mapping_id = str(uuid.uuid4())
    taken = f"group {name!r} of connection {row.name!r} is already mapped to {role}"
    with unique_key(taken), conn.begin_nested():
        store.insert_mapping(
            conn,
            tenant_id,
            {
                "id": mapping_id,
                "connection_id": row.id,
                "group_name": name,
                "group_key": name.casefold(),
                "role": role,
                "locations": [p.id for p in places],
                "created_at": at,
            },
        )
    mapping = next(m for m in store.mappings_of(conn, tenant_id, row.id) if m.id == mapping_id)
    group = group_bindings.bind_mapping(conn, tenant_id, mapping)
    where = f" at {', '.join(p.name for p in places)}" if places else ""
    if group is None:
        why = (
            f"group {name!r} now grants {role}{where}; warning: connection {row.name!r} has "
            f"no group called {name!r} yet: the mapping waits for it"
        )
    else:
        why = f"group {group.name!r} ({group.id}) now grants {role}{where}"
    evaluations.connection_changed(conn, row, why)
    return mapping


def unmap_group(conn: Connection, tenant_id: int, mapping_id: str) -> MappingRow:
    found = [m for m in store.mappings_of(conn, tenant_id) if m.id == mapping_id.strip()]
    if not found:
        raise NotFound(f"no role mapping {mapping_id!r} (see `roster role mappings`)")
    mapping = found[0]
    row = tenancy_store.connection_by_id(conn, tenant_id, mapping.connection_id)
    assert row is not None  # mappings go with their connection
    bound = group_bindings.of_mappings(conn, tenant_id, [mapping]).get(mapping.pk)
    name = bound.name if bound is not None else mapping.group_name
    store.delete_mapping(conn, tenant_id, mapping.pk)  # its binding goes with it
    evaluations.connection_changed(conn, row, f"group {name!r} no longer grants {mapping.role}")
    return mapping


# ---- what employees hold -----------------------------------------------------------------


@dataclass(frozen=True)
class HeldRole:
    role: str
    location: str | None  # location name; None: the company role
    location_id: str | None
    source: str
    origin: str | None
    shadowed: str | None


def held(conn: Connection, tenant_id: int, employee: EmployeeRow) -> list[HeldRole]:
    names = {loc.pk: loc for loc in locations.list_all(conn, tenant_id)}
    out = []
    for r in store.roles_of(conn, tenant_id, [employee.pk])[employee.pk]:
        loc = names.get(r.scope_pk)
        out.append(
            HeldRole(
                r.role,
                loc.name if loc else None,
                loc.id if loc else None,
                r.source,
                r.origin,
                r.shadowed,
            )
        )
    return out


def _scope(conn: Connection, tenant_id: int, role: str, location: str | None) -> int:
    if roles.scope_of(role) == "company":
        if location:
            raise InvalidValue(f"{role} is a company role: it takes no location")
        return COMPANY
    if not location:
        raise InvalidValue(f"{role} is a location role: name the location (--location)")
    return locations.get(conn, tenant_id, location).pk


def _current(conn: Connection, tenant_id: int, employee_pk: int, scope_pk: int) -> RoleRow | None:
    rows = store.roles_of(conn, tenant_id, [employee_pk])[employee_pk]
    return next((r for r in rows if r.scope_pk == scope_pk), None)


def _synced_refusal(employee: EmployeeRow, row: RoleRow, where: str) -> Conflict:
    if row.source == "group":
        how = (
            f"it is synced from IdP group {row.origin!r}: remove {employee.email} from that "
            "group in the IdP (or remove the group's role mapping)"
        )
    else:
        how = f"it is granted by rule {row.origin!r}: change the rules, then `roster rule apply`"
    return Conflict(f"{employee.email}'s {row.role}{where} cannot be changed by hand: {how}")


def assign(
    conn: Connection, tenant_id: int, who: str, role_text: str, location: str | None = None
) -> EmployeeRow:
    # The tenant lock before reading what the employee holds: a SCIM write settling the
    # same role commits first (and its synced role is then refused), instead of both
    # inserting the row (PostgreSQL: a unique violation, or a deadlock on this lock).
    at = write_time(conn, tenant_id)
    employee = find_employee(conn, tenant_id, who)
    role = roles.parse(role_text)
    scope_pk = _scope(conn, tenant_id, role, location)
    where = f" at {location!r}" if scope_pk != COMPANY else ""
    row = _current(conn, tenant_id, employee.pk, scope_pk)
    if row is not None and row.source != "manual":
        raise _synced_refusal(employee, row, where)
    store.put_role(
        conn,
        tenant_id,
        RoleRow(
            employee.pk,
            scope_pk,
            None if scope_pk == COMPANY else scope_pk,
            role,
            "manual",
            None,
            None,
            None,
            at,
        ),
        exists=row is not None,
    )
    emp_store.touch(conn, tenant_id, [employee.pk], at)  # the read API shows roles
    was = f" (was {row.role})" if row is not None else ""
    replaced = f"{row.role}{where} -> " if row is not None and row.role != role else ""
    events.role_set_by_admin(
        conn,
        tenant_id,
        employee,
        "granted",
        f"{replaced}{role}{where}",
        f"assigned by hand{was}",
    )
    note(
        conn,
        tenant_id,
        None,
        "role.assign",
        f"{employee.email}: manual {role}{where}{was}",
        employee.id,
        actor="admin",
    )
    # A synced claim the old manual role outranked may now outrank the new one.
    evaluations.employee_changed(conn, tenant_id, employee, "manual role assigned")
    return employee


def unassign(conn: Connection, tenant_id: int, who: str, location: str | None = None) -> HeldRole:
    """Remove the manual role at ``location`` (None: the company role)."""
    at = write_time(conn, tenant_id)  # before reading the role: see assign
    employee = find_employee(conn, tenant_id, who)
    scope_pk = locations.get(conn, tenant_id, location).pk if location else COMPANY
    where = f" at {location!r}" if location else ""
    row = _current(conn, tenant_id, employee.pk, scope_pk)
    if row is None:
        what = f"role at {location!r}" if location else "company role"
        raise NotFound(f"{employee.email} holds no {what}")
    if row.source != "manual":
        raise _synced_refusal(employee, row, where)
    store.delete_role(conn, tenant_id, employee.pk, scope_pk)
    emp_store.touch(conn, tenant_id, [employee.pk], at)  # the read API shows roles
    events.role_set_by_admin(
        conn, tenant_id, employee, "revoked", f"{row.role}{where}", "unassigned by hand"
    )
    note(
        conn,
        tenant_id,
        None,
        "role.unassign",
        f"{employee.email}: manual {row.role}{where} removed",
        employee.id,
        actor="admin",
    )
    # A synced claim the manual role outranked takes over now.
    evaluations.employee_changed(conn, tenant_id, employee, "manual role removed")
    return HeldRole(row.role, location, None, "manual", None, row.shadowed)
