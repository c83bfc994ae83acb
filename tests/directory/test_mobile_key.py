"""A rule's mobile key through SCIM: the onboarding email is queued in the transaction of
the grant, once per grant, and a revoked key granted again queues a new one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from roster.directory.admin import rule_runs, rulebook
from roster.directory.admin.rulebook import RuleSpec
from roster.directory.people.employees import find
from roster.directory.places import locations
from roster.storage import access as access_store
from roster.storage.tables import email_outbox
from tests.conftest import Scim
from tests.directory.conftest import configure, create


def _outbox(engine: Engine, tenant_id: int) -> list[Any]:
    with engine.connect() as conn:
        query = select(email_outbox).where(email_outbox.c.tenant_id == tenant_id)
        return list(conn.execute(query.order_by(email_outbox.c.pk)))


def _key_rule(engine: Engine, scim: Scim, city: str = "Boston") -> None:
    with engine.begin() as conn:
        locations.add(conn, scim.tenant_id, "HQ")
        rulebook.add_rule(
            conn,
            scim.tenant_id,
            RuleSpec("Office", [f"city eq {city}"], locations=["HQ"], mobile_key=True),
        )


def _city(city: str) -> dict[str, Any]:
    return {"addresses": [{"type": "work", "locality": city, "primary": True}]}


def _key(engine: Engine, scim: Scim, email: str) -> Any:
    with engine.connect() as conn:
        e = find(conn, scim.tenant_id, email)
        grants = access_store.grants_of(conn, scim.tenant_id, [e.pk])[e.pk]
    return next((g for g in grants if g.kind == "mobile_key"), None)


def test_a_granted_mobile_key_queues_one_onboarding_email(engine: Engine, scim: Scim) -> None:
    _key_rule(engine, scim)
    user = create(scim, "kim", "kim@corp.test", name={"givenName": "Kim"}, **_city("Boston"))
    mails = _outbox(engine, scim.tenant_id)
    assert [(m.to_addr, m.status, m.attempts) for m in mails] == [("kim@corp.test", "pending", 0)]
    assert mails[0].dedupe_key.endswith(":1")
    # Updates that keep the key queue nothing more: one email per grant.
    response = scim.patch(
        f"/Users/{user['id']}", [{"op": "replace", "path": "title", "value": "x"}]
    )
    assert response.status_code == 200, response.text
    assert len(_outbox(engine, scim.tenant_id)) == 1
    key = _key(engine, scim, "kim@corp.test")
    assert (key.status, key.activations) == ("active", 1)


def test_a_refused_request_queues_no_email(engine: Engine, scim: Scim) -> None:
    _key_rule(engine, scim)
    create(scim, "first", "same@corp.test", **_city("Boston"))

    def second(user_name: str) -> int:
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name,
            "emails": [{"value": "same@corp.test", "primary": True}],
            **_city("Boston"),
        }
        return int(scim.post("/Users", body).status_code)

    # The same primary email again: stored, kept out of the directory, so no key, no email.
    assert second("second") == 201
    assert len(_outbox(engine, scim.tenant_id)) == 1
    # Refused (require_primary_email): 409, and the whole request rolls back.
    configure(engine, scim, require_primary_email="true")
    assert second("third") == 409
    assert len(_outbox(engine, scim.tenant_id)) == 1


def test_revoked_then_granted_again_queues_a_second_email(engine: Engine, scim: Scim) -> None:
    _key_rule(engine, scim)
    user = create(scim, "lee", "lee@corp.test", **_city("Boston"))
    moved = scim.patch(
        f"/Users/{user['id']}",
        [{"op": "replace", "path": 'addresses[type eq "work"].locality', "value": "Denver"}],
    )
    assert moved.status_code == 200, moved.text
    key = _key(engine, scim, "lee@corp.test")
    assert key.status == "revoked"
    assert "city eq Boston is false" in key.reason and "Denver" in key.reason
    assert [m.status for m in _outbox(engine, scim.tenant_id)] == ["voided"]
    back = scim.patch(
        f"/Users/{user['id']}",
        [{"op": "replace", "path": 'addresses[type eq "work"].locality', "value": "Boston"}],
    )
    assert back.status_code == 200, back.text
    key = _key(engine, scim, "lee@corp.test")
    assert (key.status, key.activations) == ("active", 2)
    mails = _outbox(engine, scim.tenant_id)
    assert [m.dedupe_key.rsplit(":", 1)[1] for m in mails] == ["1", "2"]
    # The first email never went out (no SMTP here) and its key was revoked meanwhile: it
    # was withdrawn rather than telling Lee about a key Lee no longer held.
    assert [m.status for m in mails] == ["voided", "pending"]


def test_apply_twice_queues_each_grant_once(engine: Engine, scim: Scim) -> None:
    for n in range(5):
        create(scim, f"p{n}", f"p{n}@corp.test", **_city("Boston"))
    _key_rule(engine, scim)  # added after the users: nobody holds a key yet
    assert _outbox(engine, scim.tenant_id) == []

    first = rule_runs.apply(engine, scim.tenant_id, batch_size=2)
    second = rule_runs.apply(engine, scim.tenant_id, batch_size=2)
    assert (first.processed, first.changed) == (5, 5)
    assert (second.processed, second.changed) == (5, 0)
    with engine.connect() as conn:
        count = conn.execute(
            select(func.count())
            .select_from(email_outbox)
            .where(email_outbox.c.tenant_id == scim.tenant_id)
        ).scalar_one()
    assert count == 5


class Crash(Exception):
    pass


def test_a_crashed_apply_resumes_and_queues_every_email_once(engine: Engine, scim: Scim) -> None:
    for n in range(5):
        create(scim, f"c{n}", f"c{n}@corp.test", **_city("Boston"))
    _key_rule(engine, scim)

    def crash_in_batch_two(run: Any) -> None:
        if run.batches == 2:  # batch 2's writes are done but not committed
            raise Crash

    try:
        rule_runs.apply(engine, scim.tenant_id, batch_size=2, progress=crash_in_batch_two)
    except Crash:
        pass
    else:
        raise AssertionError("the apply should have crashed")
    assert len(_outbox(engine, scim.tenant_id)) == 2  # batch 1 only; batch 2 rolled back
    resumed = rule_runs.apply(engine, scim.tenant_id, batch_size=2)
    assert resumed.resumed
    assert (resumed.processed, resumed.total_processed) == (3, 5)
    mails = _outbox(engine, scim.tenant_id)
    assert sorted(m.to_addr for m in mails) == [f"c{n}@corp.test" for n in range(5)]
