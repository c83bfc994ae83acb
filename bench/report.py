"""The human-readable report printed on standard output."""

from collections.abc import Sequence

from bench.results import RunResults
from bench.stats import Latency

Row = Sequence[str]


def table(headers: Row, rows: Sequence[Row]) -> list[str]:
    """Lines of a table: first column left-aligned, the others right-aligned."""
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]

    def line(cells: Row) -> str:
        parts = [
            cell.ljust(width) if index == 0 else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  " + "  ".join(parts).rstrip()

    rule = "  " + "  ".join("-" * width for width in widths)
    return [line(headers), rule, *(line(row) for row in rows)]


def ms(latency: Latency | None) -> str:
    """A median in milliseconds, or a dash."""
    return "-" if latency is None else f"{latency.median_ms:.2f}"


def p95(latency: Latency | None) -> str:
    """A 95th percentile in milliseconds, or a dash."""
    return "-" if latency is None else f"{latency.p95_ms:.2f}"


def num(value: float | None, digits: int = 1, suffix: str = "") -> str:
    """A number with thousands separators, or a dash."""
    return "-" if value is None else f"{value:,.{digits}f}{suffix}"


CLIENT_BOUND = 0.7


def rps(value: float | None, results: RunResults) -> str:
    """A throughput, starred when it comes near the client's own ceiling."""
    text = num(value)
    ceiling = results.ceiling
    if value is not None and ceiling is not None and value >= CLIENT_BOUND * ceiling.rps:
        return text + "*"
    return text


def _ceiling(results: RunResults) -> list[str]:
    ceiling = results.ceiling
    if ceiling is None:
        return []
    return [
        f"Client ceiling: {ceiling.rps:,.1f} req/s ({ceiling.client}, {ceiling.concurrency}"
        " connections, against a server that does nothing). * marks throughputs at"
        f" {CLIENT_BOUND:.0%} of it or more: bound by the load generator, not the server."
    ]


def _creates(results: RunResults) -> list[str]:
    if not results.creates:
        return []
    rows = [
        (
            f"{create.users:,}",
            f"{create.created:,}",
            rps(create.throughput_rps, results),
            ms(create.concurrent_latency),
            ms(create.sequential_latency),
            p95(create.sequential_latency),
        )
        for create in results.creates
    ]
    headers = ("users", "created", "req/s", "med conc ms", "med seq ms", "p95 seq ms")
    return ["Create users (POST /Users)", *table(headers, rows)]


def _lookups(results: RunResults) -> list[str]:
    if not results.lookups:
        return []
    rows = [
        (
            f"{lookup.users:,}",
            f"{lookup.sequential_latency.n:,}",
            ms(lookup.sequential_latency),
            p95(lookup.sequential_latency),
            rps(lookup.throughput_rps, results),
            ms(lookup.concurrent_latency),
        )
        for lookup in results.lookups
    ]
    headers = ("users", "samples", "median ms", "p95 ms", "req/s", "med conc ms")
    return ['Lookup (GET /Users?filter=userName eq "...")', *table(headers, rows)]


def _patch(results: RunResults) -> list[str]:
    patch = results.patch
    if patch is None:
        return []
    row = (f"{patch.users:,}", f"{patch.latency.n:,}", ms(patch.latency), p95(patch.latency))
    headers = ("users", "samples", "median ms", "p95 ms")
    title = "PATCH user (replace displayName, name.givenName)"
    notes = [f"  NOTE: {note}" for note in patch.contract_notes]
    return [title, *table(headers, [row]), *notes]


def _groups(results: RunResults) -> list[str]:
    groups = results.groups
    if groups is None:
        return []
    single = [
        (
            f"~{adds.level:,}",
            f"{adds.size_from:,}-{adds.size_to:,}",
            f"{adds.latency.n:,}",
            ms(adds.latency),
            p95(adds.latency),
        )
        for adds in groups.single
    ]
    batches = [
        (
            f"{batch.size_from:,}-{batch.size_to:,}",
            f"{batch.latency.n:,}" if batch.latency else "0",
            ms(batch.latency),
            p95(batch.latency),
        )
        for batch in groups.batches
    ]
    lines = [
        "Group member adds, 1 member per PATCH",
        *table(("level", "group size", "samples", "median ms", "p95 ms"), single),
        f"Group member adds, {groups.batch_size} members per PATCH",
        *table(("group size", "samples", "median ms", "p95 ms"), batches),
        f"  all batches: median {ms(groups.batch_latency)} ms;"
        f" growth ratio of single adds: {num(groups.growth_ratio, 2, 'x')};"
        f" final size {groups.final_size:,}",
    ]
    lines.extend(f"  NOTE: {note}" for note in groups.contract_notes)
    return lines


def _paging(results: RunResults) -> list[str]:
    paging = results.paging
    if paging is None:
        return []
    rows = [
        ("1", ms(paging.first_page), p95(paging.first_page)),
        (f"{paging.last_start_index:,}", ms(paging.last_page), p95(paging.last_page)),
    ]
    return [
        f"Paging /Users, count={paging.page_size}, {paging.total_results:,} users",
        *table(("startIndex", "median ms", "p95 ms"), rows),
        f"  last/first: {num(paging.last_vs_first, 2, 'x')}; full scan: {paging.scan_pages:,}"
        f" pages in {paging.scan_seconds:.2f} s (median page {ms(paging.scan_page_latency)} ms);"
        f" {paging.scan_users_seen:,} users seen, {paging.scan_distinct_ids:,} distinct",
    ]


def _comparison(results: RunResults) -> list[str]:
    comparison = results.comparison
    if comparison is None:
        return []
    ours, theirs = comparison.roster, comparison.scim2_server
    create_ratio = num(comparison.create_ratio, 2, "x")
    lookup_ratio = num(comparison.lookup_ratio, 2, "x")
    rows = [
        (
            "create req/s",
            rps(ours.create_rps, results),
            rps(theirs.create_rps, results),
            create_ratio,
        ),
        (
            "lookup req/s",
            rps(ours.lookup_rps, results),
            rps(theirs.lookup_rps, results),
            lookup_ratio,
        ),
        ("create median ms", num(ours.create_median_ms, 2), num(theirs.create_median_ms, 2), ""),
        ("lookup median ms", num(ours.lookup_median_ms, 2), num(theirs.lookup_median_ms, 2), ""),
    ]
    label = results.meta.target
    title = f"{label} vs scim2-server at {comparison.users:,} users (same client, same run)"
    return [title, *table(("", label, "scim2-server", "ratio"), rows)]


def _goals(results: RunResults) -> list[str]:
    marks = {True: "PASS", False: "FAIL", None: "n/a "}
    lines = ["Goals"]
    for goal in results.goals:
        measured = num(goal.measured, 2, "x")
        lines.append(f"  [{marks[goal.passed]}] {goal.description}: {measured} (goal {goal.bound})")
    return lines


def render(results: RunResults) -> str:
    """The whole report."""
    meta = results.meta
    header = (
        f"Roster SCIM benchmark: {meta.target} at {meta.base_url}, scale={meta.scale},"
        f" client={meta.client}, concurrency={meta.concurrency}, run {meta.run_id},"
        f" {meta.duration_s:.0f} s"
    )
    sections = [
        [header, *_ceiling(results)],
        _creates(results),
        _lookups(results),
        _patch(results),
        _groups(results),
        _paging(results),
        _comparison(results),
        _goals(results),
    ]
    if results.notes:
        sections.append(["Notes", *(f"  {note}" for note in results.notes)])
    if results.error:
        sections.append([f"RUN STOPPED: {results.error}"])
    return "\n\n".join("\n".join(section) for section in sections if section) + "\n"
