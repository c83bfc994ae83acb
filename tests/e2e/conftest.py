"""A real ``roster serve`` process (or two) on the suite's database."""

from __future__ import annotations

import json
import os
import pty
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from roster.cli import app as cli_app

ROSTER = str(Path(sys.executable).with_name("roster"))
_RUNNER = CliRunner()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def roster_env(db_url: str, public_url: str = "http://127.0.0.1:8000") -> dict[str, str]:
    # Read requests' log entries written at once (see tests/conftest.py), unless a test
    # sets otherwise.
    # The rate limit out of reach too, and no hourly log pruning, unless a test sets them
    # (tests/conftest.py says why).
    return {
        "ROSTER_READ_LOG_FLUSH_SECONDS": "0",
        # Servers of the suite deliver no webhooks: the webhook tests start their own
        # workers (a server of another test would deliver their events too).
        "ROSTER_WEBHOOK_DELIVERY": "false",
        "ROSTER_RATE_LIMIT": "1000000",
        "ROSTER_RATE_BURST": "1000000",
        "ROSTER_LOG_RETENTION_DAYS": "0",
        **os.environ,
        "ROSTER_DATABASE_URL": db_url,
        "ROSTER_PUBLIC_URL": public_url,
    }


def run_cli(
    db_url: str, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``roster ARGS`` on the suite's database, in this process (Typer's runner, with the
    environment a deployment gives the command): what a command prints and its exit status
    are what these tests are about, not starting an interpreter, which costs a second or two
    a command on a loaded machine. ``run_cli_process`` is the real process, for the tests
    where the process is the point."""
    result = _RUNNER.invoke(cli_app, list(args), env={**roster_env(db_url), **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # A crash must fail the test with its traceback, as a subprocess's stderr shows it.
        raise result.exception
    completed = subprocess.CompletedProcess(
        [ROSTER, *args], result.exit_code, result.stdout, result.stderr
    )
    if check:
        assert completed.returncode == 0, completed.stderr + completed.stdout
    return completed


def run_cli_process(
    db_url: str, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``roster ARGS`` as a real process: the installed entry point, its exit status."""
    result = subprocess.run(
        [ROSTER, *args],
        env=roster_env(db_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


def cli_json(db_url: str, *args: str) -> Any:
    return json.loads(run_cli(db_url, *args, "--json").stdout)


def refused(db_url: str, *args: str) -> str:
    """Run a command that must be refused: exit 1 with ``error: …`` on stderr, and the same
    refusal as JSON with ``--json``. Returns the message."""
    text = run_cli(db_url, *args, check=False)
    assert text.returncode == 1, text.stdout + text.stderr
    assert text.stdout == "" and text.stderr.startswith("error: ")
    as_json = run_cli(db_url, *args, "--json", check=False)
    assert as_json.returncode == 1
    message = str(json.loads(as_json.stdout)["error"])
    assert text.stderr == f"error: {message}\n"
    return message


def run_with_terminal_stderr(db_url: str, *args: str) -> tuple[int, str, bytes]:
    """Run ``roster ARGS`` with stderr on a terminal and stdout on a pipe (as in
    ``roster … > report.txt``); returns the exit status, stdout, and what the terminal got."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [ROSTER, *args],
        env={**roster_env(db_url), "TERM": "xterm", "COLUMNS": "100"},
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
    )
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the process closed its end
            break
        if not chunk:
            break
        drawn += chunk
    stdout, _ = process.communicate(timeout=60)
    os.close(leader)
    return process.returncode, stdout, drawn


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path | None = None  # the server's stderr, when captured

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log is not None else ""


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    # Generous: a loaded 2-core machine can take half a minute to start two workers, and
    # a slow start is not what these tests are about.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"roster serve exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)  # polling for readiness, not racing a result
    raise RuntimeError("roster serve did not become ready in 90 s")


@pytest.fixture(scope="session")
def start_server(
    db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(workers: int = 1, env: dict[str, str] | None = None) -> Server:
        """``roster serve`` on a free port; with ``workers`` > 1 its stderr is kept in a
        file (``Server.log_text``), for tests that read what the server logged."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = tmp_path_factory.mktemp("serve") / "stderr.log" if workers > 1 else None
        args = [ROSTER, "serve", "--host", "127.0.0.1", "--port", str(port)]
        process = subprocess.Popen(
            [*args, "--workers", str(workers)] if workers > 1 else args,
            env={**roster_env(db_url, url), **(env or {})},
            stderr=log.open("wb") if log is not None else None,
        )
        try:
            _wait_ready(url, process)
        except RuntimeError:
            process.terminate()  # never leave a half-started server behind
            process.wait(timeout=30)
            raise
        server = Server(url, process, log)
        started.append(server)
        return server

    yield start
    for server in started:
        server.process.terminate()
        server.process.wait(timeout=10)


@pytest.fixture(scope="session")
def live_server(start_server: Callable[..., Server]) -> Server:
    return start_server()


@dataclass
class LiveConnection:
    base_url: str
    token: str
    id: str

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {self.token}"}
        )


@pytest.fixture
def live_connection(db_url: str, live_server: Server) -> LiveConnection:
    name = f"live-{os.urandom(4).hex()}"
    cli_json(db_url, "tenant", "create", name)
    data = cli_json(db_url, "connection", "create", "--tenant", name, "--idp", "generic")
    base = data["base_url"].replace("http://127.0.0.1:8000", live_server.url)
    return LiveConnection(base, data["token"], data["id"])
