"""The first hour of a newcomer: `make run` on another port, a second `make run`, the CLI
run from another folder, `roster --version`, and a public URL that does not match."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
from importlib.metadata import version
from pathlib import Path

from roster.cli.demo import token_file
from roster.cli.serving import port_taken, public_url_mismatch
from roster.directory.admin.tenancy import hash_token
from roster.storage.engine import make_engine
from roster.storage.tenancy import connections_of, tenant_by_name
from tests.conftest import REPO
from tests.e2e.conftest import ROSTER, free_port


def roster(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ROSTER_")}
    return subprocess.run(
        [ROSTER, *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_version(tmp_path: Path) -> None:
    result = roster("--version", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, f"roster {version('roster')}\n")


def test_the_cli_says_which_database_it_would_use(tmp_path: Path) -> None:
    refused = roster("tenant", "list", cwd=tmp_path)
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"error: no database at {tmp_path / 'roster.db'}: ")
    assert "ROSTER_DATABASE_URL" in refused.stderr
    assert not (tmp_path / "roster.db").exists()  # not silently created empty

    made = roster("migrate", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert f"creating a new database at {tmp_path / 'roster.db'}" in made.stderr
    assert roster("tenant", "list", cwd=tmp_path).stdout == "no tenants yet\n"
    assert "creating" not in roster("migrate", cwd=tmp_path).stderr  # it exists now


def _demo(folder: Path, *args: str) -> dict[str, object]:
    result = roster("demo", "--json", *args, cwd=folder)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def _stored_hash(folder: Path) -> str:
    engine = make_engine(f"sqlite:///{folder / 'roster.db'}")
    with engine.connect() as conn:
        tenant = tenant_by_name(conn, "demo")
        assert tenant is not None
        [row] = connections_of(conn, tenant.id)
    engine.dispose()
    return row.token_hash


def test_a_second_make_run_keeps_the_demo_token(tmp_path: Path) -> None:
    assert roster("migrate", cwd=tmp_path).returncode == 0
    first = _demo(tmp_path)
    assert first["token_status"] == "created"
    saved = tmp_path / "roster.db.demo-token"
    assert saved.read_text() == f"{first['token']}\n"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600

    again = _demo(tmp_path)
    assert (again["token_status"], again["token"], again["id"]) == (
        "kept",
        first["token"],
        first["id"],
    )
    assert _stored_hash(tmp_path) == hash_token(str(first["token"]))  # still the valid one

    human = roster("demo", cwd=tmp_path).stdout
    assert "its token still works" in human and str(first["token"]) in human
    assert "Next steps:" in human
    assert f"{first['base_url']}/Users" in human and "apikey create --tenant demo" in human
    assert "http://127.0.0.1:8000/api/v1/employees" in human

    renewed = _demo(tmp_path, "--new-token")
    assert renewed["token_status"] == "regenerated" and renewed["token"] != first["token"]
    assert saved.read_text() == f"{renewed['token']}\n"

    saved.unlink()  # lost: kept in the database, but cannot be shown
    lost = _demo(tmp_path)
    assert (lost["token_status"], lost["token"]) == ("kept", None)
    assert _stored_hash(tmp_path) == hash_token(str(renewed["token"]))
    assert "roster demo --new-token" in roster("demo", cwd=tmp_path).stdout


def test_the_demo_token_is_kept_in_a_file_only_beside_sqlite() -> None:
    assert token_file("sqlite:////srv/roster/roster.db") == Path("/srv/roster/roster.db.demo-token")
    assert token_file("postgresql+psycopg://roster@db/roster") is None
    assert token_file("sqlite://") is None


def test_make_run_takes_host_and_port() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ROSTER_PUBLIC_URL"}
    dry = subprocess.run(
        ["make", "-n", "-C", str(REPO), "run", "PORT=8011", "HOST=0.0.0.0"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "ROSTER_PUBLIC_URL='http://0.0.0.0:8011' .venv/bin/roster demo" in dry
    assert "roster serve --host '0.0.0.0' --port '8011'" in dry
    kept = subprocess.run(
        ["make", "-n", "-C", str(REPO), "run", "PORT=8011"],
        env={**env, "ROSTER_PUBLIC_URL": "https://scim.example.com"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "ROSTER_PUBLIC_URL='https://scim.example.com' .venv/bin/roster serve" in kept


def test_public_url_checks() -> None:
    warning = public_url_mismatch("http://127.0.0.1:8000", "127.0.0.1", 8011)
    assert warning is not None and "listens on port 8011" in warning
    assert "ROSTER_PUBLIC_URL=http://127.0.0.1:8011" in warning
    assert public_url_mismatch("http://localhost:8011/", "127.0.0.1", 8011) is None
    assert public_url_mismatch("http://localhost", "127.0.0.1", 8011) is not None  # port 80
    # Behind a reverse proxy the ports differ by design.
    assert public_url_mismatch("https://scim.example.com", "0.0.0.0", 8000) is None


def test_serve_warns_about_the_public_url_and_refuses_a_taken_port(
    db_url: str, tmp_path: Path
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert port_taken("127.0.0.1", port)
        env = {"ROSTER_DATABASE_URL": db_url, "ROSTER_PUBLIC_URL": "http://127.0.0.1:8000"}
        refused = roster("serve", "--port", str(port), cwd=tmp_path, env=env)
    assert refused.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in refused.stderr

    port = free_port()
    process = subprocess.Popen(
        [ROSTER, "serve", "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()  # written before uvicorn starts
    finally:
        process.terminate()
        process.wait(timeout=20)
    expected = "warning: ROSTER_PUBLIC_URL is http://127.0.0.1:8000, but this server listens"
    assert first.startswith(f"{expected} on port {port}")
