"""What ``roster demo`` (and so ``make run``) keeps between runs and prints for a newcomer.

Tokens are stored only as hashes, so the demo's token cannot be read back from the
database. On the embedded SQLite database it is kept in a file beside the database file,
readable by its owner only (0600), so a second ``make run`` prints the same, still valid
token instead of revoking the first. On any other database the token is kept as it is and
not shown again; ``roster demo --new-token`` (or ``roster token regenerate``) issues one.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

SAVED_AS_SUFFIX = ".demo-token"


def token_file(database_url: str) -> Path | None:
    """Where the demo token is kept: beside the SQLite file; None for other databases."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    database = Path(str(url.database))
    return database.with_name(database.name + SAVED_AS_SUFFIX)


def read_token(path: Path | None) -> str | None:
    if path is None or not path.is_file():
        return None
    return path.read_text(encoding="utf-8").strip() or None


def write_token(path: Path | None, token: str) -> None:
    if path is None:
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        if hasattr(os, "fchmod"):  # POSIX (Windows has it from Python 3.13 only)
            os.fchmod(out.fileno(), 0o600)  # also when the file existed with looser bits
        out.write(token + "\n")


def roster_command() -> str:
    """How to type the CLI from here: ``roster`` when it is on PATH, else its path (the
    virtualenv's ``.venv/bin/roster`` after ``make run``)."""
    running = Path(sys.argv[0]).resolve()
    found = shutil.which("roster")
    if found and Path(found).resolve() == running:
        return "roster"
    try:
        return str(running.relative_to(Path.cwd()))
    except ValueError:
        return str(running)


def next_steps(base_url: str, public_url: str, tenant: str, token: str | None) -> str:
    bearer = token or "$TOKEN"
    user = (
        '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],'
        '"userName":"ann@example.com","emails":[{"value":"ann@example.com","primary":true}]}'
    )
    auth = shlex.quote(f"Authorization: Bearer {bearer}")
    cli = roster_command()
    api = public_url.rstrip("/") + "/api/v1"
    return "\n".join(
        [
            "Next steps:",
            "  1. Create a user, then list the users, as an IdP would:",
            f"     curl -X POST -H {auth} -H 'Content-Type: application/scim+json' \\",
            f"       -d '{user}' {base_url}/Users",
            f"     curl -H {auth} {base_url}/Users",
            f"  2. Create an API key for the read API (the CLI is {cli}):",
            f"     {cli} apikey create --tenant {shlex.quote(tenant)} --name app",
            "  3. Read the directory with that key:",
            f"     curl -H 'Authorization: Bearer rk_…' {api}/employees"
            f"   (OpenAPI: {api}/openapi.json)",
        ]
    )
