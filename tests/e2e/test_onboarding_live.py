"""The onboarding email end to end: a SCIM push to a live ``roster serve`` matches a rule
that grants a mobile key; the server's delivery loop sends the email to a real SMTP
server (aiosmtpd) that is down at first, retries, and delivers it exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlalchemy import Engine, select

from roster.directory.admin import rulebook, tenancy
from roster.directory.admin.rulebook import RuleSpec
from roster.directory.places import locations
from roster.storage.tables import email_outbox
from tests.e2e.conftest import ROSTER, Server, _wait_ready, cli_json, free_port, roster_env
from tests.mail.conftest import SmtpServer, smtp_server

__all__ = ["smtp_server"]  # the fixture, imported for this module


@pytest.fixture
def mail_server(db_url: str) -> Iterator[Callable[[int], Server]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(smtp_port: int) -> Server:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **roster_env(db_url, url),
            "ROSTER_SMTP_HOST": "127.0.0.1",
            "ROSTER_SMTP_PORT": str(smtp_port),
            "ROSTER_MAIL_FROM": "onboarding@roster.test",
            "ROSTER_MAIL_POLL_SECONDS": "0.1",
            "ROSTER_MAIL_RETRY_BASE_SECONDS": "0.2",
            "ROSTER_MAIL_RETRY_CAP_SECONDS": "0.5",
        }
        process = subprocess.Popen(
            [ROSTER, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env
        )
        started.append(process)
        _wait_ready(url, process)
        return Server(url, process)

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def _outbox_row(engine: Engine, tenant_id: int, wanted: Callable[[object], bool]) -> object:
    """Wait (bounded) until the server's delivery loop has moved the row to ``wanted``:
    polling for a result another process produces, not sleeping to win a race."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            row = conn.execute(
                select(email_outbox).where(email_outbox.c.tenant_id == tenant_id)
            ).first()
        if row is not None and wanted(row):
            return row
        time.sleep(0.05)
    raise AssertionError(f"outbox row never reached the wanted state: {row}")


def test_a_pushed_user_gets_the_onboarding_email_once_though_smtp_was_down(
    db_url: str,
    engine: Engine,
    mail_server: Callable[[int], Server],
    smtp_server: Callable[..., SmtpServer],
) -> None:
    name = f"mail-{os.urandom(4).hex()}"
    cli_json(db_url, "tenant", "create", name)
    made = cli_json(db_url, "connection", "create", "--tenant", name, "--idp", "okta")
    with engine.begin() as conn:
        tenant = tenancy.get_tenant(conn, name)
        locations.add(conn, tenant.id, "HQ")
        rulebook.add_rule(
            conn,
            tenant.id,
            RuleSpec("Boston office", ["city eq Boston"], locations=["HQ"], mobile_key=True),
        )
    smtp_port = free_port()  # nothing listens here yet: the SMTP server is down
    server = mail_server(smtp_port)
    base = made["base_url"].replace("http://127.0.0.1:8000", server.url)
    pushed = httpx.post(
        f"{base}/Users",
        headers={"Authorization": f"Bearer {made['token']}"},
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "new.hire@corp.test",
            "name": {"givenName": "Nia", "familyName": "Hire"},
            "emails": [{"value": "new.hire@corp.test", "type": "work", "primary": True}],
            "addresses": [{"type": "work", "locality": "Boston", "primary": True}],
        },
    )
    assert pushed.status_code == 201, pushed.text
    failed = _outbox_row(engine, tenant.id, lambda r: r.last_error is not None)  # type: ignore[attr-defined]
    assert failed.status == "pending" and failed.last_error  # type: ignore[attr-defined]
    smtp = smtp_server(port=smtp_port)  # the SMTP server comes up
    message = smtp.recorder.wait_for("new.hire@corp.test")
    assert "Nia" in message.message.get_content()  # type: ignore[attr-defined]
    sent = _outbox_row(engine, tenant.id, lambda r: r.status == "sent")  # type: ignore[attr-defined]
    assert sent.sent_at is not None  # type: ignore[attr-defined]
    # Another delivery pass (the CLI's, beside the server's loop) sends nothing more.
    again = subprocess.run(
        [ROSTER, "mail", "deliver", "--tenant", name, "--json"],
        env={
            **roster_env(db_url),
            "ROSTER_SMTP_HOST": "127.0.0.1",
            "ROSTER_SMTP_PORT": str(smtp_port),
            "ROSTER_MAIL_FROM": "onboarding@roster.test",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout)["sent"] == 0
    assert len(smtp.recorder.to("new.hire@corp.test")) == 1
