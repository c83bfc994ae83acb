"""SQLite engines (storage/engine.py): a file's pool hands out the connection returned last,
so a request's connection keeps its WAL page cache; in-memory URLs still build."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from roster.storage.engine import make_engine


def test_a_file_database_reuses_the_connection_returned_last(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'pool.db'}")
    try:
        first, second = engine.connect(), engine.connect()
        raw_first = first.connection.dbapi_connection
        raw_second = second.connection.dbapi_connection
        assert raw_first is not raw_second
        second.close()
        first.close()  # returned last
        with engine.connect() as again:
            # First in, first out would hand out `second`'s connection here.
            assert again.connection.dbapi_connection is raw_first
            assert again.execute(text("select 1")).scalar() == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_urls_still_make_an_engine(url: str) -> None:
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("select 1")).scalar() == 1
    engine.dispose()
