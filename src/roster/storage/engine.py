"""Engine construction: SQLite pragmas (WAL, foreign keys) and a PostgreSQL pool; hooks
that run when a transaction commits or ends (the unit of work, directory/journal/change.py,
flushes what it collected through them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, create_engine, event, make_url

# Execution option of a connection whose transaction only reads: on SQLite it begins
# DEFERRED (a WAL reader, concurrent with the writer) instead of IMMEDIATE.
READ_ONLY = "roster_read_only"
# Execution option naming work no request waits for (the batched read log): statement
# counts of requests leave it out.
BACKGROUND = "roster_background"
# Execution option of the rate limiter's leases (directory/admission/rate_limit.py): on the request
# path, but one per lease of several requests, on a connection of their own; statement
# counts of requests leave it out and count it on its own (tests/api/test_rate_limit.py).
LIMITER = "roster_limiter"

_BEFORE_COMMIT: WeakKeyDictionary[Connection, list[Callable[[], None]]] = WeakKeyDictionary()
_ON_END: WeakKeyDictionary[Connection, list[Callable[[], None]]] = WeakKeyDictionary()


def before_commit(conn: Connection, callback: Callable[[], None]) -> None:
    """Run ``callback`` inside ``conn``'s transaction just before it commits."""
    _BEFORE_COMMIT.setdefault(conn, []).append(callback)


def on_end(conn: Connection, callback: Callable[[], None]) -> None:
    """Run ``callback`` when ``conn``'s transaction ends, committed or rolled back."""
    _ON_END.setdefault(conn, []).append(callback)


def _ended(conn: Connection) -> None:
    _BEFORE_COMMIT.pop(conn, None)
    for callback in _ON_END.pop(conn, []):
        callback()


def _committing(conn: Connection) -> None:
    # Callbacks may register more (a flush that logs): run until none are left.
    while callbacks := _BEFORE_COMMIT.pop(conn, None):
        for callback in callbacks:
            callback()
    _ended(conn)


def _hooks(engine: Engine) -> Engine:
    event.listen(engine, "commit", _committing)
    event.listen(engine, "rollback", _ended)
    return engine


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


def _file_database(url: str) -> bool:
    # As SQLAlchemy's pysqlite dialect chooses its pool: a file gets a QueuePool.
    parsed = make_url(url)
    memory = parsed.query.get("mode") == "memory"
    return parsed.database not in (None, "", ":memory:") and not memory


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        # A file's pool hands out the most recently returned connection first: in WAL
        # mode a connection drops its page cache whenever another one has committed since
        # its last transaction, so the default first-in-first-out rotation made every
        # request re-read its pages (about 40 reads per SCIM create, strace). LIFO keeps
        # requests on the connection that wrote last, whose cache is still valid. (An
        # in-memory database has a pool of one connection per thread, without the option.)
        lifo = {"pool_use_lifo": True} if _file_database(url) else {}
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **lifo
        )

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
            # A transaction that writes takes the write lock up front, so two processes
            # never deadlock upgrading a read lock.
            # A read-only transaction (READ_ONLY) begins DEFERRED: a WAL snapshot that
            # neither waits for the writer nor makes it wait.
            read_only = conn.get_execution_options().get(READ_ONLY, False)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return _hooks(engine)
    return _hooks(create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True))
