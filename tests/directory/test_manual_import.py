"""Manual employees from CSV: malformed rows, repeated emails, empty files, batches, and the
system-log entry of every refused row."""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy import Engine, event

from roster.directory.journal import system_log
from roster.directory.people import employees, manual_import
from roster.directory.people.manual_import import CsvRow, read_csv
from roster.directory.places import locations
from roster.errors import InvalidValue
from tests.conftest import Scim
from tests.directory.conftest import Api


def _read(text: str) -> list[CsvRow]:
    return read_csv(io.StringIO(text, newline=""))


def _admin_log(engine: Engine, scim: Scim) -> list[system_log.LogEntry]:
    with engine.connect() as conn:
        entries = system_log.recent(conn, scim.tenant_id, limit=500)
    return [e for e in reversed(entries) if e.actor == "admin"]


def test_rows_with_too_many_or_too_few_values_are_refused_not_guessed() -> None:
    rows = _read(
        "email,givenName,title\n"
        "ok@corp.test,Ok,Temp\n"
        "long@corp.test,Long,Temp,extra\n"  # an unquoted comma, say
        "short@corp.test,Short\n"
        '"quoted@corp.test","Smith, Jo",Temp\n'
    )
    assert [(r.number, r.email, r.error is None) for r in rows] == [
        (2, "ok@corp.test", True),
        (3, "long@corp.test", False),
        (4, "short@corp.test", False),
        (5, "quoted@corp.test", True),
    ]
    assert rows[1].error is not None and "4 values but the header names 3" in rows[1].error.detail
    assert rows[2].error is not None and "2 values but the header names 3" in rows[2].error.detail
    assert rows[3].person is not None and rows[3].person.fields["givenName"] == "Smith, Jo"


def test_a_repeated_email_is_refused_naming_the_first_row() -> None:
    rows = _read("email\na@corp.test\n\nb@corp.test\nA@Corp.test\n")
    # Blank lines are skipped but still counted: row numbers are lines of the file.
    assert [r.number for r in rows] == [2, 4, 5]
    assert rows[2].error is not None and rows[2].error.status == 409
    assert "already on row 2" in rows[2].error.detail


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "the file is empty"),
        ("\n\n", "the file is empty"),
        ("email,givenName\n", "header row but no employees"),
        ("email,givenName\n\n\n", "header row but no employees"),
        ("givenName\nAl\n", "no email column"),
        ("email,shoeSize\na@corp.test,9\n", "unknown column(s) 'shoeSize'"),
        ("email,e-mail address\na@corp.test,b@corp.test\n", "more than one column for email"),
        # A value past the csv module's field size limit (128 KiB): what it cannot parse.
        ("email\n" + "a" * 200_000 + "\n", "not valid CSV at line 2"),
    ],
)
def test_a_file_with_nothing_to_import_says_why(text: str, says: str) -> None:
    with pytest.raises(InvalidValue, match=says.replace("(", r"\(").replace(")", r"\)")):
        _read(text)


def test_each_refused_row_is_logged_and_the_good_rows_stay(
    engine: Engine, scim: Scim, api: Api
) -> None:
    with engine.begin() as conn:
        locations.add(conn, scim.tenant_id, "HQ")
    rows = _read(
        "email,givenName,locations\n"
        "a@corp.test,A,HQ\n"
        "not-an-email,X,\n"
        "b@corp.test,B,Atlantis\n"
        "c@corp.test,C\n"
        "A@corp.test,Again,\n"
        "d@corp.test,D,\n"
    )
    results = manual_import.import_file(engine, scim.tenant_id, rows, "people.csv", batch_rows=2)
    assert [(r.number, r.employee_id is not None) for r in results] == [
        (2, True),
        (3, False),
        (4, False),
        (5, False),
        (6, False),
        (7, True),
    ]
    assert sorted(e["email"] for e in api.employees()) == ["a@corp.test", "d@corp.test"]
    log = _admin_log(engine, scim)
    refused = [e for e in log if e.path == "employee.add" and e.status >= 400]
    assert [(e.status, (e.detail or "").split(":")[0]) for e in refused] == [
        (400, "people.csv, row 3"),
        (404, "people.csv, row 4"),
        (400, "people.csv, row 5"),
        (409, "people.csv, row 6"),
    ]
    assert "Atlantis" in (refused[1].detail or "") and "already on row 2" in (
        refused[3].detail or ""
    )
    assert sum(1 for e in log if e.path == "employee.add" and e.status == 200) == 2
    [total] = [e for e in log if e.path == "employee.import"]
    assert total.detail == "people.csv: 2 of 6 rows imported; refused rows 3, 4, 5, 6"


def test_an_import_commits_a_batch_at_a_time(engine: Engine, scim: Scim, api: Api) -> None:
    rows = _read("email\n" + "".join(f"p{i}@corp.test\n" for i in range(5)))
    commits: list[Any] = []

    def on_commit(conn: Any) -> None:
        commits.append(conn)

    event.listen(engine, "commit", on_commit)
    try:
        manual_import.import_file(engine, scim.tenant_id, rows, "f.csv", batch_rows=2)
    finally:
        event.remove(engine, "commit", on_commit)
    assert len(commits) == 3 + 1  # three batches of at most 2 rows, then the totals' entry
    assert len(api.employees()) == 5


def test_an_unexpected_failure_loses_only_its_batch(
    engine: Engine, scim: Scim, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _read("email\n" + "".join(f"p{i}@corp.test\n" for i in range(5)))
    add = employees.add_manual

    def crash_on_p3(conn: Any, tenant_id: int, person: Any) -> Any:
        if person.email == "p3@corp.test":
            raise RuntimeError("the database went away")
        return add(conn, tenant_id, person)

    monkeypatch.setattr(employees, "add_manual", crash_on_p3)
    with pytest.raises(RuntimeError):
        manual_import.import_file(engine, scim.tenant_id, rows, "f.csv", batch_rows=2)
    # The first batch is in; the second (p2, p3) rolled back whole; p4 was never tried.
    assert sorted(e["email"] for e in api.employees()) == ["p0@corp.test", "p1@corp.test"]
