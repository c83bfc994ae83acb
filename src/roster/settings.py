"""Settings: the one place that reads environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_FILE = "roster.db"


def _default_database_url() -> str:
    return f"sqlite:///{Path.cwd() / DEFAULT_DATABASE_FILE}"


class Settings(BaseSettings):
    """Typed settings; every field maps to ``ROSTER_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="ROSTER_", extra="ignore", populate_by_name=True)

    database_url: str = ""
    public_url: str = "http://127.0.0.1:8000"
    # RFC 7644 §3.4.2.4: the server advertises and enforces a maximum page size.
    max_page_size: int = 1000
    default_page_size: int = 100
    # Sorting by an attribute without a column of its own reads it for every match; past
    # this many matches Roster answers 400 tooMany (RFC 7644 §3.12) instead.
    max_sorted_results: int = 50_000
    # Any request body above this is refused with 413 before it is parsed.
    max_body_bytes: int = 1_048_576
    # RFC 7644 §3.7: advertised in ServiceProviderConfig.bulk.
    bulk_max_operations: int = 1000
    bulk_max_payload_bytes: int = 1_048_576
    # Read requests' system-log entries are written in batches (directory/journal/read_log.py):
    # at least this often, and at most this many wait (more are dropped and counted).
    read_log_flush_seconds: float = 1.0
    read_log_buffer_entries: int = 10_000

    # Rate limits (directory/admission/rate_limit.py): a token bucket per SCIM connection and per
    # read-API key, shared by every process; above it, 429 with Retry-After. A connection
    # may override both (`roster connection configure ID --set rate_limit=25`). 0: no limit.
    rate_limit: float = Field(default=50.0, ge=0)
    rate_burst: int = Field(default=100, ge=1)
    # Where the buckets live when several machines serve: Redis (redis://host:6379/0);
    # unset, Roster's own database.
    redis_url: str = ""

    # The system log keeps entries this long; `roster log prune` (and `roster serve`, once an
    # hour) deletes older ones. 0: keep everything.
    log_retention_days: float = Field(default=90.0, ge=0)

    # The event feed (GET /api/v1/events) keeps events this long; `roster events prune`
    # deletes older ones, and a cursor older than this gets 410.
    events_retention_days: float = 30.0

    # Onboarding email (README "Onboarding email"). No host: nothing is sent, mail queues.
    smtp_host: str = ""
    smtp_port: int = 25
    # none: plain SMTP; starttls: upgrade after EHLO (RFC 3207, usually port 587);
    # tls: TLS from the first byte (RFC 8314 "implicit TLS", usually port 465).
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_timeout_seconds: float = 30.0
    mail_from: str = ""
    # How often `roster serve` looks for due mail.
    mail_poll_seconds: float = 30.0
    # A failed send is retried after base * 2^(attempts-1) seconds, at most cap.
    mail_retry_base_seconds: float = 30.0
    mail_retry_cap_seconds: float = 3600.0

    # Webhooks (docs/events.md, "Webhooks"). Endpoint URLs must be https and resolve to
    # public addresses unless these allow http / private, loopback and link-local ones.
    webhook_allow_http: bool = False
    webhook_allow_private: bool = False
    # Deliver from `roster serve` (off when separate `roster worker` processes do it).
    webhook_delivery: bool = True
    # How often a delivery loop looks for new events and due retries when idle.
    webhook_poll_seconds: float = 1.0
    # One attempt: connect + answer within this, else it failed (and is retried).
    webhook_timeout_seconds: float = 10.0
    # A failed attempt is retried after base * 2^(attempts-1) seconds (at most cap),
    # with jitter: a random 50-100 % of that.
    webhook_retry_base_seconds: float = 5.0
    webhook_retry_cap_seconds: float = 3600.0
    # An endpoint failing without one success for this long is disabled (3 days).
    webhook_disable_after_seconds: float = 259_200.0
    # A worker's claim on a batch of deliveries; another worker takes them over once it
    # runs out (a worker that died mid-delivery). Must outlast a batch's sending.
    webhook_lease_seconds: float = 300.0
    # Attempts in flight at once per delivery loop (deliveries of distinct resources).
    webhook_concurrency: int = 8

    # Server log lines (the access line included): json, console (human-readable), or auto:
    # console when stderr is a terminal, else JSON.
    log_format: Literal["auto", "json", "console"] = "auto"
    # Where the worker processes of `roster serve` keep their Prometheus metrics, so that
    # one scrape adds up every worker. `roster serve` sets it; unset: this process only.
    prometheus_multiproc_dir: str = Field(default="", validation_alias="PROMETHEUS_MULTIPROC_DIR")

    def resolved_database_url(self) -> str:
        return self.database_url or _default_database_url()

    def default_database_file(self) -> Path | None:
        """The SQLite file used when ROSTER_DATABASE_URL is unset (``roster.db`` in the
        current folder); None when a URL is set."""
        return None if self.database_url else Path.cwd() / DEFAULT_DATABASE_FILE

    def base_url(self, tenant: str, connection_id: str) -> str:
        # RFC 7644 §6.1: the tenant is carried in the URL path; so is the connection.
        return f"{self.public_url.rstrip('/')}/scim/v2/{tenant}/{connection_id}"
