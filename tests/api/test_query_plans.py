"""Lookups the IdPs make are answered by indexes, not table scans (read off the plans)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.conftest import ENTERPRISE, Scim, StatementCounter

LOOKUPS = [
    ("/Users", 'userName eq "ada@example.com"'),
    ("/Users", 'externalId eq "00u1"'),
    ("/Users", 'emails.value eq "ADA@example.com"'),
    ("/Users", 'emails[type eq "work"].value eq "ada@example.com"'),
    ("/Users", f'{ENTERPRISE}:employeeNumber eq "42"'),
    ("/Groups", 'displayName eq "Engineering"'),
]


def _plans(engine: Engine, statements: list[tuple[str, Any]]) -> list[str]:
    plans = []
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        sqlite = engine.dialect.name == "sqlite"
        if not sqlite:
            # Small test tables would be read sequentially anyway; ask whether an index
            # *can* answer the query.
            cursor.execute("SET enable_seqscan = off")
        for statement, params in statements:
            if not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
                continue
            prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            cursor.execute(prefix + statement, params)
            plans.append("\n".join(str(row[-1] if sqlite else row[0]) for row in cursor.fetchall()))
        cursor.close()
    finally:
        raw.rollback()
        raw.close()
    return plans


@pytest.mark.parametrize(("endpoint", "flt"), LOOKUPS)
def test_lookup_uses_indexes(
    engine: Engine,
    scim: Scim,
    count_statements: Callable[[], StatementCounter],
    endpoint: str,
    flt: str,
) -> None:
    scim.create_user(
        "ada@example.com",
        externalId="00u1",
        emails=[{"value": "ada@example.com", "type": "work"}],
        **{ENTERPRISE: {"employeeNumber": "42"}},
    )
    scim.create_group("Engineering")
    with count_statements() as counter:
        body = scim.get(endpoint, params={"filter": flt}).json()
    assert body["totalResults"] == 1
    plans = _plans(engine, counter.statements)
    assert plans
    for plan in plans:
        if engine.dialect.name == "sqlite":
            scans = [
                line
                for line in plan.splitlines()
                # the window count's own subquery holds only the matched rows
                if line.startswith("SCAN") and "CONSTANT" not in line and "(subquery" not in line
            ]
        else:
            scans = [line for line in plan.splitlines() if "Seq Scan" in line]
        assert scans == [], plan


def _scans(engine: Engine, statements: list[tuple[str, Any]]) -> list[str]:
    out = []
    for plan in _plans(engine, statements):
        for line in plan.splitlines():
            if engine.dialect.name == "sqlite":
                if line.startswith("SCAN") and "CONSTANT" not in line and "(subquery" not in line:
                    out.append(line)
            elif "Seq Scan" in line:
                out.append(line)
    return out


def test_member_adds_and_reads_by_id_use_indexes(
    engine: Engine, scim: Scim, count_statements: Callable[[], StatementCounter]
) -> None:
    # Enough members that an IN list of keys looks dearer than a tenant-wide index to a
    # planner without statistics.
    users = [scim.create_user(f"m{i}")["id"] for i in range(30)]
    group = scim.create_group("Crew")
    with count_statements() as counter:
        response = scim.patch(
            f"/Groups/{group['id']}?excludedAttributes=members",
            [{"op": "add", "path": "members", "value": [{"value": u} for u in users]}],
        )
        assert response.status_code == 200
        assert scim.get(f"/Users/{users[0]}").status_code == 200
    assert _scans(engine, counter.statements) == []
    if engine.dialect.name == "sqlite":
        # Each lookup must use the id, not walk every resource of the connection.
        scope_only = [
            line
            for plan in _plans(engine, counter.statements)
            for line in plan.splitlines()
            if "SEARCH resources" in line
            and line.rstrip(")").endswith(("tenant_id=?", "connection_id=?", "resource_type=?"))
        ]
        assert scope_only == []
