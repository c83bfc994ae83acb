"""Onboarding-mail fixtures: a real SMTP server (aiosmtpd) started by the test on a port
of its choosing, a tenant, and employees made through the directory's action."""

from __future__ import annotations

import email
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine

from roster.directory.admin import tenancy
from roster.directory.entitlements import onboarding
from roster.directory.journal import system_log
from roster.directory.people import employees
from roster.directory.people.employees import ManualEmployee
from roster.storage import outbox as store
from roster.storage.employees import EmployeeRow
from roster.storage.outbox import OutboxRow
from tests.e2e.conftest import free_port

# A fixed day far from the real clock: rows due then are never picked up by a delivery
# loop another test runs on real time, and every time here is exact.
T0 = datetime(2031, 3, 3, 9, 0, 0)


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: Message


class Recorder:
    """aiosmtpd handler: accepts and records every message."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._changed = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._changed:
            self.received.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    email.message_from_bytes(envelope.original_content, policy=policy.default),
                )
            )
            self._changed.notify_all()
        return "250 Message accepted for delivery"

    def to(self, addr: str) -> list[Received]:
        return [r for r in self.received if addr in r.rcpt_tos]

    def wait_for(self, addr: str, timeout: float = 15.0) -> Received:
        """Wait (bounded) until a message to ``addr`` arrived; a condition, not a sleep."""
        with self._changed:
            self._changed.wait_for(lambda: bool(self.to(addr)), timeout)
        found = self.to(addr)
        assert found, f"no message to {addr} within {timeout} s"
        return found[0]


@dataclass
class SmtpServer:
    port: int
    recorder: Recorder
    controller: Controller


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., SmtpServer]]:
    """Start a real SMTP server on ``port`` (a free one by default)."""
    started: list[Controller] = []

    def start(port: int | None = None, **kwargs: Any) -> SmtpServer:
        recorder = Recorder()
        port = port or free_port()
        controller = Controller(recorder, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        started.append(controller)
        return SmtpServer(port, recorder, controller)

    yield start
    for controller in started:
        controller.stop()


@dataclass(frozen=True)
class Tenant:
    name: str
    id: int


@pytest.fixture
def tenant(engine: Engine) -> Tenant:
    name = f"mail-{uuid.uuid4().hex[:10]}"
    with engine.begin() as conn:
        return Tenant(name, tenancy.create_tenant(conn, name).id)


def add_employee(engine: Engine, tenant: Tenant, email_addr: str, **fields: str) -> EmployeeRow:
    with engine.begin() as conn:
        return employees.add_manual(conn, tenant.id, ManualEmployee(email_addr, fields))


def queue(
    engine: Engine,
    tenant: Tenant,
    employee: EmployeeRow,
    activation: int = 1,
    at: datetime = T0,
    rule: str = "Engineering gets a mobile key",
) -> bool:
    with engine.begin() as conn:
        return onboarding.queue(conn, tenant.id, employee, activation, rule_name=rule, at=at)


def outbox(engine: Engine, tenant: Tenant) -> list[OutboxRow]:
    with engine.connect() as conn:
        return store.list_emails(conn, tenant.id)


def log(engine: Engine, tenant: Tenant, path: str) -> list[system_log.LogEntry]:
    """The tenant's system-log entries for ``path`` (e.g. mail.sent), oldest first."""
    with engine.connect() as conn:
        entries = system_log.recent(conn, tenant.id, limit=500)
    return [e for e in reversed(entries) if e.path == path]


@pytest.fixture
def tenant2(engine: Engine) -> Tenant:
    name = f"mail-{uuid.uuid4().hex[:10]}"
    with engine.begin() as conn:
        return Tenant(name, tenancy.create_tenant(conn, name).id)
