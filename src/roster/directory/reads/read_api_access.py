"""The read side of access: each employee's roles, access groups, rule-granted location
access and mobile key, as the read API renders them (``/api/v1/employees``).

Loaded for a whole page at once, in a fixed number of statements whatever its length:
roles, grants, the tenant's rules and access groups (the last two only when a grant names
them). Location names come from the page's one location read (directory/reads/read_api.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from roster.storage import access as store
from roster.storage.access import AccessGroupRow, GrantRow, RoleRow

Json = dict[str, Any]
COMPANY = 0


def _iso(at: datetime | None) -> str | None:
    return None if at is None else f"{at.isoformat(timespec='milliseconds')}Z"


@dataclass(frozen=True)
class PageAccess:
    """What the employees of one page hold."""

    roles: dict[int, list[RoleRow]]
    grants: dict[int, list[GrantRow]]
    rules: dict[str, str]  # rule id -> name
    access_groups: dict[int, AccessGroupRow]

    def location_pks(self) -> list[int]:
        """Locations the page's roles and grants name: for the page's one name read."""
        pks = [r.location_pk for rs in self.roles.values() for r in rs if r.location_pk]
        pks += [g.target_pk for gs in self.grants.values() for g in gs if g.kind == "location"]
        return pks

    def render(self, employee_pk: int, location: Callable[[int], Json | None]) -> Json:
        """``roles``, ``accessGroups``, ``locationAccess`` and ``mobileKey`` of one
        employee; ``location(pk)`` is ``{id, name}`` of a location (None: gone)."""
        grants = self.grants.get(employee_pk, [])
        return {
            "roles": self._roles(employee_pk, location),
            "accessGroups": [
                {**ref, **self._grant(g)}
                for g in grants
                if g.kind == "access_group" and (ref := self._access_group(g.target_pk)) is not None
            ],
            "locationAccess": sorted(
                (
                    {**ref, **self._grant(g)}
                    for g in grants
                    if g.kind == "location" and (ref := location(g.target_pk)) is not None
                ),
                key=lambda item: str(item["name"]).casefold(),
            ),
            "mobileKey": self._mobile_key(grants),
        }

    def _roles(self, employee_pk: int, location: Callable[[int], Json | None]) -> list[Json]:
        out = []
        for r in self.roles.get(employee_pk, []):
            place = location(r.location_pk) if r.location_pk else None
            out.append(
                {
                    "role": r.role,
                    "scope": "company" if r.scope_pk == COMPANY else "location",
                    "location": place,
                    "source": r.source,
                    "origin": r.origin,
                    "shadowed": r.shadowed,
                }
            )
        # The company role first, then the location roles by location name.
        return sorted(
            out,
            key=lambda item: (
                item["scope"] != "company",
                str((item["location"] or {}).get("name", "")).casefold(),
            ),
        )

    def _access_group(self, pk: int) -> Json | None:
        row = self.access_groups.get(pk)
        return None if row is None else {"id": row.id, "name": row.name}

    def _grant(self, g: GrantRow) -> Json:
        name = self.rules.get(g.rule_id) if g.rule_id else None
        return {
            "status": g.status,
            "source": "rule",
            "rule": {"id": g.rule_id, "name": name} if g.rule_id and name else None,
            "reason": g.reason,
            "grantedAt": _iso(g.granted_at),
            "revokedAt": _iso(g.revoked_at),
        }

    def _mobile_key(self, grants: Sequence[GrantRow]) -> Json:
        key = next((g for g in grants if g.kind == "mobile_key"), None)
        if key is None:
            none: Json = {"status": "none", "source": None, "rule": None, "reason": None}
            return {**none, "grantedAt": None, "revokedAt": None}
        return self._grant(key)


def load(conn: Connection, tenant_id: int, employee_pks: Sequence[int]) -> PageAccess:
    roles = store.roles_of(conn, tenant_id, employee_pks)
    grants = store.grants_of(conn, tenant_id, employee_pks)
    held = [g for gs in grants.values() for g in gs]
    rules = (
        {r.id: r.name for r in store.rules_of(conn, tenant_id)}
        if any(g.rule_id for g in held)
        else {}
    )
    groups = (
        {g.pk: g for g in store.access_groups_of(conn, tenant_id)}
        if any(g.kind == "access_group" for g in held)
        else {}
    )
    return PageAccess(roles, grants, rules, groups)
