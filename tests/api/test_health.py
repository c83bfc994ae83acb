"""/healthz answers while the process serves; /readyz only when the database answers and
its schema is at this code's Alembic head (else 503 saying what is wrong)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from starlette.testclient import TestClient

from roster.http.app import create_app
from roster.settings import Settings
from roster.storage.engine import make_engine
from roster.storage.migrate import MIGRATIONS, head_revisions, upgrade
from tests.e2e.conftest import free_port


def _answers(database_url: str) -> tuple[int, dict[str, object], int]:
    """(/readyz status, /readyz body, /healthz status) of an app on ``database_url``."""
    engine = make_engine(database_url)
    try:
        with TestClient(create_app(Settings(database_url=database_url), engine)) as client:
            ready = client.get("/readyz")
            live = client.get("/healthz")
            return ready.status_code, ready.json(), live.status_code
    finally:
        engine.dispose()


def test_healthz_and_readyz_on_the_migrated_database(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok", "revision": sorted(head_revisions())}
    assert ready.headers["cache-control"] == "no-store"


def test_readyz_when_the_sqlite_file_cannot_be_opened(tmp_path: Path) -> None:
    status, body, live = _answers(f"sqlite:///{tmp_path / 'no-such-folder' / 'roster.db'}")
    assert (status, live) == (503, 200)
    assert body["status"] == "unavailable" and body["database"] == "unreachable"
    assert "unable to open database file" in str(body["detail"])


def test_readyz_when_nothing_listens_on_the_postgresql_port() -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/roster"
    status, body, live = _answers(url)
    assert (status, live) == (503, 200)
    assert body["database"] == "unreachable"
    assert "refused" in str(body["detail"]).lower()


def test_readyz_before_roster_migrate(tmp_path: Path) -> None:
    status, body, _ = _answers(f"sqlite:///{tmp_path / 'empty.db'}")
    assert status == 503
    assert body["database"] == "not migrated" and body["revision"] == []
    assert body["expected_revision"] == sorted(head_revisions())
    assert "run `roster migrate`" in str(body["detail"])


def test_readyz_on_a_schema_behind_the_code(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    [head] = head_revisions()
    # The revision before head, as the history says (numbers need not be consecutive).
    older = ScriptDirectory(str(MIGRATIONS)).get_revision(head).down_revision
    assert isinstance(older, str)
    upgrade(url, older)
    status, body, _ = _answers(url)
    assert status == 503
    assert (body["database"], body["revision"]) == ("not migrated", [older])
    assert f"at {older}, this code expects {head}" in str(body["detail"])
    upgrade(url)
    assert _answers(url)[0] == 200


@pytest.mark.skipif(
    not os.environ.get("ROSTER_TEST_DATABASE_URL"), reason="PostgreSQL: the suite's server"
)
def test_readyz_on_an_unmigrated_postgresql_schema(db_url: str) -> None:
    # A schema of its own on the suite's server: search_path decides what is found.
    schema = f"readyz_{os.getpid()}"
    admin = make_engine(db_url)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        sep = "&" if "?" in db_url else "?"
        status, body, _ = _answers(f"{db_url}{sep}options=-csearch_path%3D{schema}")
        assert status == 503 and body["database"] == "not migrated"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
