"""Paging phase: first page versus last page, and a full scan of /Users."""

import time
from dataclasses import dataclass

from bench.progress import log
from bench.scim import ScimClient, ScimError, get_resources, get_str, total_results
from bench.stats import Latency, ratio

WARMUP_REQUESTS = 5


@dataclass(frozen=True, slots=True)
class PagingResult:
    """Pages of ``page_size`` users of a tenant holding ``total_results`` users."""

    total_results: int
    page_size: int
    first_page: Latency
    last_start_index: int
    last_page: Latency
    last_vs_first: float | None
    scan_pages: int
    scan_seconds: float
    scan_page_latency: Latency
    scan_users_seen: int
    scan_distinct_ids: int


def last_start_index(total: int, page_size: int) -> int:
    """The startIndex of the last page: 99,901 for 100,000 users in pages of 100."""
    return max(0, total - 1) // page_size * page_size + 1


def _page_ids(client: ScimClient, start_index: int, page_size: int) -> tuple[list[str], float]:
    """The ids of one page and the request time."""
    reply = client.page("Users", start_index, page_size)
    resources = get_resources(reply.json(), reply)
    if len(resources) > page_size:
        raise ScimError(f"{reply.describe()}: {len(resources)} users on a page of {page_size}")
    return [get_str(resource, "id", reply) for resource in resources], reply.seconds


def measure_paging(client: ScimClient, page_size: int, samples: int) -> PagingResult:
    """Time the first and the last page, then read every page once."""
    total = total_results(client, "Users")
    last = last_start_index(total, page_size)
    log(f"{samples} requests each at startIndex=1 and startIndex={last:,} (count={page_size})")
    for start_index in (1, last) * WARMUP_REQUESTS:
        _page_ids(client, start_index, page_size)
    first_timings = [_page_ids(client, 1, page_size)[1] for _ in range(samples)]
    last_timings = [_page_ids(client, last, page_size)[1] for _ in range(samples)]
    pages = (total + page_size - 1) // page_size
    log(f"full scan of {total:,} users in {pages:,} pages")
    seen = 0
    distinct: set[str] = set()
    timings: list[float] = []
    started = time.perf_counter()
    for page in range(pages):
        ids, seconds = _page_ids(client, page * page_size + 1, page_size)
        timings.append(seconds)
        seen += len(ids)
        distinct.update(ids)
        if not ids:
            break
    scan_seconds = time.perf_counter() - started
    first = Latency.of(first_timings)
    last_latency = Latency.of(last_timings)
    return PagingResult(
        total_results=total,
        page_size=page_size,
        first_page=first,
        last_start_index=last,
        last_page=last_latency,
        last_vs_first=ratio(last_latency.median_ms, first.median_ms),
        scan_pages=len(timings),
        scan_seconds=round(scan_seconds, 3),
        scan_page_latency=Latency.of(timings),
        scan_users_seen=seen,
        scan_distinct_ids=len(distinct),
    )
