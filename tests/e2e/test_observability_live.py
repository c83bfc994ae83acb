"""A live ``roster serve --workers 2``: one JSON access line per request on stderr (not a
terminal), and a /metrics scrape, answered by either worker, that adds up both."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ROSTER, _wait_ready, cli_json, free_port, roster_env
from tests.scrape import value

USERS = "/scim/v2/{tenant}/{connection}/Users"


class LiveServer:
    def __init__(self, db_url: str, stderr: Path, workers: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stderr_path = stderr
        self._stderr = stderr.open("wb")
        self.process = subprocess.Popen(
            [ROSTER, "serve", "--port", str(self.port), "--workers", str(workers)],
            env=roster_env(db_url, self.url),
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        _wait_ready(self.url, self.process)

    def lines(self) -> list[dict[str, Any]]:
        text = self.stderr_path.read_text(encoding="utf-8")
        # Complete lines only: a worker may be writing the last one right now.
        complete = text.split("\n")[:-1]
        return [json.loads(line) for line in complete if line.startswith("{")]

    def access(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("logger") == "roster.access"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)
        self._stderr.close()


@pytest.fixture
def two_workers(db_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(db_url, tmp_path / "stderr.log", workers=2)
    yield server
    if server.process.poll() is None:
        server.stop()


def _worker_environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def test_json_access_lines_and_a_scrape_that_adds_up_both_workers(
    db_url: str, two_workers: LiveServer
) -> None:
    server = two_workers
    tenant = f"obs-{os.urandom(4).hex()}"
    cli_json(db_url, "tenant", "create", tenant)
    made = cli_json(db_url, "connection", "create", "--tenant", tenant, "--idp", "entra")
    base = made["base_url"].replace("http://127.0.0.1:8000", server.url)
    auth = {"Authorization": f"Bearer {made['token']}"}

    # A new TCP connection per request, so the kernel hands them to either worker; go on
    # (bounded) until both have answered some.
    sent: list[httpx.Response] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(sent) < 400:
        sent.append(httpx.get(f"{base}/Users", headers=auth, timeout=10))
        if len(sent) % 10 == 0:
            pids = {line["pid"] for line in server.access() if line["route"] == USERS}
            if len(pids) >= 2:
                break
    assert all(r.status_code == 200 for r in sent)

    def mine() -> list[dict[str, Any]]:
        return [line for line in server.access() if line.get("connection") == made["id"]]

    # A line is written once its response has gone out: wait (bounded) for the last ones.
    deadline = time.monotonic() + 10
    while len(mine()) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = mine()
    assert len(lines) == len(sent)  # one access line per request
    workers = {line["pid"] for line in lines}
    assert len(workers) == 2, "one worker answered every request; cannot test the sum"

    # Each line: request id (the response's X-Request-Id), tenant, connection, route, …
    assert {line["request_id"] for line in lines} == {r.headers["X-Request-Id"] for r in sent}
    [first] = [line for line in lines if line["request_id"] == sent[0].headers["X-Request-Id"]]
    assert (first["tenant"], first["connection"], first["idp"]) == (tenant, made["id"], "entra")
    assert (first["route"], first["method"], first["status"]) == (USERS, "GET", 200)
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] > 0
    assert first["level"] == "info" and first["event"] == "request" and "timestamp" in first
    assert not any(line.get("logger", "").startswith("uvicorn.access") for line in server.lines())

    # Whichever worker answers the scrape, it counts the requests both answered.
    for _ in range(4):
        scrape = httpx.get(f"{server.url}/metrics", timeout=10).text  # a new connection each
        count = value(scrape, "roster_http_requests_total", idp="entra", route=USERS)
        assert count == len(sent)
        hist = "roster_http_request_duration_seconds_count"
        assert value(scrape, hist, idp="entra", route=USERS) == len(sent)

    # `roster serve` made the workers' metrics folder, and removes it when it stops.
    folder = Path(_worker_environ(next(iter(workers)))["PROMETHEUS_MULTIPROC_DIR"])
    assert folder.is_dir() and any(folder.iterdir())
    server.stop()
    assert not folder.exists()
