"""Golden IdP transcripts replayed against a live ``roster serve``.

Every file under tests/data/idp/<idp>/ is one scenario recorded from the public sources
(docs/idp/sources.md, /work/shared/docs/idp-behaviour.md): the exact requests Okta or
Microsoft Entra ID sends, and the answers and stored effects docs/compatibility.md
promises for that IdP's profile. Each replay runs on a fresh tenant and connection of the
transcript's IdP kind. The format is described in tests/data/idp/README.md.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from roster.directory.admin import tenancy
from tests.e2e.conftest import Server
from tests.idp.replay import DATA, Mismatch, Replay, resolve, transcript_files

READ_BACK_HEADERS = {"Authorization": "Bearer {{token}}", "Accept": "application/scim+json"}
FILES = transcript_files()


def load(path: Path) -> dict[str, Any]:
    transcript = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(transcript, dict)
    for key in ("source", "idp", "description", "steps"):
        assert key in transcript, f"{path.name}: no {key!r}"
    assert transcript["idp"] == path.parent.name, f"{path.name}: idp differs from its folder"
    return transcript


def connect(engine: Engine, server: Server, idp: str) -> tuple[str, str]:
    """A fresh tenant and a connection of the IdP kind: (base URL, token). Made through the
    same actions the CLI calls (the CLI itself is tested in tests/e2e/test_cli.py)."""
    tenant = f"idp-{idp}-{os.urandom(4).hex()}"
    with engine.begin() as conn:
        tenancy.create_tenant(conn, tenant)
        issued = tenancy.create_connection(conn, tenant, idp, None)
    row = issued.connection
    return f"{server.url}/scim/v2/{row.tenant_slug}/{row.uid}", issued.token


def exchange(
    http: httpx.Client, replay: Replay, step: dict[str, Any], label: str, *, read_back: bool
) -> None:
    """Send one request and check its answer; raise AssertionError naming the step."""
    request = step["request"]
    method = str(request.get("method", "GET")).upper()
    path = replay.interpolate(request["path"])
    headers = replay.fill(request.get("headers", READ_BACK_HEADERS if read_back else {}))
    content = json.dumps(replay.fill(request["body"])).encode() if "body" in request else None
    response = http.request(
        method, replay.variables["baseUrl"] + path, headers=headers, content=content
    )
    expected = step.get("response", {})
    try:
        check(replay, expected, step.get("capture", {}), response)
    except Mismatch as failure:
        raise AssertionError(
            f"{label}: {method} {path}\n  {failure}\n"
            f"  <- {response.status_code} {response.text[:1500]}"
        ) from None


def check(
    replay: Replay, expected: dict[str, Any], capture: dict[str, str], response: httpx.Response
) -> None:
    if "status" in expected and response.status_code != expected["status"]:
        raise Mismatch(f"status: expected {expected['status']}, got {response.status_code}")
    body: Any = None
    wants_body = "body" in expected and expected["body"] is not None
    if wants_body or capture or expected.get("absent"):
        try:
            body = response.json()
        except ValueError:
            raise Mismatch("body: expected JSON, got none") from None
    elif "body" in expected and response.content != b"":
        raise Mismatch(f"body: expected no content, got {response.text[:200]!r}")
    for name, pointer in capture.items():
        try:
            replay.variables[name] = resolve(body, pointer)
        except KeyError:
            raise Mismatch(f"capture {name}: {pointer} is not in the answer") from None
    replay.match_headers(expected.get("headers", {}), response.headers)
    if wants_body:
        replay.match(expected["body"], body)
    replay.check_absent(list(expected.get("absent", [])), body)


@pytest.mark.parametrize(
    "path", FILES, ids=[str(p.relative_to(DATA).with_suffix("")) for p in FILES]
)
def test_transcript(path: Path, engine: Engine, live_server: Server) -> None:
    transcript = load(path)
    base, token = connect(engine, live_server, transcript["idp"])
    replay = Replay({"baseUrl": base, "token": token})
    with httpx.Client(timeout=30) as http:
        for number, step in enumerate(transcript["steps"], 1):
            label = f"{path.parent.name}/{path.name} step {number} {step['name']!r}"
            exchange(http, replay, step, label, read_back=False)
            then = step.get("then", [])
            for index, read in enumerate(then if isinstance(then, list) else [then], 1):
                exchange(http, replay, read, f"{label} read-back {index}", read_back=True)


def test_every_idp_has_transcripts() -> None:
    assert {p.parent.name for p in FILES} == {"okta", "entra"}
    names = [step["name"] for p in FILES for step in load(p)["steps"]]
    assert all(names), "every step has a name"
