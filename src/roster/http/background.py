"""The loops a server process runs beside its requests, started and stopped with it (the
app's lifespan): the batched writer of reads' log entries, onboarding-mail delivery (when
an SMTP server is configured), webhook delivery (unless ``roster worker``s do it) and
system-log retention (unless it keeps everything)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from roster.directory.journal.read_log import ReadLog
from roster.directory.journal.retention import RetentionLoop
from roster.directory.messaging.mail import Backoff, DeliveryLoop
from roster.directory.messaging.smtp import SmtpSender
from roster.directory.outbound.webhook_delivery import Config as WebhookConfig
from roster.directory.outbound.webhook_delivery import WebhookLoop
from roster.settings import Settings


def mail_loop(settings: Settings, engine: Engine) -> DeliveryLoop | None:
    """The onboarding-mail delivery loop, when an SMTP server is configured."""
    if not settings.smtp_host:
        return None
    # Built here, not at the first pass, so bad SMTP settings stop the server at start.
    sender = SmtpSender.from_settings(settings)
    return DeliveryLoop(engine, sender, settings.mail_poll_seconds, Backoff.from_settings(settings))


class Loop(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class Background:
    read_log: ReadLog
    mail: DeliveryLoop | None
    webhooks: WebhookLoop | None
    retention: RetentionLoop | None

    @classmethod
    def of(cls, settings: Settings, engine: Engine, read_log: ReadLog) -> Background:
        return cls(
            read_log=read_log,
            mail=mail_loop(settings, engine),
            webhooks=(
                WebhookLoop(engine, WebhookConfig.from_settings(settings))
                if settings.webhook_delivery
                else None
            ),
            # directory/journal/retention.py; 0 days keeps everything.
            retention=(
                RetentionLoop(engine, settings.log_retention_days)
                if settings.log_retention_days > 0
                else None
            ),
        )

    def _loops(self) -> list[Loop]:
        loops: list[Loop | None] = [self.read_log, self.mail, self.webhooks, self.retention]
        return [loop for loop in loops if loop is not None]

    def start(self) -> None:
        for loop in self._loops():
            loop.start()

    async def stop(self) -> None:
        """In reverse order: the read log last, so what the others logged is written."""
        for loop in reversed(self._loops()):
            await run_in_threadpool(loop.stop)
