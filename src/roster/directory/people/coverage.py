"""Which of a connection's users are in the employee directory, and why the others are not.

A SCIM user without a usable primary email is stored and answered normally but makes no
employee (directory/employees.sync_user): the IdP must not fail or retry for ever over a
rule of the directory's. The admin sees them here instead (`roster connection show`, the
console's dashboard), counted by reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection

from roster.directory.attributes.employee_fields import primary_email
from roster.storage import read_api as reads

NO_EMAIL = "no primary email"
NOT_AN_ADDRESS = "primary email is not an email address"
SHARED = "primary email belongs to another employee"
REASONS = (NO_EMAIL, NOT_AN_ADDRESS, SHARED)
EXAMPLES = 5  # userNames shown per reason
SCAN_LIMIT = 100_000  # users examined at most; beyond it the counts say "at least"


@dataclass(frozen=True)
class Coverage:
    """The users of one connection kept out of the directory: counts and a few userNames
    per reason. ``complete`` is False when more users than SCAN_LIMIT were kept out."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    complete: bool = True

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def reason_of(doc: dict[str, object]) -> str:
    email = primary_email(doc)
    if email is None:
        return NO_EMAIL
    if "@" not in email:
        return NOT_AN_ADDRESS
    # A usable email, yet no employee: another user of this connection held it when the
    # user was last written (it joins at its next write after that user left or changed).
    return SHARED


def of_connection(conn: Connection, tenant_id: int, connection_id: int) -> Coverage:
    counts: dict[str, int] = {}
    examples: dict[str, list[str]] = {}
    rows = reads.users_without_employee(conn, tenant_id, connection_id, SCAN_LIMIT + 1)
    for user_name, doc in rows[:SCAN_LIMIT]:
        reason = reason_of(doc)
        counts[reason] = counts.get(reason, 0) + 1
        shown = examples.setdefault(reason, [])
        if len(shown) < EXAMPLES:
            shown.append(user_name)
    ordered = {r: counts[r] for r in REASONS if r in counts}
    return Coverage(ordered, examples, complete=len(rows) <= SCAN_LIMIT)
