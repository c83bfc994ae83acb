"""Store functions for SCIM resources and group memberships.

Every function takes the tenant and connection scope explicitly; every statement filters
on both. Member changes touch only the rows they name (never the whole member list).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal_column,
    null,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import CompoundSelect, Select
from sqlalchemy.sql.elements import BindParameter

from roster.errors import ConcurrentChange, InvalidValue, TooMany
from roster.scim.filter import Filter
from roster.scim.paths import AttrRef
from roster.scim.schema import ResourceType
from roster.storage.filtering import Scope, compile_filter, sort_key, sorts_by_column
from roster.storage.tables import KEY_CHARS, employees, memberships, resource_values, resources
from roster.storage.values import flatten

R = resources.c
M = memberships.c

_ROW_COLUMNS = (
    R.pk,
    R.id,
    R.resource_type,
    R.doc,
    R.version,
    R.created_at,
    R.updated_at,
    R.external_id,
    R.display,
)


@dataclass(frozen=True)
class StoredResource:
    pk: int
    id: str
    resource_type: str
    doc: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    external_id: str | None
    display: str | None


@dataclass(frozen=True)
class MemberRef:
    pk: int
    id: str
    resource_type: str
    display: str | None


def _row(r: Any) -> StoredResource:
    return StoredResource(
        r.pk,
        r.id,
        r.resource_type,
        r.doc,
        r.version,
        r.created_at,
        r.updated_at,
        r.external_id,
        r.display,
    )


def _scoped(scope: Scope) -> tuple[ColumnElement[bool], ...]:
    return (
        R.tenant_id == scope.tenant_id,
        R.connection_id == scope.connection_id,
        R.resource_type == scope.rt.name,
    )


def identity_columns(rt: ResourceType, doc: dict[str, Any]) -> dict[str, Any]:
    """The columns derived from a document: unique key, externalId, display name."""
    name = "userName" if rt.name == "User" else "displayName"
    key = str(doc[name])
    external_id = doc.get("externalId")
    unique_key = key.lower()
    # The lower-cased key is what is stored, and lower-casing can lengthen text (İ -> i̇).
    for label, value, stored in ((name, key, unique_key), ("externalId", external_id, None)):
        if value is not None and max(len(value), len(stored or "")) > KEY_CHARS:
            raise InvalidValue(f"{label} is {len(value)} characters long; the limit is {KEY_CHARS}")
    display = str(doc.get("displayName") or key)[:KEY_CHARS]
    return {"unique_key": unique_key, "external_id": external_id, "display": display}


# Hot statements are built once with bind parameters; building costs more than running.
_SCOPE_PARAMS = (
    R.tenant_id == bindparam("tenant_id"),
    R.connection_id == bindparam("connection_id"),
    R.resource_type == bindparam("resource_type"),
)
_GET = select(*_ROW_COLUMNS).where(*_SCOPE_PARAMS, R.id == bindparam("id"))
# FOR NO KEY UPDATE: memberships a concurrent request inserts reference this row and
# hold FOR KEY SHARE on it, which this lock does not wait for (nor they for it).
_GET_FOR_UPDATE = _GET.with_for_update(key_share=True)
# A resource and the members a PatchOp names, locked together in primary-key order (the
# one order every writer locks resources in); documents only for the resource itself.
_GET_WITH_NAMED = (
    select(
        R.pk,
        R.id,
        R.resource_type,
        case((R.id == bindparam("id"), R.doc), else_=null()).label("doc"),
        R.version,
        R.created_at,
        R.updated_at,
        R.external_id,
        R.display,
    )
    .where(
        R.tenant_id == bindparam("tenant_id"),
        R.connection_id == bindparam("connection_id"),
        R.resource_type.in_(("User", "Group")),  # the id index's third column
        R.id.in_(bindparam("ids", expanding=True)),
    )
    .order_by(R.pk)
    .with_for_update(key_share=True)
)
_KEY_TAKEN = (
    select(R.pk)
    .where(*_SCOPE_PARAMS, R.unique_key == bindparam("key"), R.pk != bindparam("except_pk"))
    .limit(1)
)


# A taken unique key (a concurrent create, or the uniqueness the caller did not check)
# inserts nothing instead of failing the transaction.
_INSERT_SQLITE = sqlite.insert(resources).on_conflict_do_nothing().returning(R.pk)
_INSERT_PG = postgresql.insert(resources).on_conflict_do_nothing().returning(R.pk)
_INSERT_VALUES = insert(resource_values)
_DELETE_VALUES = delete(resource_values).where(resource_values.c.resource_pk == bindparam("pk"))
# The SET clause comes from the parameters given (bind names that are no column's); the
# version read is part of the condition, so a lost update cannot happen silently.
_UPDATE = update(resources).where(
    R.tenant_id == bindparam("b_tenant"),
    R.connection_id == bindparam("b_connection"),
    R.resource_type == bindparam("b_type"),
    R.pk == bindparam("b_pk"),
    R.version == bindparam("b_version"),
)
_BY_PKS = select(*_ROW_COLUMNS).where(R.pk.in_(bindparam("pks", expanding=True)))


def _params(scope: Scope, **extra: Any) -> dict[str, Any]:
    return {
        "tenant_id": scope.tenant_id,
        "connection_id": scope.connection_id,
        "resource_type": scope.rt.name,
        **extra,
    }


def get(
    conn: Connection, scope: Scope, resource_id: str, *, for_update: bool = False
) -> StoredResource | None:
    """One resource; ``for_update`` locks its row until commit (PostgreSQL; SQLite's
    BEGIN IMMEDIATE already serialises writers), so a concurrent writer waits and then
    sees this transaction's result instead of overwriting it."""
    row = conn.execute(
        _GET_FOR_UPDATE if for_update else _GET, _params(scope, id=resource_id)
    ).first()
    return _row(row) if row else None


_BY_UNIQUE = {
    "unique_key": select(*_ROW_COLUMNS).where(*_SCOPE_PARAMS, R.unique_key == bindparam("v")),
    "id": select(*_ROW_COLUMNS).where(*_SCOPE_PARAMS, R.id == bindparam("v")),
}


def find_unique(conn: Connection, scope: Scope, column: str, value: str) -> list[StoredResource]:
    """The resource (or none) whose unique ``column`` ("unique_key" or "id") is ``value``."""
    return [_row(r) for r in conn.execute(_BY_UNIQUE[column], _params(scope, v=value))]


def get_with_named(
    conn: Connection, scope: Scope, resource_id: str, named: Sequence[str]
) -> tuple[StoredResource | None, dict[str, MemberRef]]:
    """The resource, locked, and the users and groups of its connection among ``named``
    (ids a PatchOp names as members), locked with it: one statement."""
    ids = list(dict.fromkeys([resource_id, *named]))
    params = _params(scope, id=resource_id, ids=ids)
    stored: StoredResource | None = None
    found: dict[str, MemberRef] = {}
    for r in conn.execute(_GET_WITH_NAMED, params):
        if r.id == resource_id and r.resource_type == scope.rt.name:
            stored = _row(r)
        if r.id in named and r.resource_type in ("User", "Group"):
            found[r.id] = MemberRef(r.pk, r.id, r.resource_type, r.display)
    return stored, found


def unique_key_taken(conn: Connection, scope: Scope, key: str, except_pk: int | None) -> bool:
    params = _params(scope, key=key, except_pk=-1 if except_pk is None else except_pk)
    return conn.execute(_KEY_TAKEN, params).first() is not None


def _write_values(
    conn: Connection, scope: Scope, pk: int, doc: dict[str, Any], *, fresh: bool
) -> None:
    if not fresh:
        conn.execute(_DELETE_VALUES, {"pk": pk})
    rows = flatten(scope.rt, doc)
    if rows:
        common = {
            "resource_pk": pk,
            "tenant_id": scope.tenant_id,
            "connection_id": scope.connection_id,
        }
        conn.execute(_INSERT_VALUES, [{**common, **r} for r in rows])


def insert_resource(
    conn: Connection, scope: Scope, doc: dict[str, Any], now: datetime
) -> StoredResource | None:
    """The new resource, or None when its unique key (userName, displayName) is taken
    in its connection."""
    values = {
        "id": str(uuid.uuid4()),
        "tenant_id": scope.tenant_id,
        "connection_id": scope.connection_id,
        "resource_type": scope.rt.name,
        "doc": doc,
        "version": 1,
        "created_at": now,
        "updated_at": now,
        **identity_columns(scope.rt, doc),
    }
    insert_row = _INSERT_SQLITE if conn.dialect.name == "sqlite" else _INSERT_PG
    pk = conn.execute(insert_row, values).scalar()
    if pk is None:
        return None
    _write_values(conn, scope, pk, doc, fresh=True)
    return StoredResource(
        pk, values["id"], scope.rt.name, doc, 1, now, now, values["external_id"], values["display"]
    )


def update_resource(
    conn: Connection,
    scope: Scope,
    current: StoredResource,
    doc: dict[str, Any],
    now: datetime,
    *,
    doc_changed: bool = True,
) -> StoredResource:
    """Write a new document (or only bump the version, for member-only changes).

    The update is conditional on the version read, so a write can never silently
    replace one it did not see (the row lock of ``get(for_update=True)`` makes this the
    normal case; the check is the guarantee).
    """
    changes: dict[str, Any] = {"version": current.version + 1, "updated_at": now}
    if doc_changed:
        changes.update(doc=doc, **identity_columns(scope.rt, doc))
    where = {
        "b_tenant": scope.tenant_id,
        "b_connection": scope.connection_id,
        "b_type": scope.rt.name,
        "b_pk": current.pk,
        "b_version": current.version,
    }
    written = conn.execute(_UPDATE, {**where, **changes})
    if written.rowcount != 1:
        raise ConcurrentChange(f"{scope.rt.name} {current.id} changed while this request ran")
    if doc_changed:
        _write_values(conn, scope, current.pk, doc, fresh=False)
    return StoredResource(
        current.pk,
        current.id,
        current.resource_type,
        doc if doc_changed else current.doc,
        current.version + 1,
        current.created_at,
        now,
        changes.get("external_id", current.external_id),
        changes.get("display", current.display),
    )


def delete_resource(conn: Connection, scope: Scope, current: StoredResource) -> None:
    """Delete a resource; the caller gave the resources linked to it new versions first
    (``touch_related``, before any employee row: the write path's lock order)."""
    # Values and memberships go by ON DELETE CASCADE.
    conn.execute(delete(resources).where(*_scoped(scope), R.pk == current.pk))


# Where rows are picked by primary key, the tenant is still checked, but through an
# expression no index can serve: SQLite's planner (no statistics) otherwise prefers a
# tenant_id index over a list of primary keys and walks every row of the tenant.
def _tenant_is(value: int | BindParameter[int]) -> ColumnElement[bool]:
    return (R.tenant_id + 0) == value


_TOUCH = (
    update(resources)
    .where(_tenant_is(bindparam("t")), R.pk.in_(bindparam("pks", expanding=True)))
    .values(version=R.version + 1, updated_at=bindparam("now"))
)


_TOUCH_WITH_EMPLOYEES_PG = text(
    # One statement on PostgreSQL: the resources' new versions, and the employees synced
    # from them (their rendered groups changed).
    "WITH touched AS ("
    " UPDATE resources SET version = version + 1, updated_at = :now"
    " WHERE tenant_id + 0 = :t AND pk = ANY(:pks) RETURNING pk)"
    " UPDATE employees SET updated_at = :now"
    " WHERE tenant_id = :t AND resource_pk IN (SELECT pk FROM touched)"
)
_TOUCH_EMPLOYEES = (
    update(employees)
    .where(
        employees.c.tenant_id == bindparam("t"),
        employees.c.resource_pk.in_(bindparam("pks", expanding=True)),
    )
    .values(updated_at=bindparam("now"))
)


def touch_with_employees(conn: Connection, scope: Scope, pks: Sequence[int], now: datetime) -> None:
    """New versions for resources whose rendered ``groups``/``members`` changed, and a
    new ``updatedAt`` for the employees synced from them."""
    if not pks:
        return
    params = {"t": scope.tenant_id, "pks": list(dict.fromkeys(pks)), "now": now}
    if conn.dialect.name == "postgresql":
        conn.execute(_TOUCH_WITH_EMPLOYEES_PG, params)
    else:
        conn.execute(_TOUCH, params)
        conn.execute(_TOUCH_EMPLOYEES, params)


def touch(conn: Connection, scope: Scope, pks: Sequence[int], now: datetime) -> None:
    """New versions for resources whose rendered ``groups``/``members`` changed."""
    if pks:
        conn.execute(_TOUCH, {"t": scope.tenant_id, "pks": list(pks), "now": now})


def touch_related(conn: Connection, scope: Scope, pk: int, now: datetime) -> None:
    """New versions for everything linked to ``pk`` by membership, either way round."""
    linked = (
        select(M.group_pk)
        .where(M.member_pk == pk)
        .union(select(M.member_pk).where(M.group_pk == pk))
    )
    _bump(conn, scope, linked, now)


def _bump(
    conn: Connection, scope: Scope, among: Select[Any] | CompoundSelect[Any], now: datetime
) -> None:
    """New versions for the resources ``among`` selects (set-based, for derived sets)."""
    conn.execute(
        update(resources)
        .where(_tenant_is(scope.tenant_id), R.pk.in_(among))
        .values(version=R.version + 1, updated_at=now)
    )


@dataclass(frozen=True)
class ResourceQuery:
    """A list or search request as storage answers it: the SCIM filter (a parsed value
    from scim/filter.py), the sort attribute and direction, and the page."""

    filter: Filter | None
    sort_by: AttrRef | None
    descending: bool
    offset: int
    count: int
    # Sorting by an attribute without an index: refuse (tooMany) above this many matches.
    max_sorted: int | None = None


def query(conn: Connection, scope: Scope, q: ResourceQuery) -> tuple[int, list[StoredResource]]:
    """(totalResults, page) of ``q``; the SQL is built here, from the query's values."""
    where = compile_filter(scope, q.filter) if q.filter is not None else None
    order: list[Any] = []
    cap = None
    if q.sort_by is not None:
        key = sort_key(scope, q.sort_by)
        # RFC 7644 §3.4.2.3: resources without the attribute come last, either way.
        order.append((key.desc() if q.descending else key.asc()).nulls_last())
        cap = None if sorts_by_column(scope, q.sort_by) else q.max_sorted
    return search(conn, scope, where, order, q.offset, q.count, max_total=cap)


def search(
    conn: Connection,
    scope: Scope,
    where: ColumnElement[bool] | None,
    order_by: Sequence[Any],
    offset: int,
    limit: int,
    *,
    max_total: int | None = None,
) -> tuple[int, list[StoredResource]]:
    """(totalResults, page), the total counted in SQL (index-only), never by loading rows.

    A first page that is not full is the whole answer and its length the total, so the
    usual IdP lookup (``userName eq …``) needs no count. A deeper page pages the narrow
    key index first and then fetches just those rows: skipped rows are never read.
    """
    # The scope is bound at execution: the statement around it is then built from
    # cached parts, which matters on the hot lookup path.
    conds = [*_SCOPE_PARAMS] + ([where] if where is not None else [])
    params = _params(scope)
    ordered = (*order_by, R.pk)
    first_page = select(*_ROW_COLUMNS).where(*conds).order_by(*ordered).limit(limit)
    count = select(func.count()).select_from(resources).where(*conds)
    if offset == 0 and limit > 0 and max_total is None:
        rows = [_row(r) for r in conn.execute(first_page, params)]
        return (len(rows) if len(rows) < limit else conn.execute(count, params).scalar_one()), rows
    total = conn.execute(count, params).scalar_one()
    if max_total is not None and total > max_total and limit > 0:
        raise TooMany(
            f"{total} resources match; sorting more than {max_total} by an attribute without "
            "an index is refused: narrow the filter, or sort by userName/displayName, "
            "externalId, id or meta dates"
        )
    if limit <= 0 or offset >= total:
        return total, []
    if offset == 0:
        return total, [_row(r) for r in conn.execute(first_page, params)]
    if not order_by and offset > total // 2:
        # In the default (creation) order a page in the back half is found from the end:
        # the walk is total - offset keys, so the last page costs what the first does.
        back = min(limit, total - offset)
        keys = (
            select(R.pk)
            .where(*conds)
            .order_by(R.pk.desc())
            .offset(total - offset - back)
            .limit(back)
        )
        page_pks = [r.pk for r in conn.execute(keys, params)][::-1]
    else:
        keys = select(R.pk).where(*conds).order_by(*ordered).offset(offset).limit(limit)
        page_pks = [r.pk for r in conn.execute(keys, params)]
    by_pk = {r.pk: _row(r) for r in conn.execute(_BY_PKS, {"pks": page_pks})}
    return total, [by_pk[pk] for pk in page_pks if pk in by_pk]


# ---- memberships -------------------------------------------------------------------

_FIND_MEMBERS = select(R.pk, R.id, R.resource_type, R.display).where(
    R.tenant_id == bindparam("tenant_id"),
    R.connection_id == bindparam("connection_id"),
    R.resource_type.in_(("User", "Group")),
    R.id.in_(bindparam("ids", expanding=True)),
)
_MEMBERS_OF = (
    select(M.group_pk, R.pk, R.id, R.resource_type, M.display)
    .join(memberships, M.member_pk == R.pk)
    .where(M.tenant_id == bindparam("tenant_id"), M.group_pk.in_(bindparam("pks", expanding=True)))
    .order_by(M.group_pk, M.member_pk)
)
_GROUPS_OF = (
    select(M.member_pk, R.pk, R.id, R.resource_type, R.display)
    .join(resources, M.group_pk == R.pk)
    .where(M.tenant_id == bindparam("tenant_id"), M.member_pk.in_(bindparam("pks", expanding=True)))
    .order_by(M.member_pk, R.pk)
)


def find_members(conn: Connection, scope: Scope, ids: Iterable[str]) -> dict[str, MemberRef]:
    """Users and groups of this connection with the given ids."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    params = {"tenant_id": scope.tenant_id, "connection_id": scope.connection_id, "ids": wanted}
    rows = conn.execute(_FIND_MEMBERS, params)
    return {r.id: MemberRef(r.pk, r.id, r.resource_type, r.display) for r in rows}


# What a membership write returns of each member it inserted or deleted (the change's
# events name them), in the same statement: subqueries, which RETURNING allows on both
# databases (SQLite has no DELETE … USING).
_MEMBER_RETURNING: tuple[Any, ...] = (
    M.member_pk,
    # Spelled out: SQLAlchemy does not correlate a subquery in an INSERT's RETURNING.
    literal_column("(SELECT r.id FROM resources r WHERE r.pk = memberships.member_pk)"),
    literal_column("(SELECT r.resource_type FROM resources r WHERE r.pk = memberships.member_pk)"),
    literal_column("(SELECT r.display FROM resources r WHERE r.pk = memberships.member_pk)"),
)


def _refs(rows: Any) -> list[MemberRef]:
    return [MemberRef(r[0], r[1], r[2], r[3]) for r in rows]


def add_members(
    conn: Connection,
    scope: Scope,
    group_pk: int,
    member_pks: Iterable[int],
    now: datetime,
    *,
    touch_members: bool = True,
    displays: Mapping[int, str] | None = None,
) -> list[MemberRef]:
    """Insert membership rows (existing ones are left alone, display included: it is
    immutable, RFC 7643 §2.4); the members' ``groups``
    change, so they get new versions (unless the caller touches them itself,
    ``touch_members=False``): work in the number added, not the group's size. Returns
    the members that were not in the group (the rows inserted, in the same statement)."""
    pks = list(dict.fromkeys(member_pks))
    if not pks:
        return []
    shown = displays or {}
    rows = [
        {
            "group_pk": group_pk,
            "member_pk": pk,
            "tenant_id": scope.tenant_id,
            "display": shown.get(pk),
        }
        for pk in pks
    ]
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    inserted = conn.execute(
        dialect.insert(memberships).on_conflict_do_nothing().returning(*_MEMBER_RETURNING), rows
    )
    added = _refs(inserted)
    if touch_members:
        touch(conn, scope, pks, now)
    return added


def remove_members(
    conn: Connection,
    scope: Scope,
    group_pk: int,
    member_pks: Iterable[int],
    now: datetime,
    *,
    touch_members: bool = True,
) -> list[MemberRef]:
    """Delete membership rows; returns the members that were in the group."""
    pks = list(member_pks)
    if not pks:
        return []
    deleted = conn.execute(
        delete(memberships)
        .where(M.tenant_id == scope.tenant_id, M.group_pk == group_pk, M.member_pk.in_(pks))
        .returning(*_MEMBER_RETURNING)
    )
    removed = _refs(deleted)
    if touch_members:
        touch(conn, scope, pks, now)
    return removed


def remove_all_members(
    conn: Connection, scope: Scope, group_pk: int, now: datetime
) -> list[MemberRef]:
    """Empty the group; returns the members it had."""
    members = select(M.member_pk).where(M.tenant_id == scope.tenant_id, M.group_pk == group_pk)
    _bump(conn, scope, members, now)
    deleted = conn.execute(
        delete(memberships)
        .where(M.tenant_id == scope.tenant_id, M.group_pk == group_pk)
        .returning(*_MEMBER_RETURNING)
    )
    return _refs(deleted)


def members_of(
    conn: Connection, scope: Scope, group_pks: Sequence[int]
) -> dict[int, list[MemberRef]]:
    """The members of each group in ``group_pks``, in one query."""
    out: dict[int, list[MemberRef]] = {pk: [] for pk in group_pks}
    if not group_pks:
        return out
    rows = conn.execute(_MEMBERS_OF, {"tenant_id": scope.tenant_id, "pks": list(group_pks)})
    for r in rows:
        out[r.group_pk].append(MemberRef(r.pk, r.id, r.resource_type, r.display))
    return out


def groups_of(
    conn: Connection, scope: Scope, member_pks: Sequence[int]
) -> dict[int, list[MemberRef]]:
    """The groups each of ``member_pks`` belongs to (users' readOnly ``groups``)."""
    out: dict[int, list[MemberRef]] = {pk: [] for pk in member_pks}
    if not member_pks:
        return out
    rows = conn.execute(_GROUPS_OF, {"tenant_id": scope.tenant_id, "pks": list(member_pks)})
    for r in rows:
        out[r.member_pk].append(MemberRef(r.pk, r.id, r.resource_type, r.display))
    return out
