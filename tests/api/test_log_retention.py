"""System-log retention (issue 15): `roster log prune` and `roster serve`'s hourly pass
delete the entries older than ROSTER_LOG_RETENTION_DAYS (or a cut-off given), chunk by
chunk, every tenant's; newer entries stay."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select
from starlette.testclient import TestClient
from typer.testing import CliRunner

from roster.cli import app as cli_app
from roster.directory.journal import retention
from roster.directory.journal.system_log import Outcome, entry
from roster.http.app import create_app
from roster.settings import Settings
from roster.storage.system_log import insert_entries
from roster.storage.tables import log_entries, rate_buckets

NOW = datetime.now(UTC).replace(tzinfo=None)


def _write(engine: Engine, tenant_id: int, ages_in_days: list[float]) -> str:
    """Entries of a made-up tenant, written ``ages_in_days`` ago; returns their request id."""
    request_id = str(uuid.uuid4())
    entries = []
    for age in ages_in_days:
        made = entry(
            tenant_id=tenant_id,
            connection_uid=None,
            actor="test",
            method="GET",
            path="/Users",
            outcome=Outcome(200),
            request_id=request_id,
        )
        entries.append(made.__class__(**{**made.__dict__, "at": NOW - timedelta(days=age)}))
    with engine.begin() as conn:
        insert_entries(conn, entries)
    return request_id


def _ages(engine: Engine, request_id: str) -> list[int]:
    with engine.connect() as conn:
        rows = conn.execute(select(log_entries.c.at).where(log_entries.c.request_id == request_id))
        return sorted(round((NOW - r.at).total_seconds() / 86400) for r in rows)


@pytest.fixture
def tenant_id() -> int:
    return 900_000 + uuid.uuid4().int % 100_000  # entries need no tenant row


def test_prune_deletes_in_chunks_what_is_past_the_cutoff(engine: Engine, tenant_id: int) -> None:
    request = _write(engine, tenant_id, [1, 89, 91, 120, 200, 365, 400, 500, 1000])
    pruned = retention.prune(engine, retention.cutoff(90), chunk=2)
    assert pruned.entries >= 7  # ours; other tests write only fresh entries
    assert _ages(engine, request) == [1, 89]
    assert retention.prune(engine, retention.cutoff(90)).entries == 0  # idempotent


def test_idle_rate_buckets_go_too(engine: Engine) -> None:
    key = f"test:{uuid.uuid4()}"
    with engine.begin() as conn:
        conn.execute(
            insert(rate_buckets),
            [
                {"key": key + ":idle", "tokens": 5, "at": time.time() - 2 * 86400, "granted": 1},
                {"key": key + ":busy", "tokens": 5, "at": time.time(), "granted": 1},
            ],
        )
    retention.prune(engine, retention.cutoff(90))
    with engine.connect() as conn:
        left = conn.execute(
            select(rate_buckets.c.key).where(rate_buckets.c.key.startswith(key))
        ).scalars()
        assert list(left) == [key + ":busy"]


def _cli(db_url: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setenv("ROSTER_DATABASE_URL", db_url)
    return CliRunner().invoke(cli_app, ["log", "prune", *args])


def test_roster_log_prune_asks_then_deletes(
    db_url: str, engine: Engine, tenant_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = _write(engine, tenant_id, [5, 40, 100])
    # Without --yes and without a terminal: refused, nothing deleted.
    refused = _cli(db_url, monkeypatch, "--older-than", "30", "--json")
    assert refused.exit_code == 2
    assert "needs --yes" in json.loads(refused.stdout)["error"]
    assert _ages(engine, request) == [5, 40, 100]
    done = _cli(db_url, monkeypatch, "--older-than", "30", "--yes", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["deleted"] >= 2
    assert _ages(engine, request) == [5]
    # The setting is the default cut-off.
    monkeypatch.setenv("ROSTER_LOG_RETENTION_DAYS", "3")
    assert _cli(db_url, monkeypatch, "--yes").exit_code == 0
    assert _ages(engine, request) == []


def test_roster_log_prune_before_a_date(
    db_url: str, engine: Engine, tenant_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = _write(engine, tenant_id, [10, 1000])
    cut = (NOW - timedelta(days=500)).date().isoformat()
    done = _cli(db_url, monkeypatch, "--before", cut, "--yes")
    assert done.exit_code == 0, done.output
    assert "log entries before" in done.stdout
    assert _ages(engine, request) == [10]
    bad = _cli(db_url, monkeypatch, "--before", "last tuesday", "--yes")
    assert bad.exit_code == 2 and "is not a date" in bad.output
    both = _cli(db_url, monkeypatch, "--before", cut, "--older-than", "3", "--yes")
    assert both.exit_code == 2


def test_roster_log_still_shows_a_tenants_entries(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROSTER_DATABASE_URL", db_url)
    shown = CliRunner().invoke(cli_app, ["log", "--tenant", "no-such-tenant"])
    assert shown.exit_code == 1 and "no-such-tenant" in shown.output


def test_serve_runs_the_pass_and_zero_days_keeps_everything(
    db_url: str, engine: Engine, tenant_id: int
) -> None:
    request = _write(engine, tenant_id, [2, 95])
    with TestClient(create_app(Settings(database_url=db_url), engine)) as client:
        loop = client.app.state.retention  # type: ignore[attr-defined]
        assert loop is not None
        loop.run_once()  # what the hourly pass does
    assert _ages(engine, request) == [2]
    keep = Settings(database_url=db_url, log_retention_days=0)
    with TestClient(create_app(keep, engine)) as client:
        assert client.app.state.retention is None  # type: ignore[attr-defined]
