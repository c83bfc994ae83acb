"""Manual employees from a CSV file (``roster employee import``), and the system-log entry
of every refused manual employee.

The file is read whole before anything is written: a file that cannot be imported at all
(empty, header only, no email column, unknown columns, unreadable CSV) is refused before
any row is. Then each row is added in a savepoint of its own: a refused row rolls back
alone, and its log entry — naming the row and the reason — is written outside that
savepoint, so it survives. The caller commits every ``BATCH_ROWS`` rows, so a large import
never holds its locks for its whole duration; a crash loses only the batch in progress.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from roster.directory.journal.change import savepoint
from roster.directory.journal.system_log import note
from roster.directory.people import employees
from roster.directory.people.employees import MANUAL_FIELDS, EmployeeRow, ManualEmployee
from roster.errors import InvalidValue, NotFound, RosterError, UniquenessConflict
from roster.storage import employees as emp_store
from roster.storage import locations as loc_store

__all__ = [
    "BATCH_ROWS",
    "CsvRow",
    "RowResult",
    "add_one",
    "column",
    "import_file",
    "import_rows",
    "note_imported",
    "note_refused",
    "read_csv",
    "sniff_delimiter",
]

# Rows per transaction: big enough that commits cost little, small enough that an import
# of 100,000 rows never blocks SCIM writes to the same tenant for long.
BATCH_ROWS = 200

_ALIASES = {name.lower(): name for name in MANUAL_FIELDS} | {
    name.lower().replace("_", ""): name for name in MANUAL_FIELDS
}


def column(header: str) -> str | None:
    """The field a header names (``email``, ``locations`` or a manual field), or None."""
    low = header.strip().lower().replace("_", "").replace(" ", "").replace("-", "")
    if low in ("email", "primaryemail", "emailaddress"):
        return "email"
    if low in ("locations", "location"):
        return "locations"
    return _ALIASES.get(low)


@dataclass(frozen=True)
class CsvRow:
    """One record of the file. ``number`` is its line in the file (the header is line 1),
    what a person fixing the file looks for; ``error`` refuses it before any database
    work (a malformed record, a repeated email)."""

    number: int
    email: str
    person: ManualEmployee | None
    error: RosterError | None = None
    # The fields the file has a column for (``locations`` too): what an update replaces.
    columns: frozenset[str] = frozenset()


DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}


def sniff_delimiter(header: str) -> str:
    """The delimiter of a file whose header row is ``header``: a comma, unless the header
    has none and is split by semicolons (a spreadsheet saved in a locale whose decimal
    mark is a comma) or tabs. Counted, not guessed from the data: the header is the one
    line whose cells are known to hold no delimiter."""
    if "," in header:
        return ","
    counts = {d: header.count(d) for d in (";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_csv(lines: Iterable[str]) -> list[CsvRow]:
    """Parse the whole file; raise InvalidValue for a file no row of which can be imported.
    Comma-, semicolon- and tab-separated files are read alike (sniff_delimiter)."""
    text = list(lines)
    reader = csv.reader(text, delimiter=sniff_delimiter(text[0] if text else ""))
    try:
        header = next(reader, None)
        records = [(reader.line_num, record) for record in reader if record]
    except csv.Error as exc:
        raise InvalidValue(f"not valid CSV at line {reader.line_num}: {exc}") from None
    if header is None or not any(h.strip() for h in header):
        raise InvalidValue("the file is empty: it needs a header row (email, …) and a row each")
    names = [column(h) for h in header]
    unknown = [h for h, name in zip(header, names, strict=True) if name is None]
    if unknown:
        raise InvalidValue(
            f"unknown column(s) {', '.join(repr(h) for h in unknown)}; known: email, "
            f"locations, {', '.join(MANUAL_FIELDS)}"
        )
    if "email" not in names:
        raise InvalidValue("no email column (the header row names the columns)")
    repeated = sorted({n for n in names if n is not None and names.count(n) > 1})
    if repeated:
        raise InvalidValue(f"more than one column for {', '.join(repeated)}")
    if not records:
        raise InvalidValue("the file has a header row but no employees")
    out: list[CsvRow] = []
    first_row: dict[str, int] = {}  # email key -> the row that had it first
    for number, record in records:
        values = {name: value.strip() for name, value in zip(names, record, strict=False) if name}
        email = values.pop("email", "")
        if len(record) != len(header):
            # csv.DictReader would silently drop the extra values or fill the missing ones
            # with nothing; either way the row is not what its author meant (an unquoted
            # comma, a lost column), so it is refused rather than guessed at.
            out.append(
                CsvRow(
                    number,
                    email,
                    None,
                    InvalidValue(
                        f"the row has {len(record)} values but the header names "
                        f"{len(header)} columns (quote a value that contains a comma)"
                    ),
                )
            )
            continue
        key = email.lower()
        if key and key in first_row:
            out.append(
                CsvRow(
                    number,
                    email,
                    None,
                    UniquenessConflict(
                        f"email {email!r} is already on row {first_row[key]} of this file"
                    ),
                )
            )
            continue
        if key:
            first_row[key] = number
        places = [n.strip() for n in values.pop("locations", "").split(";") if n.strip()]
        fields = {k: v for k, v in values.items() if v}
        columns = frozenset(n for n in names if n is not None and n != "email")
        out.append(CsvRow(number, email, ManualEmployee(email, fields, places), None, columns))
    return out


def note_refused(
    conn: Connection,
    tenant_id: int,
    email: str,
    err: RosterError,
    *,
    where: str,
) -> None:
    """The system-log entry of a manual employee an admin asked for and did not get. Write
    it outside the savepoint (or after the transaction) the refused change rolled back in."""
    note(
        conn,
        tenant_id,
        None,
        "employee.add",
        f"{where}: manual employee {email or '(no email)'!r} refused: {err.detail}",
        actor="admin",
        status=err.status,
    )


def add_one(
    conn: Connection, tenant_id: int, person: ManualEmployee, *, where: str
) -> EmployeeRow | RosterError:
    """Add one manual employee (`roster employee add`, the console's form): the employee,
    or the refusal, committed to the system log with ``where`` (outside the savepoint the
    add rolled back in) so the log shows what was asked and why it was refused."""
    try:
        with savepoint(conn, tenant_id):
            return employees.add_manual(conn, tenant_id, person)
    except RosterError as err:
        note_refused(conn, tenant_id, person.email, err, where=where)
        return err


@dataclass(frozen=True)
class RowResult:
    number: int
    email: str
    employee_id: str | None  # None: refused
    error: str | None = None
    action: str = "added"  # added | updated | refused

    @property
    def refused(self) -> bool:
        return self.employee_id is None


def _existing(conn: Connection, tenant_id: int, email: str) -> EmployeeRow | None:
    if "@" not in email:
        return None  # not an email: adding it is refused, saying so
    try:
        return employees.find(conn, tenant_id, email)
    except NotFound:
        return None


def _update(
    conn: Connection,
    tenant_id: int,
    before: EmployeeRow,
    row: ManualEmployee,
    columns: frozenset[str],
) -> EmployeeRow:
    """``before`` changed as ``row`` says: the fields the file has a column for take the
    row's values (an empty cell clears one), the others keep theirs; a ``locations``
    column replaces the employee's locations, none keeps them. A synced employee is
    refused (employees.edit_manual: the IdP's to change)."""
    kept = {
        name: str(value)
        for name, value in before.fields.items()
        if name in MANUAL_FIELDS and name not in columns and value not in (None, "")
    }
    if "locations" in columns:
        places: Sequence[str] = row.locations
    else:
        have = emp_store.locations_of(conn, tenant_id, [before.pk])[before.pk]
        places = [loc.id for loc in loc_store.all_of(conn, tenant_id) if loc.pk in have]
    person = ManualEmployee(before.email, {**kept, **row.fields}, places)
    return employees.edit_manual(conn, tenant_id, before.id, person)


def import_rows(
    conn: Connection,
    tenant_id: int,
    rows: Sequence[CsvRow],
    source: str,
    advance: Callable[[], None] = lambda: None,
    *,
    update: bool = False,
) -> list[RowResult]:
    """Import ``rows`` in the caller's transaction, each in its own savepoint. ``source``
    names the file in the log entries of refused rows. ``update``: a row whose email an
    employee already has changes that employee (if manual) instead of being refused."""
    out: list[RowResult] = []
    for row in rows:
        error = row.error
        if error is None and row.person is not None:
            try:
                with savepoint(conn, tenant_id):
                    before = _existing(conn, tenant_id, row.email) if update else None
                    if before is None:
                        done, action = employees.add_manual(conn, tenant_id, row.person), "added"
                    else:
                        done = _update(conn, tenant_id, before, row.person, row.columns)
                        action = "updated"
                out.append(RowResult(row.number, row.email, done.id, None, action))
            except RosterError as err:
                error = err
        if error is not None:
            note_refused(conn, tenant_id, row.email, error, where=f"{source}, row {row.number}")
            out.append(RowResult(row.number, row.email, None, error.detail, "refused"))
        advance()
    return out


def import_file(
    engine: Engine,
    tenant_id: int,
    rows: Sequence[CsvRow],
    source: str,
    advance: Callable[[], None] = lambda: None,
    *,
    batch_rows: int = BATCH_ROWS,
    update: bool = False,
) -> list[RowResult]:
    """Import a whole file, committing every ``batch_rows`` rows; then log the totals.
    Batches already committed stay if a later one fails unexpectedly (the error
    propagates): each row stands alone anyway, and the log says which rows went in."""
    results: list[RowResult] = []
    for start in range(0, len(rows), batch_rows):
        with engine.begin() as conn:
            results += import_rows(
                conn, tenant_id, rows[start : start + batch_rows], source, advance, update=update
            )
    with engine.begin() as conn:
        note_imported(conn, tenant_id, source, results)
    return results


def note_imported(
    conn: Connection, tenant_id: int, source: str, results: Sequence[RowResult]
) -> None:
    """One entry for the whole import, so the log shows its totals next to its rows."""
    refused = [r.number for r in results if r.employee_id is None]
    updated = sum(1 for r in results if r.action == "updated")
    note(
        conn,
        tenant_id,
        None,
        "employee.import",
        f"{source}: {len(results) - len(refused)} of {len(results)} rows imported"
        + (f" ({updated} updated existing employees)" if updated else "")
        + (f"; refused rows {', '.join(map(str, refused))}" if refused else ""),
        actor="admin",
    )
