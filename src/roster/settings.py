"""Settings: the one place that reads environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_database_url() -> str:
    return f"sqlite:///{Path.cwd() / 'roster.db'}"


class Settings(BaseSettings):
    """Typed settings; every field maps to ``ROSTER_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="ROSTER_", extra="ignore")

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

    def resolved_database_url(self) -> str:
        return self.database_url or _default_database_url()

    def base_url(self, tenant: str, connection_id: str) -> str:
        # RFC 7644 §6.1: the tenant is carried in the URL path; so is the connection.
        return f"{self.public_url.rstrip('/')}/scim/v2/{tenant}/{connection_id}"
