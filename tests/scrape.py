"""Reading a Prometheus scrape in tests: one sample's value by metric name and labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, dict(s.labels), float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def value(text: str, name: str, **labels: str) -> float:
    """The sample ``name`` whose labels include ``labels``, summed; 0 when there is none
    (a series appears at its first increment)."""
    return sum(
        v
        for n, found, v in samples(text)
        if n == name and all(found.get(k) == want for k, want in labels.items())
    )
