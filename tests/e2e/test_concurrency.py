"""Concurrency is part of correctness: Okta and Entra send requests in parallel.

Every write path runs from many clients at once through a live ``roster serve
--workers 2`` on the suite's database (PostgreSQL in CI, SQLite by default): no 5xx, no
deadlock in the server's log, nothing lost, and each write atomic. No timing is asserted.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from roster.directory.admin import role_admin, tenancy
from roster.directory.people.employees import find
from roster.directory.places import locations
from roster.storage.tables import employees
from tests.e2e.conftest import Server

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture(scope="module")
def server(start_server: Callable[..., Server]) -> Server:
    # As deployed: read requests' log entries batched (directory/journal/read_log.py).
    return start_server(workers=2, env={"ROSTER_READ_LOG_FLUSH_SECONDS": "1"})


@pytest.fixture(autouse=True)
def _server_logs_no_failure(server: Server) -> Iterator[None]:
    before = len(server.log_text())
    yield
    logged = server.log_text()[before:]
    for sign in ("Deadlock", "deadlock detected", "internal error", "Traceback"):
        assert sign not in logged, logged[-3000:]


class Connection:
    """A connection made in-process (the server under test is the point, not the CLI)."""

    def __init__(self, engine: Engine, server: Server, tenant: str, idp: str = "okta") -> None:
        with engine.begin() as db:
            issued = tenancy.create_connection(db, tenant, idp, f"{idp}-{os.urandom(3).hex()}")
        row = issued.connection
        self.tenant_id, self.uid = row.tenant_id, row.uid
        self.base = f"{server.url}/scim/v2/{row.tenant_slug}/{row.uid}"
        self.headers = {
            "Authorization": f"Bearer {issued.token}",
            "Content-Type": "application/scim+json",
        }


def _tenant(engine: Engine) -> str:
    name = f"conc-{os.urandom(4).hex()}"
    with engine.begin() as db:
        tenancy.create_tenant(db, name)
    return name


def _user(name: str, email: str | None = None) -> dict[str, Any]:
    return {
        "schemas": [USER],
        "userName": name,
        "name": {"givenName": "Ada", "familyName": name},
        "emails": [{"value": email or f"{name}@corp.test", "primary": True, "type": "work"}],
        "active": True,
    }


def _run(calls: list[Callable[[httpx.Client], httpx.Response]], clients: int) -> list[int]:
    """Every call from ``clients`` threads, each with its own keep-alive connection."""
    local: dict[int, httpx.Client] = {}

    def one(call: Callable[[httpx.Client], httpx.Response]) -> int:

        me = threading.get_ident()
        if me not in local:
            local[me] = httpx.Client(timeout=60)
        return call(local[me]).status_code

    try:
        with ThreadPoolExecutor(clients) as pool:
            return list(pool.map(one, calls))
    finally:
        for c in local.values():
            c.close()


def _create(conn: Connection, body: dict[str, Any]) -> Callable[[httpx.Client], httpx.Response]:
    return lambda c: c.post(conn.base + "/Users", json=body, headers=conn.headers)


def test_16_clients_create_users_of_one_tenant(engine: Engine, server: Server) -> None:
    conn = Connection(engine, server, _tenant(engine))
    run = uuid.uuid4().hex[:6]
    codes = _run([_create(conn, _user(f"u{run}-{i}")) for i in range(160)], 16)
    assert Counter(codes) == {201: 160}
    listed = httpx.get(conn.base + "/Users", params={"count": 0}, headers=conn.headers).json()
    assert listed["totalResults"] == 160


def test_16_clients_create_users_across_4_tenants(engine: Engine, server: Server) -> None:
    conns = [Connection(engine, server, _tenant(engine)) for _ in range(4)]
    run = uuid.uuid4().hex[:6]
    calls = [_create(conns[i % 4], _user(f"x{run}-{i}")) for i in range(160)]
    assert Counter(_run(calls, 16)) == {201: 160}
    for conn in conns:
        got = httpx.get(conn.base + "/Users", params={"count": 0}, headers=conn.headers).json()
        assert got["totalResults"] == 40


def test_same_user_name_from_16_clients_is_created_once(engine: Engine, server: Server) -> None:
    conn = Connection(engine, server, _tenant(engine))
    body = _user(f"dup-{uuid.uuid4().hex[:6]}")
    codes = _run([_create(conn, body) for _ in range(16)], 16)
    assert Counter(codes) == {201: 1, 409: 15}


def test_32_concurrent_member_adds_lose_no_member(engine: Engine, server: Server) -> None:
    conn = Connection(engine, server, _tenant(engine))
    run = uuid.uuid4().hex[:6]
    with httpx.Client(timeout=60) as c:
        ids = [
            c.post(conn.base + "/Users", json=_user(f"m{run}-{i}"), headers=conn.headers).json()[
                "id"
            ]
            for i in range(32)
        ]
        group = c.post(
            conn.base + "/Groups",
            json={"schemas": [GROUP], "displayName": f"g-{run}"},
            headers=conn.headers,
        ).json()["id"]

    def add(uid: str) -> Callable[[httpx.Client], httpx.Response]:
        body = {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": uid}]}],
        }
        return lambda c: c.patch(f"{conn.base}/Groups/{group}", json=body, headers=conn.headers)

    assert Counter(_run([add(uid) for uid in ids], 32)) == {204: 32}
    got = httpx.get(f"{conn.base}/Groups/{group}", headers=conn.headers).json()
    assert sorted(m["value"] for m in got["members"]) == sorted(ids)
    assert got["meta"]["version"] == 'W/"33"'  # created, then one version per add
    for uid in ids:  # each member shows the group
        user = httpx.get(f"{conn.base}/Users/{uid}", headers=conn.headers).json()
        assert [g["value"] for g in user["groups"]] == [group]


def test_8_concurrent_patches_of_one_user_apply_whole_in_some_order(
    engine: Engine, server: Server
) -> None:
    conn = Connection(engine, server, _tenant(engine), idp="generic")
    run = uuid.uuid4().hex[:6]
    with httpx.Client(timeout=60) as c:
        uid = c.post(conn.base + "/Users", json=_user(f"p{run}"), headers=conn.headers).json()["id"]

    def patch(i: int) -> Callable[[httpx.Client], httpx.Response]:
        ops = [
            {"op": "replace", "path": "displayName", "value": f"v{i}"},
            {"op": "replace", "path": "title", "value": f"v{i}"},
            {"op": "replace", "path": "name.givenName", "value": f"v{i}"},
        ]
        body = {"schemas": [PATCH_OP], "Operations": ops}
        return lambda c: c.patch(f"{conn.base}/Users/{uid}", json=body, headers=conn.headers)

    assert Counter(_run([patch(i) for i in range(8)], 8)) == {200: 8}
    got = httpx.get(f"{conn.base}/Users/{uid}", headers=conn.headers).json()
    # One serial order: the last patch applied whole, none interleaved with another.
    assert got["displayName"] == got["title"] == got["name"]["givenName"]
    assert got["meta"]["version"] == 'W/"9"'
    with engine.connect() as db:
        employee = db.execute(
            select(employees.c.fields).where(employees.c.email_key == f"p{run}@corp.test")
        ).one()
    assert employee.fields["givenName"] == got["displayName"]  # the directory followed


def test_two_connections_racing_on_one_email_make_one_employee(
    engine: Engine, server: Server
) -> None:
    tenant = _tenant(engine)
    okta, entra = Connection(engine, server, tenant), Connection(engine, server, tenant, "entra")
    run = uuid.uuid4().hex[:6]
    calls = []
    for i in range(12):
        email = f"race{run}-{i}@corp.test"
        calls += [_create(okta, _user(f"o{run}-{i}", email)), _create(entra, _user(email, email))]
    codes = _run(calls, 16)
    # Per email: one connection owns the employee, the other gets the 409 of the
    # directory's ownership rule (both connections are active).
    assert Counter(codes) == {201: 12, 409: 12}
    with engine.connect() as db:
        count = db.execute(
            select(func.count())
            .select_from(employees)
            .where(employees.c.email_key.like(f"race{run}-%"))
        ).scalar_one()
    assert count == 12


def test_users_of_one_connection_racing_on_one_email_are_all_stored_one_employee_each_email(
    engine: Engine, server: Server
) -> None:
    """Two users of one connection with one email: both are SCIM users (201); the
    directory keeps one employee per email and the other user out of it, whichever
    request committed first (issue 11)."""
    conn = Connection(engine, server, _tenant(engine))
    run = uuid.uuid4().hex[:6]
    calls = [
        _create(conn, _user(f"s{run}-{i}-{copy}", f"shared{run}-{i}@corp.test"))
        for i in range(8)
        for copy in range(3)
    ]
    assert Counter(_run(calls, 16)) == {201: 24}
    with engine.connect() as db:
        holders = db.execute(
            select(employees.c.email_key, func.count())
            .where(employees.c.email_key.like(f"shared{run}-%"))
            .group_by(employees.c.email_key)
        ).all()
    assert sorted(n for _, n in holders) == [1] * 8


def test_concurrent_pushes_of_mapped_groups_settle_each_person_on_the_highest_role(
    engine: Engine, server: Server
) -> None:
    """Three groups mapped to roles at one location, every person pushed into all three
    by concurrent PATCHes in an interleaved order: each evaluation of a person sees the
    memberships committed before it, so everyone ends on the highest role, once."""
    tenant = _tenant(engine)
    conn = Connection(engine, server, tenant)
    run = uuid.uuid4().hex[:6]
    with engine.begin() as db:
        locations.add(db, conn.tenant_id, "HQ")
    with httpx.Client(timeout=60) as c:
        users = [
            c.post(conn.base + "/Users", json=_user(f"r{run}-{i}"), headers=conn.headers).json()[
                "id"
            ]
            for i in range(8)
        ]
        groups = {}
        for name in ("Deliveries", "Front desk admin", "Location admin"):
            body = {"schemas": [GROUP], "displayName": f"{name} {run}"}
            groups[name] = c.post(conn.base + "/Groups", json=body, headers=conn.headers).json()
    with engine.begin() as db:
        for role, group in groups.items():
            role_admin.map_group(db, conn.tenant_id, conn.uid, group["displayName"], role, ["HQ"])

    def add(group_id: str, uid: str) -> Callable[[httpx.Client], httpx.Response]:
        body = {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": uid}]}],
        }
        return lambda c: c.patch(f"{conn.base}/Groups/{group_id}", json=body, headers=conn.headers)

    calls = [add(g["id"], uid) for uid in users for g in groups.values()]
    calls = calls[::3] + calls[1::3] + calls[2::3]  # each person's adds spread apart
    assert Counter(_run(calls, 16)) == {204: 24}
    with engine.connect() as db:
        for i in range(8):
            employee = find(db, conn.tenant_id, f"r{run}-{i}@corp.test")
            held = {
                (r.role, r.location, r.source)
                for r in role_admin.held(db, conn.tenant_id, employee)
            }
            assert held == {("Location admin", "HQ", "group")}, held


def test_renames_and_a_delete_of_mapped_groups_racing_member_pushes(
    engine: Engine, server: Server
) -> None:
    """Issue 11: mappings bound to groups. Renames of a mapped group race member pushes to
    another mapped group (everyone keeps the higher role: a rename changes nothing held),
    then its delete races pushes that evaluate its members (a request deleting a group
    locks it, then its members' employees; one evaluating a member locks the employee and
    writes its role, which must not wait for the group's row)."""
    tenant = _tenant(engine)
    conn = Connection(engine, server, tenant)
    run = uuid.uuid4().hex[:6]
    with engine.begin() as db:
        locations.add(db, conn.tenant_id, "HQ")
        role_admin.map_group(
            db, conn.tenant_id, conn.uid, f"Admins {run}", "Location admin", ["HQ"]
        )
        role_admin.map_group(db, conn.tenant_id, conn.uid, f"Desk {run}", "Deliveries", ["HQ"])
    with httpx.Client(timeout=60) as c:
        users = [
            c.post(conn.base + "/Users", json=_user(f"n{run}-{i}"), headers=conn.headers).json()[
                "id"
            ]
            for i in range(8)
        ]

        def push(name: str, members: list[str]) -> str:
            body = {
                "schemas": [GROUP],
                "displayName": name,
                "members": [{"value": m} for m in members],
            }
            made = c.post(conn.base + "/Groups", json=body, headers=conn.headers)
            assert made.status_code == 201, made.text
            return str(made.json()["id"])

        admins = push(f"Admins {run}", users)
        desk = push(f"Desk {run}", [])

    def patch(group_id: str, *ops: dict[str, Any]) -> Callable[[httpx.Client], httpx.Response]:
        body = {"schemas": [PATCH_OP], "Operations": list(ops)}
        return lambda c: c.patch(f"{conn.base}/Groups/{group_id}", json=body, headers=conn.headers)

    def add(uid: str) -> Callable[[httpx.Client], httpx.Response]:
        return patch(desk, {"op": "add", "path": "members", "value": [{"value": uid}]})

    renames = [
        patch(admins, {"op": "replace", "value": {"id": admins, "displayName": f"A{n} {run}"}})
        for n in range(4)
    ]
    calls = [add(u) for u in users[:4]] + renames + [add(u) for u in users[4:]]
    assert Counter(_run(calls, 16)) == {204: 12}

    def held() -> list[set[tuple[str, str | None, str]]]:
        with engine.connect() as db:
            return [
                {
                    (r.role, r.location, r.source)
                    for r in role_admin.held(
                        db, conn.tenant_id, find(db, conn.tenant_id, f"n{run}-{i}@corp.test")
                    )
                }
                for i in range(8)
            ]

    assert held() == [{("Location admin", "HQ", "group")}] * 8

    def delete(c: httpx.Client) -> httpx.Response:
        return c.delete(f"{conn.base}/Groups/{admins}", headers=conn.headers)

    # Each PATCH re-evaluates its member (remove and add back) while the delete runs.
    again = [
        patch(
            desk,
            {"op": "remove", "path": f'members[value eq "{u}"]'},
            {"op": "add", "path": "members", "value": [{"value": u}]},
        )
        for u in users
    ]
    assert Counter(_run([*again[:4], delete, *again[4:]], 16)) == {204: 9}
    assert held() == [{("Deliveries", "HQ", "group")}] * 8
