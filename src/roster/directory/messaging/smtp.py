"""The SMTP sender: one stdlib ``smtplib`` session per email, configured by Settings."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from roster.directory.messaging.mail import OutgoingEmail
from roster.errors import MailNotConfigured
from roster.settings import Settings

_LOOPBACK = ("localhost", "127.0.0.1", "::1")


class SmtpSender:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        mail_from: str,
        tls: str = "none",
        username: str = "",
        password: str = "",
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not host:
            raise MailNotConfigured("no SMTP server: set ROSTER_SMTP_HOST (and ROSTER_SMTP_PORT)")
        if not mail_from:
            raise MailNotConfigured(
                "no sender address: set ROSTER_MAIL_FROM (e.g. roster@example.com)"
            )
        if tls not in ("none", "starttls", "tls"):
            raise MailNotConfigured(f"ROSTER_SMTP_TLS must be none, starttls or tls, not {tls!r}")
        # Credentials in clear text over the network are refused; a relay on this host
        # is the one place plain SMTP with a password is acceptable.
        if username and tls == "none" and host not in _LOOPBACK:
            raise MailNotConfigured(
                "SMTP credentials would be sent unencrypted: set ROSTER_SMTP_TLS to starttls or tls"
            )
        self.host, self.port, self.mail_from, self.tls = host, port, mail_from, tls
        self._username, self._password, self._timeout = username, password, timeout
        self._context = ssl_context or ssl.create_default_context()

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpSender:
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            mail_from=settings.mail_from,
            tls=settings.smtp_tls,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value(),
            timeout=settings.smtp_timeout_seconds,
        )

    def message(self, email: OutgoingEmail) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.mail_from
        msg["To"] = email.to_addr
        msg["Subject"] = email.subject
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = email.message_id
        # RFC 3834 §5: machine-generated, so vacation responders stay quiet.
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(email.body)
        return msg

    def send(self, email: OutgoingEmail) -> None:
        msg = self.message(email)
        smtp: smtplib.SMTP
        if self.tls == "tls":
            smtp = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self._timeout, context=self._context
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self._timeout)
        with smtp:
            if self.tls == "starttls":
                smtp.starttls(context=self._context)
            if self._username:
                smtp.login(self._username, self._password)
            # send_message raises unless the server accepted every recipient (there is
            # one); returning normally is the server's acceptance.
            smtp.send_message(msg)
