"""Queueing the onboarding email: in the caller's transaction, once per grant, rendered
from the tenant's template (validated, sandboxed) or the built-in one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, text

from roster.directory.entitlements import onboarding
from roster.errors import InvalidValue
from roster.storage import outbox as store
from tests.mail.conftest import T0, Tenant, add_employee, log, outbox, queue


def test_the_email_is_queued_in_the_callers_transaction(engine: Engine, tenant: Tenant) -> None:
    ada = add_employee(engine, tenant, "ada@corp.test", givenName="Ada", familyName="Lovelace")
    with engine.connect() as conn, conn.begin() as tx:
        assert onboarding.queue(conn, tenant.id, ada, 1, rule_name="r", at=T0)
        tx.rollback()  # the grant failed: no email either
    assert outbox(engine, tenant) == []
    assert log(engine, tenant, "mail.queued") == []

    assert queue(engine, tenant, ada, rule="Engineering gets a mobile key")
    [row] = outbox(engine, tenant)
    assert (row.status, row.attempts, row.to_addr, row.employee_id) == (
        "pending",
        0,
        "ada@corp.test",
        ada.id,
    )
    assert (row.next_attempt_at, row.created_at, row.lease_until, row.sent_at) == (
        T0,
        T0,
        None,
        None,
    )
    assert row.dedupe_key == f"mobile-key:{ada.id}:1"
    assert row.message_id == onboarding.message_id(tenant.id, row.dedupe_key)
    assert row.message_id.startswith("<onboarding.") and row.message_id.endswith(">")
    assert row.subject == f"Your mobile key for {tenant.name}"
    assert row.body.startswith("Hello Ada,\n")
    [entry] = log(engine, tenant, "mail.queued")
    assert entry.resource_id == ada.id and entry.status == 200
    assert "ada@corp.test" in str(entry.detail) and "'Engineering gets a mobile key'" in str(
        entry.detail
    )


def test_one_email_per_activation_even_when_queued_again(engine: Engine, tenant: Tenant) -> None:
    bob = add_employee(engine, tenant, "bob@corp.test")
    assert queue(engine, tenant, bob, 1)
    with engine.begin() as conn:
        # Queued again in one transaction: no row, and (PostgreSQL) the transaction is
        # still usable afterwards: the conflict did not abort it.
        assert not onboarding.queue(conn, tenant.id, bob, 1, rule_name="again", at=T0)
        assert not onboarding.queue(conn, tenant.id, bob, 1, rule_name="again", at=T0)
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    assert [r.dedupe_key for r in outbox(engine, tenant)] == [f"mobile-key:{bob.id}:1"]
    # The key was revoked and granted again: a new activation, a new email.
    assert queue(engine, tenant, bob, 2, at=T0 + timedelta(days=1))
    rows = outbox(engine, tenant)
    assert [r.dedupe_key for r in rows] == [f"mobile-key:{bob.id}:2", f"mobile-key:{bob.id}:1"]
    assert rows[0].message_id != rows[1].message_id
    assert len(log(engine, tenant, "mail.queued")) == 2
    # Without a name the greeting falls back to the display name (the email here).
    assert rows[0].body.startswith("Hello bob@corp.test,\n")


def test_the_same_key_in_another_tenant_is_another_email(
    engine: Engine, tenant: Tenant, tenant2: Tenant
) -> None:
    a = add_employee(engine, tenant, "same@corp.test")
    b = add_employee(engine, tenant2, "same@corp.test")
    with engine.begin() as conn:
        ok = store.insert_if_absent(
            conn, store.NewEmail(tenant.id, "k", a.id, a.email, "s", "b", "<m1@x>", T0)
        )
        ok2 = store.insert_if_absent(
            conn, store.NewEmail(tenant2.id, "k", b.id, b.email, "s", "b", "<m2@x>", T0)
        )
    assert ok and ok2
    assert len(outbox(engine, tenant)) == len(outbox(engine, tenant2)) == 1


def test_a_tenant_template_renders_with_the_employee(engine: Engine, tenant: Tenant) -> None:
    with engine.begin() as conn:
        onboarding.set_template(
            conn,
            tenant.id,
            "Welcome {{ employee.display_name }} to {{ tenant }}",
            "Hi {{ employee.given_name }} {{ employee.family_name }} <{{ employee.email }}>\n"
            "Rule: {{ rule }}\nId: {{ employee.id }}\n",
        )
    # Line breaks in a name never reach the Subject header.
    eve = add_employee(engine, tenant, "eve@corp.test", givenName="Eve", familyName="Doe\r\nBcc: x")
    assert queue(engine, tenant, eve, rule="Ops")
    [row] = outbox(engine, tenant)
    assert row.subject == f"Welcome Eve Doe Bcc: x to {tenant.name}"
    assert row.body == f"Hi Eve Doe\r\nBcc: x <eve@corp.test>\nRule: Ops\nId: {eve.id}\n"
    [entry] = log(engine, tenant, "mail.template")
    assert entry.actor == "admin" and "onboarding email template changed" in str(entry.detail)
    with engine.connect() as conn:
        current = onboarding.current_template(conn, tenant.id)
    assert current.custom and current.subject.startswith("Welcome")


@pytest.mark.parametrize(
    ("subject", "body", "message"),
    [
        ("Hi", "Hello {{ employee.given_name ", "the body template has a syntax error on line 1"),
        ("Hi", "a\n{% if %}\n", "the body template has a syntax error on line 2"),
        (
            "Hi {{ employee.nickname }}",
            "x",
            "the subject template fails: 'dict object' has no attribute 'nickname'; "
            "the variables are employee.given_name",
        ),
        ("Hi", "{{ nme }}", "the body template fails: 'nme' is undefined"),
        # The sandbox: no way from a template into Python's internals.
        ("Hi", "{{ ''.__class__.__mro__ }}", "the body template fails"),
        ("Hi", "{{ employee.given_name[0] }}", "for an employee with no name"),
        ("Hi", "{{ 1 / 0 }}", "the body template fails: ZeroDivisionError"),
        ("Hi\nthere", "x", "the subject template must be one line"),
        ("  ", "x", "the subject template is empty"),
        ("Hi", "", "the body template is empty"),
        ("Hi", "{% for i in range(99999) %}xx{% endfor %}", "the limit is 100000"),
    ],
)
def test_a_template_that_cannot_render_is_refused_with_what_to_fix(
    engine: Engine, tenant: Tenant, subject: str, body: str, message: str
) -> None:
    with engine.begin() as conn, pytest.raises(InvalidValue) as refused:
        onboarding.set_template(conn, tenant.id, subject, body)
    assert message in refused.value.detail
    with engine.connect() as conn:
        assert not onboarding.current_template(conn, tenant.id).custom


def test_a_stored_template_that_fails_for_one_employee_does_not_stop_the_grant(
    engine: Engine, tenant: Tenant
) -> None:
    # Saved before today's checks, say: it fails at queue time, the built-in one is used.
    with engine.begin() as conn:
        store.set_template(conn, tenant.id, "onboarding", "x", "{{ employee.nickname }}", T0)
    kim = add_employee(engine, tenant, "kim@corp.test", givenName="Kim")
    assert queue(engine, tenant, kim)
    [row] = outbox(engine, tenant)
    assert row.body.startswith("Hello Kim,\n")
    [entry] = log(engine, tenant, "mail.queued")
    assert "the tenant's template failed" in str(entry.detail)
    assert "nickname" in str(entry.detail)
