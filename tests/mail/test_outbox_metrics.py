"""The mail outbox in /metrics: pending depth and the oldest pending email's age, read from
the database at scrape time (every worker shares it)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from starlette.testclient import TestClient

from roster.directory.journal.system_log import now
from roster.storage import outbox as store
from tests.mail.conftest import Tenant, add_employee, queue
from tests.scrape import value

PENDING = "roster_mail_outbox_pending"
AGE = "roster_mail_outbox_oldest_pending_age_seconds"


def test_outbox_depth_and_oldest_age(engine: Engine, client: TestClient, tenant: Tenant) -> None:
    before = client.get("/metrics").text
    an_hour_ago = now() - timedelta(hours=1)
    for n in range(2):
        ada = add_employee(engine, tenant, f"ada{n}@corp.test")
        assert queue(engine, tenant, ada, at=an_hour_ago)
    after = client.get("/metrics").text

    assert value(after, PENDING) == value(before, PENDING) + 2
    with engine.connect() as conn:
        pending, oldest = store.backlog(conn)
    assert value(after, PENDING) == pending
    assert oldest is not None and oldest <= an_hour_ago
    # Other tests' mail may be older still: at least this hour, and no older than the oldest.
    assert 3600 <= value(after, AGE) <= (now() - oldest).total_seconds() + 5
