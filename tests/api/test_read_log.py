"""Read requests' system-log entries are written in batches, off the request path
(directory/journal/read_log.py): nothing is lost at shutdown, and overload drops reads' entries
with a count rather than slowing the API."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from starlette.testclient import TestClient

from roster.directory.journal.change import now
from roster.directory.journal.read_log import ReadLog
from roster.http.app import create_app
from roster.settings import Settings
from roster.storage.system_log import LogEntry
from roster.storage.tables import log_entries
from tests.conftest import Scim, StatementCounter, new_connection


def _entry(tenant_id: int, request_id: str) -> LogEntry:
    return LogEntry(
        tenant_id=tenant_id,
        connection_uid=None,
        at=now(),
        actor="scim",
        method="GET",
        path="/Users",
        resource_type="User",
        resource_id=None,
        status=200,
        scim_type=None,
        detail=None,
        request_id=request_id,
        duration_ms=1.0,
    )


def _written(engine: Engine, prefix: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(log_entries)
                .where(log_entries.c.request_id.like(f"{prefix}%"))
            ).scalar_one()
        )


def test_entries_wait_in_the_buffer_and_flush_in_batches(
    engine: Engine, scim: Scim, count_statements: Callable[[], StatementCounter]
) -> None:
    read_log = ReadLog(engine, interval=60)
    prefix = uuid.uuid4().hex[:24]
    for i in range(1200):
        read_log.add(_entry(scim.tenant_id, f"{prefix}-{i}"))
    assert _written(engine, prefix) == 0  # nothing on the request path
    assert read_log.flush() == 1200
    assert _written(engine, prefix) == 1200
    assert read_log.flush() == 0


def test_a_full_buffer_drops_reads_and_says_how_many(
    engine: Engine, scim: Scim, caplog: pytest.LogCaptureFixture
) -> None:
    read_log = ReadLog(engine, interval=60, capacity=3)
    prefix = uuid.uuid4().hex[:24]
    for i in range(5):
        read_log.add(_entry(scim.tenant_id, f"{prefix}-{i}"))
    assert read_log.dropped == 2
    with caplog.at_level(logging.WARNING, logger="roster.read_log"):
        assert read_log.flush() == 3
    assert "2 entries dropped" in caplog.text
    assert read_log.dropped == 0


def test_the_writer_thread_writes_within_its_interval_and_at_stop(
    engine: Engine, scim: Scim
) -> None:
    read_log = ReadLog(engine, interval=0.05)
    read_log.start()
    prefix = uuid.uuid4().hex[:24]
    read_log.add(_entry(scim.tenant_id, f"{prefix}-a"))
    deadline = time.monotonic() + 10
    while _written(engine, prefix) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)  # polling an asynchronous writer, bounded; no result is timed
    assert _written(engine, prefix) == 1
    read_log.add(_entry(scim.tenant_id, f"{prefix}-b"))
    read_log.stop()
    assert _written(engine, prefix) == 2


def test_a_read_request_commits_nothing_and_its_entry_is_written_at_shutdown(
    engine: Engine, db_url: str, count_statements: Callable[[], StatementCounter]
) -> None:
    settings = Settings(
        database_url=db_url, public_url="http://testserver", read_log_flush_seconds=3600
    )
    with TestClient(create_app(settings, engine)) as http:
        scim = new_connection(engine, http)
        scim.create_user("reader")
        with count_statements() as counter:
            found = scim.get("/Users", params={"filter": 'userName eq "reader"'})
        assert found.json()["totalResults"] == 1
        request_id = found.headers["X-Request-Id"]
        assert not any(sql.startswith("INSERT") for sql, _ in counter.statements)
        assert _written(engine, request_id) == 0
    # The app shut down: its buffer was written.
    assert _written(engine, request_id) == 1


def test_the_batches_commit_without_waiting_for_the_wal_flush_on_postgresql(
    engine: Engine, scim: Scim
) -> None:
    seen: list[str] = []

    def on(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    read_log = ReadLog(engine, interval=60)
    read_log.add(_entry(scim.tenant_id, uuid.uuid4().hex[:24]))
    event.listen(engine, "before_cursor_execute", on)
    try:
        assert read_log.flush() == 1
    finally:
        event.remove(engine, "before_cursor_execute", on)
    relaxed = any("synchronous_commit" in s for s in seen)
    assert relaxed is (engine.dialect.name == "postgresql")
