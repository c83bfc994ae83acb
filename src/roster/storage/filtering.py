"""SCIM filter AST -> SQL over ``resources`` (RFC 7644 §3.4.2.2).

Column-backed attributes (id, externalId, userName / group displayName, meta dates)
compare on indexed columns. Everything else becomes ``pk IN (SELECT resource_pk FROM
resource_values WHERE tenant, connection, path, value ...)``, which both SQLite and
PostgreSQL answer from the ``ix_resource_values_lookup`` index. ``ne`` and ``not`` are the
complement of the positive set, so an absent attribute is "not equal" (as in memory).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, false, func, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement as Col

from roster.errors import InvalidFilter
from roster.scim.filter import And, Compare, Filter, Not, Or, Present, ValuePath, parse_datetime
from roster.scim.paths import AttrRef
from roster.scim.schema import ResourceType
from roster.storage.tables import memberships, resource_values, resources
from roster.storage.values import INDEXED_CHARS, scalar_columns

R = resources.c
V = resource_values.c


@dataclass(frozen=True)
class Scope:
    tenant_id: int
    connection_id: int
    rt: ResourceType


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _string_cond(col: Col[str], op: str, value: str) -> ColumnElement[bool]:
    match op:
        case "eq":
            return col == value
        case "co":
            return col.like(f"%{_like_escape(value)}%", escape="\\")
        case "sw":
            return col.like(f"{_like_escape(value)}%", escape="\\")
        case "ew":
            return col.like(f"%{_like_escape(value)}", escape="\\")
        case "gt":
            return col > value
        case "ge":
            return col >= value
        case "lt":
            return col < value
        case "le":
            return col <= value
    raise InvalidFilter(f"operator {op} is not supported here")


def _value_cond(
    ref: AttrRef, op: str, value: object, v: Col[str], vl: Col[str], vn: Col[float]
) -> ColumnElement[bool]:
    """Positive condition on one value row for a Compare (op is never ne here)."""
    attr = ref.leaf
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and attr.type in ("integer", "decimal")
    ):
        return _num_cond(vn, op, float(value))
    exact, lower, _ = scalar_columns(attr, value)
    assert exact is not None and lower is not None
    if len(exact) >= INDEXED_CHARS and op == "eq":
        op = "sw"  # only the indexed prefix is stored for very long values
    if attr.case_exact or attr.type in ("boolean", "dateTime"):
        return _string_cond(v, op, exact)
    return _string_cond(vl, op, lower)


def _num_cond(col: Col[float], op: str, value: float) -> ColumnElement[bool]:
    ops = {
        "eq": col == value,
        "gt": col > value,
        "ge": col >= value,
        "lt": col < value,
        "le": col <= value,
    }
    if op not in ops:
        raise InvalidFilter(f"operator {op} does not apply to numbers")
    return ops[op]


def _sub_keys(ref: AttrRef) -> list[str]:
    if ref.sub is not None or ref.attribute.type != "complex":
        return [ref.key]
    return [ref.with_sub(s).key for s in ref.attribute.sub_attributes]


class Compiler:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def _values(self, *conds: ColumnElement[bool]):  # type: ignore[no-untyped-def]
        return select(V.resource_pk).where(
            V.tenant_id == self.scope.tenant_id, V.connection_id == self.scope.connection_id, *conds
        )

    def compile(self, node: Filter) -> ColumnElement[bool]:
        match node:
            case And(left, right):
                return and_(self.compile(left), self.compile(right))
            case Or(left, right):
                return or_(self.compile(left), self.compile(right))
            case Not(inner):
                return not_(self.compile(inner))
            case Present(ref):
                return self.present(ref)
            case Compare(ref, op, value):
                if value is None:
                    return not_(self.present(ref)) if op == "eq" else self.present(ref)
                if op == "ne":
                    return not_(self.positive(ref, "eq", value))
                return self.positive(ref, op, value)
            case ValuePath(ref, inner):
                return self.value_path(ref, inner)
        raise InvalidFilter("unsupported filter")

    # -- column-backed attributes ----------------------------------------------------

    def _column(self, ref: AttrRef) -> tuple[Col[object], bool] | None:
        """(column, compare lower-cased) for attributes stored in ``resources`` itself."""
        if not ref.core:
            return None
        name = ref.attribute.name
        rt = self.scope.rt
        if ref.sub is None:
            if name == "id":
                return R.id, False
            if name == "externalId":
                return R.external_id, False
            if (rt.name, name) in (("User", "userName"), ("Group", "displayName")):
                return R.unique_key, True
        elif name == "meta":
            if ref.sub.name == "created":
                return R.created_at, False
            if ref.sub.name == "lastModified":
                return R.updated_at, False
        return None

    def present(self, ref: AttrRef) -> ColumnElement[bool]:
        col = self._column(ref)
        if col is not None:
            return col[0].is_not(None)
        if ref.attribute.name in ("members", "groups") and ref.core:
            return self._membership(ref, None, None)
        if ref.core and ref.attribute.name == "meta":
            return true()
        return R.pk.in_(self._values(V.path.in_(_sub_keys(ref)), V.v.is_not(None), V.v != ""))

    def positive(self, ref: AttrRef, op: str, value: object) -> ColumnElement[bool]:
        col = self._column(ref)
        if col is not None:
            column, lower = col
            if ref.leaf.type == "dateTime":
                assert isinstance(value, str)
                return _string_cond(column, op, parse_datetime(value))  # type: ignore[arg-type]
            text = str(value)
            cond = _string_cond(column, op, text.lower() if lower else text)  # type: ignore[arg-type]
            # A NULL column must make the comparison false, not unknown, so that ne and
            # not() include resources without the attribute (as the in-memory evaluator).
            return and_(column.is_not(None), cond) if getattr(column, "nullable", False) else cond
        if ref.core and ref.attribute.name in ("members", "groups"):
            return self._membership(ref, op, value)
        if ref.core and ref.attribute.name == "meta":
            if ref.sub is not None and ref.sub.name == "resourceType" and op == "eq":
                return true() if str(value).lower() == self.scope.rt.name.lower() else false()
            raise InvalidFilter(f"{ref.display()} cannot be filtered on")
        return R.pk.in_(
            self._values(V.path == ref.key, _value_cond(ref, op, value, V.v, V.vl, V.vn))
        )

    def _membership(self, ref: AttrRef, op: str | None, value: object) -> ColumnElement[bool]:
        """``members.value`` on groups, ``groups.value`` / ``groups.display`` on users."""
        other = resources.alias("other")
        if ref.attribute.name == "members":
            link = (memberships.c.group_pk == R.pk, memberships.c.member_pk == other.c.pk)
        else:
            link = (memberships.c.member_pk == R.pk, memberships.c.group_pk == other.c.pk)
        query = select(memberships.c.group_pk).join(other, link[1]).where(link[0])
        if op is not None:
            sub = ref.sub.name if ref.sub is not None else "value"
            if sub == "value":
                query = query.where(_string_cond(other.c.id, op, str(value)))
            elif sub == "display":  # not caseExact (RFC 7643 §4.1.2)
                lowered = func.lower(other.c.display)
                query = query.where(_string_cond(lowered, op, str(value).lower()))
            else:
                raise InvalidFilter(f"{ref.display()} cannot be filtered on")
        return exists(query)

    # -- value paths: emails[type eq "work" and value co "@example.com"] -------------

    def value_path(self, ref: AttrRef, inner: Filter) -> ColumnElement[bool]:
        if ref.core and ref.attribute.name in ("members", "groups"):
            return self._membership_path(ref, inner)
        driver = resource_values.alias("el")
        conjuncts = _conjuncts(inner)
        lead = next(
            (
                c
                for c in conjuncts
                if isinstance(c, Compare) and c.op != "ne" and c.value is not None
            ),
            None,
        )
        if lead is not None:
            assert isinstance(lead, Compare)
            conds = [
                driver.c.path == lead.ref.key,
                _value_cond(lead.ref, lead.op, lead.value, driver.c.v, driver.c.vl, driver.c.vn),
            ]
            rest = [c for c in conjuncts if c is not lead]
        else:
            conds = [driver.c.path.in_(_sub_keys(ref))]
            rest = conjuncts
        conds.extend(self._element(c, driver) for c in rest)
        query = select(driver.c.resource_pk).where(
            driver.c.tenant_id == self.scope.tenant_id,
            driver.c.connection_id == self.scope.connection_id,
            *conds,
        )
        return R.pk.in_(query)

    def _element(self, node: Filter, driver) -> ColumnElement[bool]:  # type: ignore[no-untyped-def]
        """A condition on the element (resource_pk, idx) that ``driver`` stands on."""
        match node:
            case And(left, right):
                return and_(self._element(left, driver), self._element(right, driver))
            case Or(left, right):
                return or_(self._element(left, driver), self._element(right, driver))
            case Not(inner):
                return not_(self._element(inner, driver))
        x = resource_values.alias()
        same = (x.c.resource_pk == driver.c.resource_pk, x.c.idx == driver.c.idx)
        match node:
            case Present(ref):
                return exists().where(*same, x.c.path == ref.key, x.c.v != "")
            case Compare(ref, op, value):
                if value is None:
                    found = exists().where(*same, x.c.path == ref.key)
                    return not_(found) if op == "eq" else found
                positive_op = "eq" if op == "ne" else op
                found = exists().where(
                    *same,
                    x.c.path == ref.key,
                    _value_cond(ref, positive_op, value, x.c.v, x.c.vl, x.c.vn),
                )
                return not_(found) if op == "ne" else found
        raise InvalidFilter("value filters cannot nest")

    def _membership_path(self, ref: AttrRef, inner: Filter) -> ColumnElement[bool]:
        # members[value eq "x"] / groups[display sw "Eng"]: the sub-attributes live on the
        # other resource's row, so reuse the membership compiler per comparison.
        match inner:
            case And(left, right):
                return and_(self._membership_path(ref, left), self._membership_path(ref, right))
            case Or(left, right):
                return or_(self._membership_path(ref, left), self._membership_path(ref, right))
            case Not(x):
                return not_(self._membership_path(ref, x))
            case Compare(sub_ref, op, value):
                if op == "ne":
                    return not_(self._membership(sub_ref, "eq", value))
                return self._membership(sub_ref, op, value)
            case Present(sub_ref):
                return self._membership(sub_ref, None, None)
        raise InvalidFilter("unsupported member filter")


def _conjuncts(node: Filter) -> list[Filter]:
    if isinstance(node, And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


def unique_match(scope: Scope, node: Filter) -> tuple[str, str] | None:
    """``("unique_key", value)`` or ``("id", value)`` when the filter names at most one
    resource by a unique column (``userName eq "…"``, ``displayName eq "…"``,
    ``id eq "…"``): the lookup every IdP makes before it creates, answered by a statement
    built once (storage/resources.find_unique)."""
    if not isinstance(node, Compare) or node.op != "eq" or not isinstance(node.value, str):
        return None
    col = Compiler(scope)._column(node.ref)
    if col is None:
        return None
    column, lower = col
    if column is R.unique_key:
        return "unique_key", node.value.lower() if lower else node.value
    if column is R.id:
        return "id", node.value
    return None


def compile_filter(scope: Scope, node: Filter) -> ColumnElement[bool]:
    return Compiler(scope).compile(node)


def sorts_by_column(scope: Scope, ref: AttrRef) -> bool:
    """Whether ``sortBy`` on ``ref`` reads an indexed column (cheap at any size)."""
    return Compiler(scope)._column(ref) is not None


def sort_key(scope: Scope, ref: AttrRef) -> Col[object]:
    """An ORDER BY expression for ``sortBy`` (RFC 7644 §3.4.2.3)."""
    col = Compiler(scope)._column(ref)
    if col is not None:
        return col[0]
    key = ref.key
    if ref.sub is None and ref.attribute.type == "complex":
        sub = ref.attribute.sub("value")
        if sub is None:
            raise InvalidFilter(f"cannot sort by the complex attribute {ref.display()}")
        key = ref.with_sub(sub).key
    # Multi-valued: RFC 7644 §3.4.2.3 says sort by the primary value; the smallest one is
    # a stable stand-in that needs no second lookup.
    column = V.vl if not ref.leaf.case_exact else V.v
    return select(func.min(column)).where(V.resource_pk == R.pk, V.path == key).scalar_subquery()
