"""A connection's rate limit: the server's default (ROSTER_RATE_LIMIT, ROSTER_RATE_BURST)
or its own (`roster connection configure ID --set rate_limit=25`; the settings
``rate_limit`` and ``rate_burst`` of ``settings/model.py``). The limiter that applies it
is ``directory/admission/rate_limit.py``."""

from __future__ import annotations

from dataclasses import dataclass

from roster.directory.settings import registry
from roster.directory.settings.model import SERVER_DEFAULT, ConnectionSettings
from roster.storage.tenancy import ConnectionRow

LEASE = 10  # at most this many tokens taken from the shared bucket at once


@dataclass(frozen=True)
class Limit:
    rate: float  # tokens (requests) per second; 0: no limit
    burst: int  # the bucket's size

    def lease_size(self) -> int:
        # A tenth of the burst: a small bucket is shared finely, a large one cheaply.
        return max(1, min(LEASE, self.burst // 10))


@dataclass(frozen=True)
class Override:
    """A connection's own rate and burst (None: the server's)."""

    rate: float | None = None
    burst: int | None = None

    def resolve(self, default: Limit) -> Limit:
        return Limit(
            default.rate if self.rate is None else self.rate,
            default.burst if self.burst is None else self.burst,
        )


def override(row: ConnectionRow) -> Override:
    """Connection ``row``'s own rate and burst, if any."""
    return from_settings(registry.of(row))


def from_settings(settings: ConnectionSettings) -> Override:
    """The connection's own rate and burst; ``default`` (or a stored value that does not
    validate: hand-edited JSON) is the server's."""
    rate, burst = settings.rate_limit, settings.rate_burst
    return Override(
        None if rate == SERVER_DEFAULT else float(rate),
        None if burst == SERVER_DEFAULT else int(burst),
    )
