"""What every webhook test shares.

A delivery pass is global, as a worker's is: it sends for every enabled endpoint of the
database. The suite shares one database, and earlier tests (the console's Webhooks page,
the isolation tests) leave endpoints enabled with deliveries pending, to URLs a later
receiver may even listen on (ports are reused). So each test here starts with every
endpoint it did not make switched off: only its own take part in its passes.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, update

from roster.storage.tables import webhook_endpoints


@pytest.fixture(autouse=True)
def _only_this_tests_endpoints(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.status == "enabled")
            .values(status="disabled", disabled_reason="switched off by the test suite")
        )
