"""A unique key already taken is a domain error (409 uniqueness), not a driver's exception:
``with unique_key("why, for the admin or the IdP"): <insert or update>``. Layers above
storage never import the database driver's errors.

Only unique violations are translated (SQLSTATE 23505 on PostgreSQL, "UNIQUE constraint
failed" on SQLite); a foreign-key or NOT NULL violation is a bug and stays what it is.
On PostgreSQL the transaction is aborted after it, so the caller must not go on writing
(every caller lets the error end the request).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError

from roster.errors import UniquenessConflict

_UNIQUE_VIOLATION = "23505"


def is_unique_violation(exc: IntegrityError) -> bool:
    state = getattr(exc.orig, "sqlstate", None)
    if state is not None:
        return bool(state == _UNIQUE_VIOLATION)
    return "UNIQUE constraint failed" in str(exc.orig)


@contextmanager
def unique_key(detail: str, *, attribute: str | None = None) -> Iterator[None]:
    try:
        yield
    except IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        raise UniquenessConflict(detail, attribute=attribute) from exc
