"""What every ``roster`` command shares: settings, one transaction per command, and how a
refusal is printed (a message, or ``{"error": …}`` with ``--json``; exit status 1)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from roster.directory.admin import tenancy
from roster.errors import NoDatabase, RosterError, UnknownLocation
from roster.settings import Settings
from roster.storage.engine import make_engine

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
YesFlag = Annotated[
    bool, typer.Option("--yes", "-y", help="Do it without asking for confirmation.")
]
ConnectionArg = Annotated[
    str,
    typer.Argument(
        metavar="CONNECTION",
        help="The connection: its id, the start of its id (as `roster log` shows it), or its name.",
    ),
]
ConnectionTenantOpt = Annotated[
    str | None,
    typer.Option(
        "--tenant",
        help="Only this tenant's connections (needed for a name several tenants use).",
    ),
]
T = TypeVar("T")


def settings() -> Settings:
    return Settings()


def missing_default_database(current: Settings) -> str | None:
    """Why the default SQLite file cannot be used, when ROSTER_DATABASE_URL is unset and
    there is no ``roster.db`` here: said instead of silently creating an empty one."""
    default = current.default_database_file()
    if default is None or default.exists():
        return None
    return (
        f"no database at {default}: ROSTER_DATABASE_URL is unset, so Roster uses roster.db "
        "in the current folder. Run this from the folder where you ran `make run` (or "
        "`roster migrate`), set ROSTER_DATABASE_URL, or run `roster migrate` to start a new "
        "database here"
    )


@contextmanager
def engine() -> Iterator[Engine]:
    current = settings()
    missing = missing_default_database(current)
    if missing is not None:
        raise NoDatabase(missing)
    made = make_engine(current.resolved_database_url())
    try:
        yield made
    finally:
        made.dispose()


def fail(
    message: str, as_json: bool, code: int = 1, *, error: RosterError | None = None
) -> NoReturn:
    """Say why and exit ``code``. ``--json`` prints ``{"error": detail, "code": …}``, the
    code being the refusal's stable name (errors.py) when there is one."""
    if as_json:
        body: dict[str, Any] = {"error": message}
        if error is not None:
            body["code"] = error.code
            if error.attribute is not None:
                body["attribute"] = error.attribute
        typer.echo(json.dumps(body))
    else:
        typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def refusals(as_json: bool) -> Iterator[None]:
    """Render a refusal as the CLI does (message, exit 1), and a database without Roster's
    tables as the fix for it."""
    try:
        yield
    except UnknownLocation as err:
        fail(f"{err.detail}; see `roster location list`", as_json, error=err)
    except RosterError as err:
        fail(err.detail, as_json, error=err)
    except (OperationalError, ProgrammingError) as err:
        if "no such table" in str(err) or "does not exist" in str(err):
            fail("the database has no Roster tables (or is behind): run `roster migrate`", as_json)
        raise


def run(as_json: bool, fn: Callable[[Connection], T]) -> T:
    """``fn`` in one transaction; a refusal rolls it back and exits 1."""
    with refusals(as_json), engine() as made, made.begin() as conn:
        return fn(conn)


def show(as_json: bool, data: Any, human: str) -> None:
    typer.echo(json.dumps(data, default=str, indent=2) if as_json else human)


def progress_bar(label: str, as_json: bool) -> Progress:
    """A count drawn on stderr, and only on a terminal: stdout stays the report (or the
    one JSON document), so ``roster … > report.txt`` gets no control characters."""
    console = Console(stderr=True)
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        transient=True,
        disable=as_json or not console.is_terminal,
        console=console,
    )


def tenant_id(conn: Connection, tenant: str) -> int:
    """The tenant named on the command line (NotFound, printed as a refusal, if none)."""
    return tenancy.get_tenant(conn, tenant).id


def connection_uid(conn: Connection, text: str, tenant: str | None = None) -> str:
    """The id of the connection named on the command line: an id, a unique start of one,
    or a name (directory/tenancy.resolve_connection)."""
    return tenancy.resolve_connection(conn, text, tenant).uid


def confirm(question: str, yes: bool, as_json: bool) -> None:
    """Ask before a destructive command acts: ``question`` says what will happen. ``--yes``
    skips it; without a terminal to ask on (a script, ``--json``) the command is refused,
    naming --yes, before anything changes."""
    if yes:
        return
    if as_json or not sys.stdin.isatty():
        fail(
            f"{question.rstrip('?')}: this asks for confirmation, and there is no terminal to "
            "ask on; add --yes to do it without asking",
            as_json,
        )
    if not typer.confirm(question, default=False):
        typer.echo("nothing changed", err=True)
        raise typer.Exit(1)


def stamp(at: Any) -> str | None:
    """A stored UTC time as the CLI prints it: ISO 8601 with a Z."""
    return None if at is None else f"{at.isoformat()}Z"
