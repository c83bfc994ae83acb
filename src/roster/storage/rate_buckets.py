"""The shared token buckets of the rate limiter (directory/admission/rate_limit.py), in
the database.

One row per bucket, taken from in one statement: an upsert that refills the bucket for the
time since its last update, hands out up to ``want`` tokens (at least one: requests are
charged after they are answered, so the one being charged is always paid for, even into a
small debt) and returns what it granted and what is left. The statement is the whole
critical section: the row lock (PostgreSQL) or the write lock (SQLite) lasts only as long
as it does, never a request's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, TextClause, bindparam, text
from sqlalchemy.types import Float, Integer, String


@dataclass(frozen=True)
class Lease:
    granted: int  # tokens handed out, the charged request's own included (>= 1)
    tokens: float  # left in the shared bucket after it (below 1: empty for now)


def _statement(least: str, greatest: str, floor: str) -> TextClause:
    avail = f"{least}(:burst, b.tokens + {greatest}(0, :now - b.at) * :rate)"
    grant = f"{greatest}(1, {least}(:want, {floor.format(avail)}))"
    first = f"{greatest}(1, {least}(:want, {floor.format(':burst')}))"
    # Only this module's constant fragments are joined here; every value is a bind parameter.
    sql = (
        "INSERT INTO rate_buckets AS b (key, tokens, at, granted) "  # noqa: S608 (see above)
        f"VALUES (:key, :burst - {first}, :now, {first}) "
        "ON CONFLICT (key) DO UPDATE SET "
        f"tokens = {avail} - {grant}, at = {greatest}(b.at, :now), granted = {grant} "
        "RETURNING granted, tokens"
    )
    return text(sql).bindparams(
        bindparam("key", type_=String()),
        bindparam("rate", type_=Float()),
        bindparam("burst", type_=Float()),
        bindparam("want", type_=Integer()),
        bindparam("now", type_=Float()),
    )


# Built once (it runs on the request path). SQLite's min/max take several arguments and its
# CAST truncates (the same as floor for the non-negative values that matter: a negative
# count grants the minimum, 1, either way); PostgreSQL's CAST would round.
_LEASE = {
    "postgresql": _statement("LEAST", "GREATEST", "FLOOR({})"),
    "sqlite": _statement("MIN", "MAX", "CAST({} AS INTEGER)"),
}


def lease(conn: Connection, key: str, *, rate: float, burst: float, want: int, now: float) -> Lease:
    row = conn.execute(
        _LEASE[conn.dialect.name],
        {"key": key, "rate": rate, "burst": burst, "want": want, "now": now},
    ).one()
    return Lease(int(row.granted), float(row.tokens))
