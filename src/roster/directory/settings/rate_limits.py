"""A connection's rate limit as a setting: the server's default (ROSTER_RATE_LIMIT,
ROSTER_RATE_BURST) or its own (`roster connection configure ID --set rate_limit=25`). The
limiter that applies it is ``directory/admission/rate_limit.py``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from roster.directory.settings.spec import OptionSpec
from roster.errors import InvalidValue
from roster.storage.tenancy import ConnectionRow

LEASE = 10  # at most this many tokens taken from the shared bucket at once
SERVER_DEFAULT = "default"  # a connection setting's value: use the server's setting


@dataclass(frozen=True)
class Limit:
    rate: float  # tokens (requests) per second; 0: no limit
    burst: int  # the bucket's size

    def lease_size(self) -> int:
        # A tenth of the burst: a small bucket is shared finely, a large one cheaply.
        return max(1, min(LEASE, self.burst // 10))


# -- per-connection settings (roster connection configure ID --set rate_limit=25) --------


def _parse_rate(text: str) -> Any:
    value = text.strip().lower().removesuffix("/s")
    if value == SERVER_DEFAULT:
        return SERVER_DEFAULT
    if value in ("off", "0", "none", "unlimited"):
        return 0.0
    try:
        rate = float(value)
    except ValueError:
        rate = math.nan
    if not math.isfinite(rate) or not 0 < rate <= 1_000_000:
        raise InvalidValue(
            f"rate_limit: {text!r} is not a rate: give requests per second (e.g. 50 or 50/s), "
            "off, or default"
        )
    return rate


def _parse_burst(text: str) -> Any:
    value = text.strip().lower()
    if value == SERVER_DEFAULT:
        return SERVER_DEFAULT
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 1_000_000:
        raise InvalidValue(
            f"rate_burst: {text!r} is not a burst: give a whole number of requests "
            "(1 to 1000000), or default"
        )
    return int(value)


# Listed by settings/options.py with every other connection setting.
SPECS = (
    OptionSpec(
        "rate_limit",
        "requests per second this connection may send, sustained (429 with Retry-After "
        "above it); default: ROSTER_RATE_LIMIT; off: no limit",
        (SERVER_DEFAULT, 50.0, "off"),
        _parse_rate,
        lambda _row: SERVER_DEFAULT,
    ),
    OptionSpec(
        "rate_burst",
        "requests this connection may send at once above its rate; default: ROSTER_RATE_BURST",
        (SERVER_DEFAULT, 100),
        _parse_burst,
        lambda _row: SERVER_DEFAULT,
    ),
)


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
    stored = row.options if isinstance(row.options, dict) else {}
    rate: Any = stored.get("rate_limit")
    burst: Any = stored.get("rate_burst")
    # A stored value of the wrong type (hand-edited JSON) falls back to the server's.
    good_rate = isinstance(rate, int | float) and not isinstance(rate, bool) and rate >= 0
    good_burst = isinstance(burst, int) and not isinstance(burst, bool) and burst >= 1
    return Override(float(rate) if good_rate else None, int(burst) if good_burst else None)
