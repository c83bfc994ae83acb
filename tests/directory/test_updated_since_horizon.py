"""``updated_since`` polling with parallel writers (docs/design/write-path.md).

A write's rows carry its transaction's start time. On PostgreSQL a write that started
earlier may commit later; the read API then holds back rows newer than the oldest write
in flight, so a poller that takes its next ``updated_since`` from what it saw never
skips the slow write. (SQLite commits one writer at a time, in the order of their write
times, so there is nothing to hold back there.)
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, update

from roster.directory.journal.change import open_change, write_time
from roster.storage import tenancy as tenancy_store
from roster.storage.tables import employees
from tests.conftest import Scim
from tests.directory.conftest import Api, create


def test_a_write_in_flight_holds_back_newer_changes_until_it_commits(
    engine: Engine, scim: Scim, api: Api
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite commits one writer at a time: no write is ever in flight")
    slow = create(scim, "slow", "slow@corp.test")
    fast = create(scim, "fast", "fast@corp.test")
    mark = max(e["updatedAt"] for e in api.employees())
    with engine.connect() as slow_db:
        tx = slow_db.begin()
        # A SCIM write that started first (its write time is its start) and is still
        # running: it changed "slow" but has not committed.
        slug = scim.base.split("/")[3]  # /scim/v2/<tenant slug>/<connection>
        at = tenancy_store.lock_configuration_shared(slow_db, slug)
        open_change(slow_db, scim.tenant_id, mode="scim", at=at)
        started = write_time(slow_db, scim.tenant_id)
        slow_db.execute(
            update(employees)
            .where(employees.c.email_key == "slow@corp.test")
            .values(updated_at=started)
        )
        # A later write commits meanwhile.
        renamed = scim.patch(
            f"/Users/{fast['id']}", [{"op": "replace", "path": "title", "value": "Pilot"}]
        )
        assert renamed.status_code == 200
        # The poller does not see it yet: it would take its updatedAt as the next mark
        # and skip the slow write's older one for ever.
        assert api.employees(updated_since=mark) == []
        tx.commit()
    seen = {e["email"]: e["updatedAt"] for e in api.employees(updated_since=mark)}
    assert set(seen) == {"slow@corp.test", "fast@corp.test"}
    assert seen["slow@corp.test"] < seen["fast@corp.test"]  # started first, seen all the same
    assert slow["id"] != fast["id"]
