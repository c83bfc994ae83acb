"""The tenant's rules and access groups, as admins edit them.

Editing rules changes no one's access by itself: `roster rule dry-run` shows who would
gain and lose what, and `roster rule apply` re-evaluates the directory
(directory/admin/rule_runs.py). SCIM writes evaluate the employees they touch with the rules
as they are at that moment.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from roster.directory.entitlements import group_bindings
from roster.directory.entitlements.access import to_rule
from roster.directory.entitlements.group_bindings import RuleGroups
from roster.directory.journal.clock import write_time
from roster.directory.journal.system_log import note, now
from roster.directory.places import locations
from roster.errors import Conflict, InvalidValue, NotFound, UniquenessConflict
from roster.rules import roles, syntax
from roster.rules.model import Condition
from roster.storage import access as store
from roster.storage.access import AccessGroupRow, RuleRow
from roster.storage.integrity import unique_key

NEXT_STEP = "see who gains and loses with `roster rule dry-run`, then `roster rule apply`"


@dataclass(frozen=True)
class RuleSpec:
    name: str
    conditions: Sequence[str] = ()  # condition text (rules/syntax.py)
    match: str = "all"
    access_groups: Sequence[str] = ()  # names or ids
    role: str | None = None
    locations: Sequence[str] = ()  # names or ids
    mobile_key: bool = False
    position: int | None = None  # 1-based; None: last
    extra: dict[str, str] = field(default_factory=dict)


def _clean_name(name: str, what: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise InvalidValue(f"a {what} needs a name")
    if len(name) > 200:
        raise InvalidValue(f"a {what} name has at most 200 characters")
    return name


# ---- access groups ---------------------------------------------------------------------------


def access_groups(conn: Connection, tenant_id: int) -> list[AccessGroupRow]:
    return store.access_groups_of(conn, tenant_id)


def access_group(conn: Connection, tenant_id: int, name_or_id: str) -> AccessGroupRow:
    wanted = " ".join(name_or_id.split()).casefold()
    for row in store.access_groups_of(conn, tenant_id):
        if row.id == name_or_id.strip() or row.name.casefold() == wanted:
            return row
    raise NotFound(f"no access group {name_or_id!r} (see `roster access-group list`)")


def add_access_group(
    conn: Connection, tenant_id: int, name: str, description: str | None = None
) -> AccessGroupRow:
    name = _clean_name(name, "access group")
    with unique_key(f"an access group called {name!r} already exists"), conn.begin_nested():
        store.insert_access_group(
            conn,
            tenant_id,
            {
                "id": str(uuid.uuid4()),
                "name": name,
                "name_key": name.casefold(),
                "description": description,
                "created_at": now(),
            },
        )
    note(conn, tenant_id, None, "access_group.add", f"access group {name!r} added", actor="admin")
    return access_group(conn, tenant_id, name)


def remove_access_group(conn: Connection, tenant_id: int, name_or_id: str) -> AccessGroupRow:
    at = write_time(conn, tenant_id)  # the tenant lock before the grants it deletes
    row = access_group(conn, tenant_id, name_or_id)
    users = [r.name for r in store.rules_of(conn, tenant_id) if row.id in _ids(r, "access_groups")]
    if users:
        raise Conflict(
            f"access group {row.name!r} is granted by rule(s) {', '.join(map(repr, users))}: "
            "remove those rules first (`roster rule remove`), then add them again without it"
        )
    store.touch_holders(conn, tenant_id, "access_group", row.pk, at)
    store.delete_grants_of_target(conn, tenant_id, "access_group", row.pk)
    store.delete_access_group(conn, tenant_id, row.pk)
    note(
        conn,
        tenant_id,
        None,
        "access_group.remove",
        f"access group {row.name!r} removed",
        actor="admin",
    )
    return row


def _ids(rule: RuleRow, key: str) -> list[str]:
    return list(rule.actions.get(key) or [])


# ---- rules -------------------------------------------------------------------------------------


def rules(conn: Connection, tenant_id: int) -> list[RuleRow]:
    return store.rules_of(conn, tenant_id)


def rule(conn: Connection, tenant_id: int, name_or_id: str) -> RuleRow:
    wanted = " ".join(name_or_id.split()).casefold()
    all_rules = store.rules_of(conn, tenant_id)
    for row in all_rules:
        if row.id == name_or_id.strip() or row.name.casefold() == wanted:
            return row
    if name_or_id.strip().isdigit():
        index = int(name_or_id) - 1
        if 0 <= index < len(all_rules):
            return all_rules[index]
    raise NotFound(f"no rule {name_or_id!r} (see `roster rule list`)")


def digest(rows: Sequence[RuleRow]) -> str:
    """Identifies the rules as evaluation sees them (order, conditions, actions)."""
    doc = [[r.id, r.match, r.conditions, r.actions] for r in rows]
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _checked(conn: Connection, tenant_id: int, spec: RuleSpec) -> dict[str, Any]:
    """The stored form of ``spec`` (name, match, conditions, actions), validated as
    `roster rule add` validates it."""
    name = _clean_name(spec.name, "rule")
    match = spec.match.strip().lower()
    if match not in ("all", "any"):
        raise InvalidValue(f"match must be all or any, not {spec.match!r}")
    conditions = [syntax.parse(text) for text in spec.conditions]
    role = roles.parse(spec.role) if spec.role else None
    places = [locations.get(conn, tenant_id, loc) for loc in spec.locations]
    if role and roles.scope_of(role) == "location" and not places:
        raise InvalidValue(f"{role} is a location role: name the locations it applies to")
    granted = [access_group(conn, tenant_id, g) for g in spec.access_groups]
    return {
        "name": name,
        "name_key": name.casefold(),
        "match": match,
        "conditions": [
            {"field": c.field, "op": c.op, "values": list(c.values)} for c in conditions
        ],
        "actions": {
            "access_groups": list(dict.fromkeys(g.id for g in granted)),
            "role": role,
            "locations": list(dict.fromkeys(p.id for p in places)),
            "mobile_key": spec.mobile_key,
        },
    }


def _name_taken(existing: Sequence[RuleRow], name: str, other_than: int | None = None) -> None:
    same = [r for r in existing if r.name.casefold() == name.casefold() and r.pk != other_than]
    if same:
        raise UniquenessConflict(
            f"a rule called {same[0].name!r} already exists (position {same[0].position})"
        )


def add_rule(conn: Connection, tenant_id: int, spec: RuleSpec) -> RuleRow:
    write_time(conn, tenant_id)  # locks first: one rule edit at a time, names and positions whole
    values = _checked(conn, tenant_id, spec)
    name = values["name"]
    existing = store.rules_of(conn, tenant_id)
    _name_taken(existing, name)
    position = len(existing) + 1 if spec.position is None else spec.position
    if not 1 <= position <= len(existing) + 1:
        raise InvalidValue(f"position must be between 1 and {len(existing) + 1}")
    at = now()
    rule_id = str(uuid.uuid4())
    store.insert_rule(
        conn,
        tenant_id,
        {"id": rule_id, "position": 0, **values, "created_at": at, "updated_at": at},
    )
    row = rule(conn, tenant_id, rule_id)
    order = [r.pk for r in existing]
    order.insert(position - 1, row.pk)
    store.set_positions(conn, tenant_id, order)
    # Its groups conditions bind to the groups of those names now (and follow them
    # through renames); a name no connection has yet waits
    # (directory/entitlements/group_bindings.py).
    waiting = group_bindings.bind_rule(conn, tenant_id, row)
    warning = "; ".join(
        f"warning: no connection has a group called {w!r} yet: the condition waits for it"
        for w in waiting
    )
    note(
        conn,
        tenant_id,
        None,
        "rule.add",
        f"rule {name!r} added at position {position}: {describe(conn, tenant_id, row)}; "
        + (f"{warning}; " if warning else "")
        + NEXT_STEP,
        actor="admin",
    )
    return rule(conn, tenant_id, rule_id)


def edit_rule(conn: Connection, tenant_id: int, name_or_id: str, spec: RuleSpec) -> RuleRow:
    """Replace a rule's name, conditions and grants; it keeps its id and position
    (``spec.position`` is ignored: `move_rule` moves)."""
    write_time(conn, tenant_id)  # locks first: one rule edit at a time, names and positions whole
    row = rule(conn, tenant_id, name_or_id)
    values = _checked(conn, tenant_id, spec)
    _name_taken(store.rules_of(conn, tenant_id), values["name"], other_than=row.pk)
    before = describe(conn, tenant_id, row)
    store.update_rule(conn, tenant_id, row.pk, {**values, "updated_at": now()})
    edited = rule(conn, tenant_id, row.id)
    renamed = f" (renamed from {row.name!r})" if edited.name != row.name else ""
    note(
        conn,
        tenant_id,
        None,
        "rule.edit",
        f"rule {edited.name!r}{renamed} at position {edited.position} edited: was {before}; "
        f"now {describe(conn, tenant_id, edited)}; " + NEXT_STEP,
        actor="admin",
    )
    return edited


def move_rule(conn: Connection, tenant_id: int, name_or_id: str, position: int) -> RuleRow:
    write_time(conn, tenant_id)  # locks first: one rule edit at a time, names and positions whole
    row = rule(conn, tenant_id, name_or_id)
    existing = store.rules_of(conn, tenant_id)
    if not 1 <= position <= len(existing):
        raise InvalidValue(f"position must be between 1 and {len(existing)}")
    order = [r.pk for r in existing if r.pk != row.pk]
    order.insert(position - 1, row.pk)
    store.set_positions(conn, tenant_id, order)
    note(
        conn,
        tenant_id,
        None,
        "rule.move",
        f"rule {row.name!r} moved from position {row.position} to {position}; " + NEXT_STEP,
        actor="admin",
    )
    return rule(conn, tenant_id, row.id)


def remove_rule(conn: Connection, tenant_id: int, name_or_id: str) -> RuleRow:
    write_time(conn, tenant_id)  # locks first: one rule edit at a time, names and positions whole
    row = rule(conn, tenant_id, name_or_id)
    store.delete_rule(conn, tenant_id, row.pk)
    store.set_positions(conn, tenant_id, [r.pk for r in store.rules_of(conn, tenant_id)])
    note(
        conn,
        tenant_id,
        None,
        "rule.remove",
        f"rule {row.name!r} removed; " + NEXT_STEP,
        actor="admin",
    )
    return row


def describe(
    conn: Connection, tenant_id: int, row: RuleRow, groups: RuleGroups | None = None
) -> str:
    """``if all of: city eq Boston; groups any Eng -> access groups 'Doors'; …``, each
    group by its current name, and the names a condition still waits for.
    ``groups``: the rules' bindings, when the caller read them for several rules."""
    if groups is None:
        groups = group_bindings.of_rules(conn, tenant_id, [row])
    conds = [syntax.render(c) for c in conditions(row, groups)]
    head = f"if {row.match} of: {'; '.join(conds)}" if conds else "for everyone"
    waiting = groups.waiting_for(row.pk)
    wait = f" (waiting for group {', '.join(map(repr, waiting))})" if waiting else ""
    return f"{head}{wait} -> {grants_text(conn, tenant_id, row)}"


def spec_of(conn: Connection, tenant_id: int, row: RuleRow) -> RuleSpec:
    """A stored rule as the spec that would make it again (names, condition texts as
    written): what an edit form starts from."""
    a = row.actions
    groups = {g.id: g.name for g in store.access_groups_of(conn, tenant_id)}
    places = {loc.id: loc.name for loc in locations.list_all(conn, tenant_id)}
    return RuleSpec(
        row.name,
        tuple(syntax.render(c) for c in to_rule(row).conditions),
        row.match,
        tuple(groups.get(i, i) for i in a.get("access_groups") or ()),
        a.get("role"),
        tuple(places.get(i, i) for i in a.get("locations") or ()),
        bool(a.get("mobile_key")),
        row.position,
    )


def conditions(row: RuleRow, groups: RuleGroups) -> list[Condition]:
    """The rule's conditions, groups shown by the current names of their groups."""
    return list(to_rule(row, groups.names).conditions)


def rule_groups(conn: Connection, tenant_id: int, rows: Sequence[RuleRow]) -> RuleGroups:
    return group_bindings.of_rules(conn, tenant_id, rows)


def grants_text(conn: Connection, tenant_id: int, row: RuleRow) -> str:
    a = row.actions
    names = {g.id: g.name for g in store.access_groups_of(conn, tenant_id)}
    places = {loc.id: loc.name for loc in locations.list_all(conn, tenant_id)}
    parts = []
    if a.get("access_groups"):
        parts.append(
            "access groups " + ", ".join(repr(names.get(i, i)) for i in a["access_groups"])
        )
    if a.get("role"):
        parts.append(f"role {a['role']}")
    if a.get("locations"):
        parts.append("locations " + ", ".join(repr(places.get(i, i)) for i in a["locations"]))
    if a.get("mobile_key"):
        parts.append("a mobile key")
    return ", ".join(parts) or "nothing (an exclusion: employees it matches get no access)"
