"""Rows binding role mappings and rule conditions to groups (``group_bindings``), and the
groups SCIM users are members of with what is bound to each. Every function takes
``tenant_id`` and scopes by it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from roster.storage.tables import connections, group_bindings, memberships, resources

B = group_bindings.c
C = connections.c
M = memberships.c
R = resources.c


@dataclass(frozen=True)
class GroupOf:
    """A group a SCIM user is a member of: its current name, and the role mappings and
    rule condition values (rule pk, folded value) bound to it."""

    pk: int
    name: str
    mappings: tuple[int, ...] = ()
    rule_values: tuple[tuple[int, str], ...] = ()


def groups_of_members(
    conn: Connection, tenant_id: int, member_pks: Iterable[int]
) -> dict[int, list[GroupOf]]:
    """The groups each SCIM user is in, with their bindings: one statement (evaluation
    reads it instead of the group names alone, so bindings cost no extra statement)."""
    pks = list(member_pks)
    out: dict[int, list[GroupOf]] = {pk: [] for pk in pks}
    if not pks:
        return out
    query = (
        select(M.member_pk, R.pk, R.display, B.mapping_pk, B.rule_pk, B.value_key)
        .join(resources, R.pk == M.group_pk)
        .outerjoin(group_bindings, B.group_pk == R.pk)
        .where(M.tenant_id == tenant_id, M.member_pk.in_(pks))
    )
    found: dict[tuple[int, int], tuple[str, list[int], list[tuple[int, str]]]] = {}
    for r in conn.execute(query):
        _, maps, values = found.setdefault((r.member_pk, r.pk), (r.display or "", [], []))
        if r.mapping_pk is not None:
            maps.append(r.mapping_pk)
        if r.rule_pk is not None:
            values.append((r.rule_pk, r.value_key))
    for (member, group), (name, maps, values) in found.items():
        out[member].append(GroupOf(group, name, tuple(sorted(maps)), tuple(sorted(values))))
    return out


@dataclass(frozen=True)
class Group:
    pk: int
    id: str
    connection_id: int
    name: str


def groups_named(
    conn: Connection, tenant_id: int, name: str, connection_id: int | None = None
) -> list[Group]:
    """The group called ``name`` (any case) in one connection, or in each of the tenant's
    (a displayName is unique per connection)."""
    query = select(R.pk, R.id, R.connection_id, R.display).where(
        R.tenant_id == tenant_id, R.resource_type == "Group", R.unique_key == name.lower()
    )
    if connection_id is not None:
        query = query.where(R.connection_id == connection_id)
    return [Group(r.pk, r.id, r.connection_id, r.display or name) for r in conn.execute(query)]


def insert_bindings(conn: Connection, tenant_id: int, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(group_bindings), [{"tenant_id": tenant_id, **r} for r in rows])


@dataclass(frozen=True)
class Bound:
    """A mapping (``mapping_pk``) or a rule's condition value (``rule_pk``, ``value_key``)
    that a bind or unbind changed."""

    mapping_pk: int | None
    rule_pk: int | None
    value_key: str


def bind_waiting(
    conn: Connection,
    tenant_id: int,
    connection_id: int,
    group_pk: int,
    name: str,
    name_key: str,
    rule_values: Sequence[tuple[int, str]],
) -> list[Bound]:
    """A group called ``name`` arrived in a connection (created, or renamed to it): bind
    what waits for that name there, and the rule condition values ``rule_values`` (rule
    pk, folded value: those naming it) that have no binding in this connection yet."""
    waiting = (
        update(group_bindings)
        .where(
            B.tenant_id == tenant_id,
            B.connection_id == connection_id,
            B.name_key == name_key,
            B.group_pk.is_(None),
        )
        .values(group_pk=group_pk, name=name)
        .returning(B.mapping_pk, B.rule_pk, B.value_key)
    )
    bound = [Bound(*r) for r in conn.execute(waiting)]
    if rule_values:
        rows = [
            {
                "tenant_id": tenant_id,
                "connection_id": connection_id,
                "rule_pk": rule_pk,
                "value_key": value_key,
                "group_pk": group_pk,
                "name": name,
                "name_key": name_key,
            }
            for rule_pk, value_key in rule_values
        ]
        dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
        # A value bound (or waiting on a last name) in this connection keeps its row.
        fresh = (
            dialect.insert(group_bindings)
            .values(rows)
            .on_conflict_do_nothing()
            .returning(B.mapping_pk, B.rule_pk, B.value_key)
        )
        bound += [Bound(*r) for r in conn.execute(fresh)]
    return bound


def unbind(
    conn: Connection, tenant_id: int, group_pk: int, name: str, name_key: str
) -> list[Bound]:
    """The group is about to be deleted: what is bound to it waits for its name again."""
    statement = (
        update(group_bindings)
        .where(B.tenant_id == tenant_id, B.group_pk == group_pk)
        .values(group_pk=None, name=name, name_key=name_key)
        .returning(B.mapping_pk, B.rule_pk, B.value_key)
    )
    return [Bound(*r) for r in conn.execute(statement)]


@dataclass(frozen=True)
class Binding:
    """One binding as admins read it: the group's current name and SCIM id when bound,
    the name it waits for when not."""

    mapping_pk: int | None
    rule_pk: int | None
    value_key: str
    connection_id: int
    connection_name: str
    group_id: str | None  # None: waiting
    name: str  # the bound group's current name, or the name waited for

    @property
    def waiting(self) -> bool:
        return self.group_id is None


def bindings_of(
    conn: Connection,
    tenant_id: int,
    *,
    mapping_pks: Sequence[int] | None = None,
    rules: bool = False,
) -> list[Binding]:
    """The bindings of these mappings, or of every rule (``rules``)."""
    query = (
        select(
            B.mapping_pk,
            B.rule_pk,
            B.value_key,
            B.connection_id,
            C.name.label("connection_name"),
            R.id.label("group_id"),
            R.display,
            B.name,
        )
        .join(connections, C.id == B.connection_id)
        .outerjoin(resources, and_(R.pk == B.group_pk))
        .where(B.tenant_id == tenant_id)
    )
    if rules:
        query = query.where(B.rule_pk.is_not(None))
    else:
        query = query.where(B.mapping_pk.in_(list(mapping_pks or ())))
    return [
        Binding(
            r.mapping_pk,
            r.rule_pk,
            r.value_key,
            r.connection_id,
            r.connection_name,
            r.group_id,
            (r.display or r.name) if r.group_id is not None else r.name,
        )
        for r in conn.execute(query.order_by(B.connection_id, B.pk))
    ]
