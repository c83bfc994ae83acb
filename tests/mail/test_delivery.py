"""Delivering the outbox to a real SMTP server (aiosmtpd, started by the test): retried
with backoff while the server is down, sent exactly once when it is up, never lost when a
worker dies mid-send. Time is passed in; nothing sleeps."""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from datetime import timedelta
from email.utils import parseaddr

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import Engine
from starlette.testclient import TestClient

from roster.directory.journal import system_log
from roster.directory.messaging.mail import Backoff, OutgoingEmail, deliver_due
from roster.directory.messaging.smtp import SmtpSender
from roster.errors import MailNotConfigured
from roster.http.app import create_app
from roster.settings import Settings
from roster.storage import outbox as store
from tests.e2e.conftest import free_port
from tests.mail.conftest import T0, SmtpServer, Tenant, add_employee, log, outbox, queue

FROM = "Roster <roster@corp.test>"


def sender(port: int, username: str = "", password: str = "") -> SmtpSender:
    return SmtpSender(
        host="127.0.0.1",
        port=port,
        mail_from=FROM,
        username=username,
        password=password,
        timeout=10,
    )


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    backoff = Backoff(30, 3600)
    delays = [backoff.delay(n).total_seconds() for n in (1, 2, 3, 4, 7, 8, 9, 500)]
    assert delays == [30, 60, 120, 240, 1920, 3600, 3600, 3600]


def test_a_server_down_at_first_gets_the_email_once_it_is_up(
    engine: Engine, tenant: Tenant, smtp_server: Callable[..., SmtpServer]
) -> None:
    ada = add_employee(engine, tenant, "ada@corp.test", givenName="Ada")
    assert queue(engine, tenant, ada)
    port = free_port()  # nothing listens there yet
    mail = sender(port)

    first = deliver_due(engine, mail, T0, tenant_id=tenant.id)
    assert (first.sent, first.failed) == (0, 1)
    assert "ada@corp.test: ConnectionRefusedError" in first.failures[0]
    [row] = outbox(engine, tenant)
    assert (row.status, row.attempts, row.lease_until) == ("pending", 1, None)
    assert row.next_attempt_at == T0 + timedelta(seconds=30)
    assert "ConnectionRefusedError" in str(row.last_error)
    [failed] = log(engine, tenant, "mail.failed")
    assert (failed.status, failed.actor, failed.resource_id) == (502, "mail", ada.id)
    assert "attempt 1" in str(failed.detail) and "2031-03-03T09:00:30Z" in str(failed.detail)

    # Before it is due again, a pass leaves it alone.
    early = deliver_due(engine, mail, T0 + timedelta(seconds=29), tenant_id=tenant.id)
    assert early.handled == 0
    assert outbox(engine, tenant)[0].attempts == 1

    # Still down when due: the wait doubles.
    second = deliver_due(engine, mail, T0 + timedelta(seconds=30), tenant_id=tenant.id)
    assert second.failed == 1
    [row] = outbox(engine, tenant)
    assert (row.attempts, row.next_attempt_at) == (2, T0 + timedelta(seconds=90))

    server = smtp_server(port)
    assert deliver_due(engine, mail, T0 + timedelta(seconds=89), tenant_id=tenant.id).handled == 0
    assert server.recorder.received == []
    up = deliver_due(engine, mail, T0 + timedelta(seconds=90), tenant_id=tenant.id)
    assert (up.sent, up.failed) == (1, 0)
    [got] = server.recorder.received
    assert got.rcpt_tos == ["ada@corp.test"]
    assert parseaddr(got.mail_from)[1] == "roster@corp.test"
    msg = got.message
    assert msg["To"] == "ada@corp.test" and msg["From"] == FROM
    assert msg["Subject"] == f"Your mobile key for {tenant.name}"
    assert msg["Message-ID"] == row.message_id
    assert f"\nMessage-ID: {row.message_id}\n" in msg.as_string()  # one line, unfolded
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content().replace("\r\n", "\n") == row.body  # type: ignore[attr-defined]
    [row] = outbox(engine, tenant)
    assert (row.status, row.attempts, row.sent_at, row.lease_until) == (
        "sent",
        3,
        T0 + timedelta(seconds=90),
        None,
    )
    [sent] = log(engine, tenant, "mail.sent")
    assert sent.status == 200 and row.message_id in str(sent.detail)

    # Sent is final: later passes send nothing.
    for later in (timedelta(seconds=91), timedelta(hours=2), timedelta(days=30)):
        assert deliver_due(engine, mail, T0 + later, tenant_id=tenant.id).handled == 0
    assert len(server.recorder.received) == 1


def test_a_leased_row_is_not_sent_by_another_worker_until_the_lease_runs_out(
    engine: Engine, tenant: Tenant, smtp_server: Callable[..., SmtpServer]
) -> None:
    bob = add_employee(engine, tenant, "bob@corp.test")
    assert queue(engine, tenant, bob)
    server = smtp_server()
    # Worker A claims the row and dies before sending (or while sending).
    with engine.begin() as conn:
        [claimed] = store.claim_due(
            conn, T0, T0 + timedelta(minutes=10), limit=10, tenant_id=tenant.id
        )
    assert claimed.attempts == 1 and claimed.lease_until == T0 + timedelta(minutes=10)

    mail = sender(server.port)
    during = deliver_due(engine, mail, T0 + timedelta(minutes=9), tenant_id=tenant.id)
    assert during.handled == 0 and server.recorder.received == []

    # The lease ran out: worker B sends it. Never lost.
    after = deliver_due(engine, mail, T0 + timedelta(minutes=10), tenant_id=tenant.id)
    assert after.sent == 1
    [got] = server.recorder.received
    assert got.message["Message-ID"] == claimed.message_id
    [row] = outbox(engine, tenant)
    assert (row.status, row.attempts) == ("sent", 2)


def test_a_late_failure_report_does_not_make_a_sent_email_pending(
    engine: Engine, tenant: Tenant
) -> None:
    cy = add_employee(engine, tenant, "cy@corp.test")
    assert queue(engine, tenant, cy)
    [row] = outbox(engine, tenant)
    with engine.begin() as conn:
        store.mark_sent(conn, tenant.id, row.pk, T0)
        store.mark_failed(conn, tenant.id, row.pk, "late", T0 + timedelta(minutes=1))
    [row] = outbox(engine, tenant)
    assert (row.status, row.last_error) == ("sent", None)


def test_two_workers_never_claim_the_same_row_at_once(engine: Engine, tenant: Tenant) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one write transaction at a time (BEGIN IMMEDIATE)")
    for i in range(3):
        assert queue(engine, tenant, add_employee(engine, tenant, f"w{i}@corp.test"))
    lease = T0 + timedelta(minutes=10)
    with engine.connect() as a, engine.connect() as b:
        with a.begin():
            mine = store.claim_due(a, T0, lease, limit=2, tenant_id=tenant.id)
            # A has not committed: B skips A's locked rows instead of waiting for them.
            with b.begin():
                theirs = store.claim_due(b, T0, lease, limit=10, tenant_id=tenant.id)
        assert len(mine) == 2 and len(theirs) == 1
        assert not {r.pk for r in mine} & {r.pk for r in theirs}
        with b.begin():  # committed leases: nothing left for anyone
            assert store.claim_due(b, T0, lease, limit=10, tenant_id=tenant.id) == []


def test_credentials_are_used_and_a_refused_login_is_retried(
    engine: Engine, tenant: Tenant, smtp_server: Callable[..., SmtpServer]
) -> None:
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"roster"
        # handled=False: aiosmtpd answers a refusal (535) itself.
        return AuthResult(success=ok and auth_data.password == b"s3cret", handled=False)

    # Plain SMTP with a password only to a relay on this host (see SmtpSender).
    server = smtp_server(authenticator=authenticator, auth_require_tls=False)
    dee = add_employee(engine, tenant, "dee@corp.test")
    assert queue(engine, tenant, dee)
    wrong = sender(server.port, username="roster", password="nope")
    refused = deliver_due(engine, wrong, T0, tenant_id=tenant.id)
    assert refused.failed == 1 and "SMTPAuthenticationError" in refused.failures[0]
    right = sender(server.port, username="roster", password="s3cret")
    assert deliver_due(engine, right, T0 + timedelta(seconds=30), tenant_id=tenant.id).sent == 1
    assert [r.rcpt_tos for r in server.recorder.received] == [["dee@corp.test"]]


def test_unsafe_or_missing_smtp_settings_are_refused() -> None:
    with pytest.raises(MailNotConfigured, match="unencrypted"):
        SmtpSender(host="smtp.example.com", port=25, mail_from=FROM, username="u", password="p")
    with pytest.raises(MailNotConfigured, match="ROSTER_MAIL_FROM"):
        SmtpSender(host="smtp.example.com", port=25, mail_from="")
    with pytest.raises(MailNotConfigured, match="ROSTER_SMTP_HOST"):
        SmtpSender.from_settings(Settings(mail_from=FROM))
    starttls = SmtpSender(
        host="smtp.example.com", port=587, mail_from=FROM, tls="starttls", username="u"
    )
    assert starttls.tls == "starttls"


def test_serve_delivers_in_the_background_and_stops_on_shutdown(
    engine: Engine, settings: Settings, tenant: Tenant, smtp_server: Callable[..., SmtpServer]
) -> None:
    server = smtp_server()
    eli = add_employee(engine, tenant, "eli@corp.test")
    assert queue(engine, tenant, eli, at=system_log.now())  # due now, on the real clock
    configured = settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": server.port,
            "mail_from": FROM,
            "mail_poll_seconds": 0.05,
        }
    )
    app = create_app(configured, engine)
    loop = app.state.mail_loop
    with TestClient(app):
        assert loop.running
        got = server.recorder.wait_for("eli@corp.test")
    assert not loop.running
    assert got.message["Subject"] == f"Your mobile key for {tenant.name}"
    [row] = outbox(engine, tenant)
    assert row.status == "sent"
    assert create_app(settings, engine).state.mail_loop is None  # no SMTP host, no loop


def test_smtp_errors_are_what_a_failed_pass_reports(engine: Engine, tenant: Tenant) -> None:
    # A server that refuses the recipient (550) is a failure like any other: retried.
    class Refusing:
        def send(self, email: object) -> None:
            raise smtplib.SMTPRecipientsRefused({"x@corp.test": (550, b"no such user")})

    x = add_employee(engine, tenant, "x@corp.test")
    assert queue(engine, tenant, x)
    report = deliver_due(engine, Refusing(), T0, tenant_id=tenant.id)
    assert report.failed == 1 and "SMTPRecipientsRefused" in report.failures[0]
    assert outbox(engine, tenant)[0].next_attempt_at == T0 + timedelta(seconds=30)


def test_a_slow_pass_leases_each_batch_from_when_it_is_claimed_not_from_the_pass_start(
    engine: Engine, tenant: Tenant
) -> None:
    # 11 emails: two batches. Each send takes a minute (a slow SMTP server), so worker A
    # claims its second batch ten minutes into the pass. That lease must run ten minutes
    # from then: worker B, passing meanwhile, must not send the same email again.
    for i in range(11):
        assert queue(engine, tenant, add_employee(engine, tenant, f"s{i}@corp.test"))
    ticks = [0.0]
    sent: list[str] = []
    other: list[str] = []

    class Other:
        def send(self, email: OutgoingEmail) -> None:
            other.append(email.to_addr)

    class Slow:
        def send(self, email: OutgoingEmail) -> None:
            if len(sent) == 10:  # A is sending its second batch: B passes now
                b_now = T0 + timedelta(seconds=ticks[0] + 30)
                deliver_due(engine, Other(), b_now, tenant_id=tenant.id)
            ticks[0] += 60
            sent.append(email.to_addr)

    report = deliver_due(engine, Slow(), T0, tenant_id=tenant.id, elapsed=lambda: ticks[0])
    assert report.sent == 11 and len(sent) == 11
    assert other == []  # nothing sent twice
