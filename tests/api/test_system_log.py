"""The system log: one entry per SCIM request, in the same transaction as the change."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, func, select

from roster.directory.journal import system_log
from roster.storage.tables import log_entries, resources
from tests.conftest import USER_SCHEMA, Scim, StatementCounter


def _entries(engine: Engine, scim: Scim) -> list[system_log.LogEntry]:
    with engine.connect() as conn:
        # Requests only: admin actions and the directory's own notes are separate entries.
        entries = system_log.recent(conn, scim.tenant_id, limit=100)
        return [e for e in entries if e.actor not in ("admin", "directory")]


def test_every_request_writes_one_entry(engine: Engine, scim: Scim) -> None:
    user = scim.create_user("logged")
    scim.get(f"/Users/{user['id']}")
    scim.get("/Users", params={"filter": 'userName eq "logged"'})
    scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "title", "value": "x"}])
    scim.delete(f"/Users/{user['id']}")
    # Directory notes (method SYNC: "no rules are defined, so nothing is granted" on the
    # create) share the request's id; the requests' own entries are one each.
    entries = [e for e in reversed(_entries(engine, scim)) if e.method != "SYNC"]
    assert [(e.method, e.status) for e in entries] == [
        ("POST", 201),
        ("GET", 200),
        ("GET", 200),
        ("PATCH", 200),
        ("DELETE", 204),
    ]
    assert entries[0].resource_type == "User" and entries[0].resource_id == user["id"]
    assert all(
        e.connection_uid == scim.connection_id and e.request_id and e.duration_ms >= 0
        for e in entries
    )
    assert entries[2].path == "/Users"


def test_rejections_are_logged_with_reason_and_change_nothing(engine: Engine, scim: Scim) -> None:
    scim.create_user("taken")
    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(resources)).scalar_one()
    response = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "TAKEN"})
    assert response.status_code == 409
    bad = scim.get("/Users", params={"filter": "bogus eq 1"})
    assert bad.status_code == 400
    with engine.connect() as conn:
        after = conn.execute(select(func.count()).select_from(resources)).scalar_one()
    assert after == before
    newest = _entries(engine, scim)[:2]
    assert (newest[1].status, newest[1].scim_type) == (409, "uniqueness")
    assert "TAKEN" in (newest[1].detail or "")
    assert (newest[0].status, newest[0].scim_type) == (400, "invalidFilter")
    assert response.headers["X-Request-Id"] == newest[1].request_id


def test_failed_authentication_is_logged_for_the_connection(engine: Engine, scim: Scim) -> None:
    scim.http.get(scim.base + "/Users", headers={"Authorization": "Bearer wrong"})
    entry = _entries(engine, scim)[0]
    assert entry.status == 401 and "invalid bearer token" in (entry.detail or "")


def test_log_is_filterable(engine: Engine, scim: Scim) -> None:
    scim.create_user("f1")
    scim.get("/Users/nope")
    with engine.connect() as conn:
        errors = system_log.recent(conn, scim.tenant_id, outcome="error")
        oks = system_log.recent(conn, scim.tenant_id, outcome="ok", resource_type="User")
        total = conn.execute(
            select(func.count())
            .select_from(log_entries)
            .where(log_entries.c.tenant_id == scim.tenant_id)
        ).scalar_one()
    assert [e.status for e in errors] == [404]
    assert all(e.status < 400 and e.resource_type == "User" for e in oks)
    assert total >= 3


def test_only_requests_that_change_nothing_commit_asynchronously(
    engine: Engine, scim: Scim, count_statements: Callable[[], StatementCounter]
) -> None:
    """Reads write nothing on the request path (their entries are batched, written by the
    read log's own transactions: tests/api/test_read_log.py); rejected writes write only
    their entry, and on PostgreSQL may skip waiting for the WAL flush; a change never
    does."""

    def statements(call: Callable[[], object]) -> list[str]:
        with count_statements() as counter:
            call()
        return [s for s, _ in counter.statements]

    def relaxed(call: Callable[[], object]) -> bool:
        return any("synchronous_commit" in s for s in statements(call))

    def writes(call: Callable[[], object]) -> list[str]:
        return [s for s in statements(call) if not s.startswith(("SELECT", "BEGIN"))]

    pg = engine.dialect.name == "postgresql"
    user: dict[str, object] = {}
    assert not relaxed(lambda: user.update(scim.create_user("durable")))
    assert writes(lambda: scim.get(f"/Users/{user['id']}")) == []
    assert writes(lambda: scim.get("/Users", params={"filter": 'userName eq "durable"'})) == []
    assert not relaxed(
        lambda: scim.patch(
            f"/Users/{user['id']}", [{"op": "replace", "path": "title", "value": "x"}]
        )
    )
    assert writes(lambda: scim.get("/Users/missing")) == []
    assert (
        relaxed(
            lambda: scim.patch("/Users/missing", [{"op": "replace", "path": "title", "value": "x"}])
        )
        is pg
    )
    assert not relaxed(lambda: scim.delete(f"/Users/{user['id']}"))
    if pg:
        with engine.begin() as conn:
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
