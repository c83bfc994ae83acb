"""Directory write times that follow commit order.

The host app polls ``GET /api/v1/employees?updated_since=<the newest updatedAt it saw>``.
That only works if no change becomes visible with an ``updatedAt`` older than one already
seen. On PostgreSQL, transactions commit in any order, so a timestamp taken early in a
slow transaction (a CSV import, a SCIM write waiting on a row lock) can commit after a
later one and be skipped for ever. Every directory write therefore takes its time only
after locking its tenant's row: writes of one tenant are serialised from that point to
their commit, so their times are in commit order. (SQLite's ``BEGIN IMMEDIATE`` already
serialises every write; the lock is a no-op there.)
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from roster.directory.audit import now
from roster.storage import tenancy as store


def write_time(conn: Connection, tenant_id: int) -> datetime:
    store.lock_tenant(conn, tenant_id)
    return now()
