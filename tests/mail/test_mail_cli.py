"""``roster mail template|outbox|deliver`` as an admin runs them (in-process) on the
suite's database, delivering to a real SMTP server the test started."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from roster.directory.journal import system_log
from tests.e2e.conftest import run_cli
from tests.mail.conftest import SmtpServer, Tenant, add_employee, log, outbox, queue


def roster(
    db_url: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli(db_url, *args, check=False, env=env)


def as_json(db_url: str, *args: str, env: dict[str, str] | None = None) -> Any:
    result = roster(db_url, *args, "--json", env=env)
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def test_template_show_and_set(db_url: str, engine: Engine, tenant: Tenant, tmp_path: Path) -> None:
    shown = as_json(db_url, "mail", "template", "show", "--tenant", tenant.name)
    assert shown["custom"] is False and shown["subject"] == "Your mobile key for {{ tenant }}"
    assert "employee.given_name" in shown["variables"]

    body = tmp_path / "body.txt"
    body.write_text("Hi {{ employee.given_name }}, welcome to {{ tenant }}.\n")
    subject = "Welcome, {{ employee.display_name }}"
    changed = as_json(
        db_url, "mail", "template", "set", "--tenant", tenant.name, "--subject", subject,
        "--body-file", str(body),
    )  # fmt: skip
    assert changed["custom"] is True and changed["body"] == body.read_text()
    human = roster(db_url, "mail", "template", "show", "--tenant", tenant.name)
    assert human.stdout.startswith(f"subject: {subject}\n(custom, changed ")
    assert "Hi {{ employee.given_name }}, welcome to {{ tenant }}." in human.stdout
    assert len(log(engine, tenant, "mail.template")) == 1

    body.write_text("Hi {{ employee.given_nam }}\n")
    bad = roster(
        db_url, "mail", "template", "set", "--tenant", tenant.name, "--subject", "x",
        "--body-file", str(body), "--json",
    )  # fmt: skip
    assert bad.returncode == 1
    assert "has no attribute 'given_nam'" in json.loads(bad.stdout)["error"]
    missing = roster(
        db_url, "mail", "template", "set", "--tenant", tenant.name, "--subject", "x",
        "--body-file", str(tmp_path / "nope.txt"),
    )  # fmt: skip
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    # Refused changes changed nothing.
    again = as_json(db_url, "mail", "template", "show", "--tenant", tenant.name)
    assert again["subject"] == subject
    unknown = roster(db_url, "mail", "template", "show", "--tenant", "no-such-tenant")
    assert unknown.returncode == 1


def test_outbox_and_deliver(
    db_url: str, engine: Engine, tenant: Tenant, smtp_server: Callable[..., SmtpServer]
) -> None:
    for name in ("ana", "ben"):
        employee = add_employee(engine, tenant, f"{name}@corp.test", givenName=name.title())
        assert queue(engine, tenant, employee, at=system_log.now())
    listed = as_json(db_url, "mail", "outbox", "--tenant", tenant.name)
    assert sorted(e["to"] for e in listed) == ["ana@corp.test", "ben@corp.test"]
    assert {e["status"] for e in listed} == {"pending"}
    assert as_json(db_url, "mail", "outbox", "--tenant", tenant.name, "--status", "sent") == []
    bad = roster(db_url, "mail", "outbox", "--tenant", tenant.name, "--status", "lost")
    assert bad.returncode == 2

    # No SMTP server configured: refused with the setting to set, nothing changes.
    unset = roster(db_url, "mail", "deliver", "--tenant", tenant.name)
    assert unset.returncode == 1 and "ROSTER_SMTP_HOST" in unset.stderr

    server = smtp_server()
    smtp = {
        "ROSTER_SMTP_HOST": "127.0.0.1",
        "ROSTER_SMTP_PORT": str(server.port),
        "ROSTER_MAIL_FROM": "roster@corp.test",
    }
    report = as_json(db_url, "mail", "deliver", "--tenant", tenant.name, env=smtp)
    assert (report["sent"], report["failed"]) == (2, 0)
    assert sorted(r.rcpt_tos[0] for r in server.recorder.received) == [
        "ana@corp.test",
        "ben@corp.test",
    ]
    sent = as_json(db_url, "mail", "outbox", "--tenant", tenant.name, "--status", "sent")
    assert len(sent) == 2 and all(e["sent_at"] and e["attempts"] == 1 for e in sent)
    human = roster(db_url, "mail", "deliver", "--tenant", tenant.name, env=smtp)
    assert human.returncode == 0 and human.stdout.startswith("0 sent, 0 failed")
    assert len(server.recorder.received) == 2
    assert {r.status for r in outbox(engine, tenant)} == {"sent"}
