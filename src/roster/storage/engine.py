"""Engine construction: SQLite pragmas (WAL, foreign keys) and a PostgreSQL pool."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event

# An execution option for connections that only read (a metrics scrape): on SQLite their
# transactions begin DEFERRED instead of taking the write lock.
READ_ONLY = "roster_read_only"


def normalise_url(url: str) -> str:
    # psycopg 3 is the PostgreSQL driver; accept the plain scheme people paste.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def relax_durability(conn: Connection) -> None:
    """Let this transaction commit without waiting for its WAL flush (PostgreSQL).

    For transactions that write nothing but their own system-log entry (reads, and
    rejections rolled back before): a crash may lose the last fraction of a second of such
    entries, never a change. Changes keep synchronous commits. SQLite's WAL with
    synchronous=NORMAL already commits without an fsync.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event emit BEGIN itself (the pysqlite recipe).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            # LIKE must respect case as on PostgreSQL: caseExact attributes (RFC 7643 §2.2)
            # compare exact text; the others are stored and compared lower-cased.
            cur.execute("PRAGMA case_sensitive_like=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            if conn.get_execution_options().get(READ_ONLY):
                # A metrics scrape reads and writes nothing: never queue for the write lock.
                conn.exec_driver_sql("BEGIN")
                return
            # Every SCIM request writes a log entry, so every transaction writes: take the
            # write lock up front, so two processes never deadlock upgrading a read lock.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
