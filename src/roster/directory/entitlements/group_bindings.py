"""Role mappings and rule conditions name a group once, then follow the group itself.

Admins write a group's name (``roster role map --group Admins``, ``groups any Admins``);
IdPs rename groups (Okta: ``PATCH /Groups/{id}`` replacing ``displayName``). Matching by
name turned a mapping or rule off at the first rename and revoked what it granted. So a
name is looked up once and bound to the group's row (``group_bindings``):

- when the mapping or rule is made, to the group of that name if there is one — a
  mapping in its connection, a rule condition value in each connection that has one;
- otherwise it *waits* for that name (listed as waiting, with a warning), and binds when
  a group of that name arrives: ``POST /Groups``, or a rename to that name; the group's
  members are evaluated in that same SCIM operation;
- a rename changes nothing bound: evaluation joins bindings to the members' groups by
  the group's row, and the name shown is the group's current one;
- when the bound group is deleted, what was bound to it waits again for the group's
  last name (an IdP that unpushes and pushes a group again gets it back), and the log
  says so;
- a rule condition value binds per connection: in a tenant with two IdPs, ``groups any
  Admins`` binds to each connection's own "Admins"; once bound in a connection it is
  that group there, and another group taking the name later does not bind.

Costs: nothing on member changes; a group create, rename or delete costs one statement
more, two when a rule names the arriving name, and only in tenants whose mappings or
rules use groups at all (the cached catalogue says so, directory/settings/config_cache.py). No
configuration version is bumped: the cache holds names and rules, never bindings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from roster.directory.entitlements import evaluations
from roster.directory.entitlements.access import Catalogue, group_values
from roster.directory.journal.system_log import note
from roster.directory.settings.context import ConnectionContext
from roster.rules.model import fold
from roster.storage import group_bindings as store
from roster.storage.access import MappingRow, RuleRow
from roster.storage.group_bindings import Binding, Bound, Group
from roster.storage.resources import StoredResource

# ---- SCIM writes: a group arrives or goes ------------------------------------------------


def arrived(conn: Connection, ctx: ConnectionContext, group: StoredResource) -> None:
    """A group was created or renamed: bind what waits for its name in this connection,
    and rule conditions naming it that are not bound here yet. Called before the
    operation's evaluation (``operation_done``), which then sees the new bindings."""
    cat = evaluations.catalogue(conn, ctx)
    if not cat.uses_groups:
        return
    name = group.display or ""
    key = fold(name)
    bound = store.bind_waiting(
        conn,
        ctx.tenant_id,
        ctx.connection_id,
        group.pk,
        name,
        key,
        cat.group_values.get(key, ()),
    )
    if bound:
        note(
            conn,
            ctx.tenant_id,
            ctx.connection_uid,
            "group.bind",
            f"group {name!r} ({group.id}) arrived: {_what(cat, bound)} now follow this group "
            "(renames included); its members are evaluated",
        )


def leaving(conn: Connection, ctx: ConnectionContext, group: StoredResource) -> None:
    """A group is about to be deleted: what is bound to it waits for its name again."""
    cat = evaluations.catalogue(conn, ctx)
    if not cat.uses_groups:
        return
    name = group.display or ""
    unbound = store.unbind(conn, ctx.tenant_id, group.pk, name, fold(name))
    if unbound:
        note(
            conn,
            ctx.tenant_id,
            ctx.connection_uid,
            "group.unbind",
            f"warning: group {name!r} ({group.id}) deleted: {_what(cat, unbound)} grant "
            f"nothing now and wait for a group called {name!r} to be pushed again",
        )


def _what(cat: Catalogue, changed: Sequence[Bound]) -> str:
    mappings = {m.pk: m for ms in cat.mappings.values() for m in ms}
    rule_names = {r.id: r.name for r in cat.rules}
    parts = []
    for b in changed:
        if b.mapping_pk is not None and b.mapping_pk in mappings:
            m = mappings[b.mapping_pk]
            parts.append(f"the role mapping {m.id} ({m.role})")
        elif b.rule_pk is not None:
            name = rule_names.get(cat.rule_ids.get(b.rule_pk, ""), "?")
            parts.append(f"rule {name!r} (groups condition)")
    return ", ".join(dict.fromkeys(parts)) or "bindings"


# ---- admin changes: a mapping or a rule is made ------------------------------------------


def bind_mapping(conn: Connection, tenant_id: int, mapping: MappingRow) -> Group | None:
    """Bind a new mapping to its connection's group of that name (None: it waits)."""
    found = store.groups_named(conn, tenant_id, mapping.group_name, mapping.connection_id)
    group = found[0] if found else None
    name = group.name if group is not None else mapping.group_name
    store.insert_bindings(
        conn,
        tenant_id,
        [
            {
                "connection_id": mapping.connection_id,
                "mapping_pk": mapping.pk,
                "value_key": "",
                "group_pk": group.pk if group is not None else None,
                "name": name,
                "name_key": fold(name),
            }
        ],
    )
    return group


def bind_rule(conn: Connection, tenant_id: int, rule: RuleRow) -> list[str]:
    """Bind a new rule's groups conditions to the groups of those names, in each
    connection that has one. Returns the names no connection has yet (they wait)."""
    rows = []
    waiting = []
    for value in group_values(rule):
        found = store.groups_named(conn, tenant_id, " ".join(value.split()))
        if not found:
            waiting.append(value)
        rows += [
            {
                "connection_id": g.connection_id,
                "rule_pk": rule.pk,
                "value_key": fold(value),
                "group_pk": g.pk,
                "name": g.name,
                "name_key": fold(g.name),
            }
            for g in found
        ]
    store.insert_bindings(conn, tenant_id, rows)
    return waiting


# ---- what admins read ----------------------------------------------------------------------


def of_mappings(
    conn: Connection, tenant_id: int, mappings: Sequence[MappingRow]
) -> dict[int, Binding]:
    """Mapping pk -> its binding (the group's current name, or the name it waits for)."""
    rows = store.bindings_of(conn, tenant_id, mapping_pks=[m.pk for m in mappings])
    return {b.mapping_pk: b for b in rows if b.mapping_pk is not None}


@dataclass(frozen=True)
class RuleGroups:
    """Per rule condition value (rule pk, folded value): the name to show (the bound
    groups' current names, or the name waited for) and whether it waits."""

    names: dict[tuple[int, str], str]
    waiting: dict[int, list[str]]  # rule pk -> the names its conditions wait for

    def waiting_for(self, rule_pk: int) -> list[str]:
        return self.waiting.get(rule_pk, [])


def of_rules(conn: Connection, tenant_id: int, rules: Sequence[RuleRow]) -> RuleGroups:
    """How the rules' groups conditions are bound now. A value bound in several
    connections to groups now called differently shows both names (``A/B``)."""
    by_value: dict[tuple[int, str], list[Binding]] = {}
    for b in store.bindings_of(conn, tenant_id, rules=True):
        if b.rule_pk is not None:
            by_value.setdefault((b.rule_pk, b.value_key), []).append(b)
    names: dict[tuple[int, str], str] = {}
    waiting: dict[int, list[str]] = {}
    for rule in rules:
        for value in group_values(rule):
            found = by_value.get((rule.pk, fold(value)), [])
            bound = sorted({b.name for b in found if not b.waiting}, key=str.casefold)
            if bound:
                names[(rule.pk, fold(value))] = "/".join(bound)
                continue
            # Waiting: on the last name of a deleted group where there is one.
            last = sorted({b.name for b in found}, key=str.casefold)
            shown = "/".join(last) if last else value
            names[(rule.pk, fold(value))] = shown
            waiting.setdefault(rule.pk, []).append(shown)
    return RuleGroups(names, waiting)
