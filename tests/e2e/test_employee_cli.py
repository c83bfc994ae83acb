"""``roster employee add|import|list`` as an admin runs them, in-process, on the suite's
database. Tenants and bulk data are made directly (that part is not what is tested)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from sqlalchemy import Engine

from roster.directory.admin import tenancy
from roster.directory.people import employees
from roster.directory.people.employees import ManualEmployee
from tests.e2e.conftest import cli_json, run_cli, run_with_terminal_stderr


def _tenant(engine: Engine) -> tuple[str, int]:
    name = f"emp-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        return name, tenancy.create_tenant(conn, name).id


def _errors(db_url: str, tenant: str) -> list[dict[str, object]]:
    return list(cli_json(db_url, "log", "--tenant", tenant, "--outcome", "error"))


def test_a_refused_add_is_reported_and_logged(db_url: str, engine: Engine) -> None:
    t, _ = _tenant(engine)
    cli_json(db_url, "employee", "add", "--tenant", t, "--email", "temp@corp.test")
    again = run_cli(
        db_url, "employee", "add", "--tenant", t, "--email", "TEMP@corp.test", "--json", check=False
    )
    assert again.returncode == 1 and "already exists" in json.loads(again.stdout)["error"]
    bad = run_cli(db_url, "employee", "add", "--tenant", t, "--email", "nope", check=False)
    assert bad.returncode == 1 and "not an email address" in bad.stderr
    [second, first] = _errors(db_url, t)  # newest first
    assert (first["status"], first["path"], first["actor"]) == (409, "employee.add", "admin")
    assert str(first["detail"]).startswith("roster employee add: manual employee 'TEMP@corp.test'")
    assert second["status"] == 400 and "'nope'" in str(second["detail"])
    assert [e["email"] for e in cli_json(db_url, "employee", "list", "--tenant", t)] == [
        "temp@corp.test"
    ]


def test_import_reports_every_refused_row_and_totals(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    t, _ = _tenant(engine)
    people = tmp_path / "people.csv"
    people.write_text(
        "email,givenName,title\n"
        "a@corp.test,A,Temp\n"
        "b@corp.test,B,Temp,oops\n"
        "c@corp.test,C\n"
        "A@corp.test,Again,Temp\n"
        "d@corp.test,D,Temp\n"
    )
    result = run_cli(db_url, "employee", "import", "--tenant", t, str(people), check=False)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "2 of 5 rows imported, 3 refused"
    assert lines[1].startswith("  row 3 (b@corp.test): the row has 4 values")
    assert lines[2].startswith("  row 4 (c@corp.test): the row has 2 values")
    assert lines[3] == "  row 5 (A@corp.test): email 'A@corp.test' is already on row 2 of this file"
    logged = _errors(db_url, t)
    assert sorted(str(e["detail"]).split(":")[0] for e in logged) == [
        "people.csv, row 3",
        "people.csv, row 4",
        "people.csv, row 5",
    ]
    listed = cli_json(db_url, "employee", "list", "--tenant", t)
    # One import is one change, with one write time: its rows list in id order.
    assert sorted(e["email"] for e in listed) == ["a@corp.test", "d@corp.test"]


def test_an_empty_file_or_a_header_alone_is_refused(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    t, _ = _tenant(engine)
    empty, header = tmp_path / "empty.csv", tmp_path / "header.csv"
    empty.write_text("")
    header.write_text("email,givenName\n")
    for path, says in ((empty, "the file is empty"), (header, "header row but no employees")):
        result = run_cli(db_url, "employee", "import", "--tenant", t, str(path), check=False)
        assert result.returncode == 1 and says in result.stderr and result.stdout == ""
        as_json = run_cli(
            db_url, "employee", "import", "--tenant", t, str(path), "--json", check=False
        )
        assert as_json.returncode == 1 and says in json.loads(as_json.stdout)["error"]


def test_the_progress_bar_draws_on_the_terminal_never_on_stdout(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    t, _ = _tenant(engine)
    people = tmp_path / "people.csv"
    people.write_text("email\n" + "".join(f"p{i}@corp.test\n" for i in range(50)))
    # stderr is a terminal, stdout a pipe (`roster employee import ... > report.txt`).
    returncode, stdout, drawn = run_with_terminal_stderr(
        db_url, "employee", "import", "--tenant", t, str(people)
    )
    assert returncode == 0
    assert stdout == "50 of 50 rows imported, 0 refused\n"
    assert b"importing" in drawn


def test_list_pages_through_every_employee(db_url: str, engine: Engine) -> None:
    t, tenant_id = _tenant(engine)
    with engine.begin() as conn:
        for i in range(1003):
            employees.add_manual(conn, tenant_id, ManualEmployee(f"p{i:04}@corp.test", {}))
    everyone = cli_json(db_url, "employee", "list", "--tenant", t)
    assert len(everyone) == 1003
    # Every one exactly once, in the API's order: creation time, then id.
    assert {e["email"] for e in everyone} == {f"p{i:04}@corp.test" for i in range(1003)}
    assert everyone == sorted(everyone, key=lambda e: (e["createdAt"], e["id"]))
    human = run_cli(db_url, "employee", "list", "--tenant", t)
    assert len(human.stdout.splitlines()) == 1003 and human.stderr == ""
    limited = run_cli(db_url, "employee", "list", "--tenant", t, "--limit", "5", "--json")
    assert json.loads(limited.stdout) == everyone[:5]
    assert "showing 5 of 1003 employees" in limited.stderr
