"""Summaries of latency samples."""

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Linear-interpolated percentile of already sorted values, ``fraction`` in [0, 1]."""
    if not sorted_values:
        raise ValueError("no values")
    position = fraction * (len(sorted_values) - 1)
    low = math.floor(position)
    high = math.ceil(position)
    weight = position - low
    return sorted_values[low] * (1 - weight) + sorted_values[high] * weight


@dataclass(frozen=True, slots=True)
class Latency:
    """Latency of a set of requests, in milliseconds."""

    n: int
    median_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> "Latency":
        """Summarise request durations given in seconds."""
        values = sorted(value * 1_000 for value in seconds)
        if not values:
            raise ValueError("a latency summary needs at least one sample")
        return cls(
            n=len(values),
            median_ms=round(statistics.median(values), 3),
            p95_ms=round(percentile(values, 0.95), 3),
            p99_ms=round(percentile(values, 0.99), 3),
            mean_ms=round(statistics.fmean(values), 3),
            min_ms=round(values[0], 3),
            max_ms=round(values[-1], 3),
        )


def maybe_latency(seconds: Sequence[float]) -> Latency | None:
    """Summarise ``seconds``, or None when there is no sample."""
    return Latency.of(seconds) if seconds else None


def rate(count: int, seconds: float) -> float:
    """Requests per second, rounded to one decimal."""
    return round(count / seconds, 1) if seconds > 0 else 0.0


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator`` rounded to three decimals, None when undefined."""
    if denominator <= 0:
        return None
    return round(numerator / denominator, 3)
