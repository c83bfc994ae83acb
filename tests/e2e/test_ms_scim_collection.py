"""Microsoft's own SCIM test collection (AzureAD/SCIMReferenceCode, vendored in
tests/data/ms-scim-reference), run with newman against a live ``roster serve`` and an
``entra`` connection: zero failed assertions.

It gives two users one primary email, a primary email that is no address, and members
that name no user; Roster stores and answers all of them and keeps the directory's rules
in its log (issue 11). Its "Get Token" folder asks a token endpoint Roster does not have
(the connection's bearer token is passed instead)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import Server, cli_json

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / "tests/data/ms-scim-reference/PostmanCollection.json"
NEWMAN = ROOT / "tests/newman/node_modules/.bin/newman"
FOLDERS = (
    "Endpoint tests",
    "User tests",
    "Group tests",
    "ComplexAttribute tests",
    "User tests with garbage",
    "Group tests with garbage",
    "Teardown garbage",
)


def _failures(report: dict[str, object]) -> list[str]:
    run = report["run"]
    assert isinstance(run, dict)
    return [
        f"{f['source']['name']}: {f['error']['test']}: {f['error']['message']}"
        for f in run["failures"]
    ]


def test_microsofts_scim_collection_passes(
    db_url: str, live_server: Server, tmp_path: Path
) -> None:
    if not NEWMAN.exists():
        if shutil.which("npm") is None:
            pytest.skip("newman needs Node.js and npm, which this machine lacks")
        pytest.fail("newman is not installed: run `make test` (it runs npm ci in tests/newman)")
    tenant = f"ms-{os.urandom(4).hex()}"
    cli_json(db_url, "tenant", "create", tenant)
    data = cli_json(db_url, "connection", "create", "--tenant", tenant, "--idp", "entra")
    server = urlsplit(live_server.url)
    api = urlsplit(data["base_url"]).path.lstrip("/")
    report = tmp_path / "newman.json"
    folders = [arg for name in FOLDERS for arg in ("--folder", name)]
    variables = {
        "Protocol": "http",
        "Server": server.hostname,
        "Port": f":{server.port}",
        "Api": api,
        "token": data["token"],
    }
    env_vars = [arg for k, v in variables.items() for arg in ("--env-var", f"{k}={v}")]
    reporting = ["--reporters", "json", "--reporter-json-export", str(report)]
    done = subprocess.run(
        [str(NEWMAN), "run", str(COLLECTION), *folders, *env_vars, *reporting],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    result = json.loads(report.read_text())
    stats = result["run"]["stats"]
    assert _failures(result) == [], done.stdout[-3000:]
    assert stats["assertions"]["total"] == 103
    assert stats["requests"]["failed"] == 0
    assert done.returncode == 0, done.stdout[-3000:]
