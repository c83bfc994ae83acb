"""Is the database there, and at the schema this code expects? (``/readyz``)

Probed on a raw DBAPI connection rather than through a SQLAlchemy transaction: on SQLite
every transaction begins with ``BEGIN IMMEDIATE`` (storage/engine.py), and a readiness
probe must not queue for the write lock behind real requests.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine


@dataclass(frozen=True)
class DatabaseState:
    reachable: bool
    revisions: frozenset[str]  # rows of alembic_version; empty: never migrated
    error: str | None = None


def _message(exc: BaseException) -> str:
    # The driver's own words (SQLAlchemy's wrapper adds the statement and a docs link).
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {text[0] if text else ''}".rstrip(": ")


def probe(engine: Engine) -> DatabaseState:
    try:
        raw = engine.raw_connection()
    except Exception as exc:
        return DatabaseState(False, frozenset(), _message(exc))
    try:
        cursor = raw.cursor()
        try:
            cursor.execute("SELECT 1")
            cursor.fetchall()
        except Exception as exc:
            return DatabaseState(False, frozenset(), _message(exc))
        try:
            cursor.execute("SELECT version_num FROM alembic_version")
            revisions = frozenset(str(row[0]) for row in cursor.fetchall())
        except Exception:
            # No alembic_version table: a database `roster migrate` never ran on.
            return DatabaseState(True, frozenset())
        return DatabaseState(True, revisions)
    finally:
        raw.close()  # back to the pool, rolled back
