"""Command line: ``python -m bench --base-url URL --token TOKEN [--scale small] [--compare]``."""

import argparse
import os
import platform
import random
import secrets
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.ceiling import measure_ceiling
from bench.compare import compare, find_scim2_server
from bench.config import SCALES, ConfigError, Scale, validate, with_users
from bench.goals import judge
from bench.groups import grow_group
from bench.paging import measure_paging
from bench.progress import log
from bench.report import render
from bench.results import RunMeta, RunResults, write_json
from bench.scim import Endpoint, ScimError, check_loopback, total_results
from bench.stages import run_stages
from bench.transport import CLIENTS
from bench.users import UserPool, measure_patches

OPTIONAL_PHASES = ("patch", "groups", "paging")
TOKEN_VARIABLE = "BENCH_TOKEN"
DEFAULT_OUT = Path(__file__).resolve().parent / "results.json"


def parse_stages(text: str) -> tuple[int, ...]:
    """``1000,10000`` as a tuple of counts."""
    try:
        return tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a list of counts: {text!r}") from error


def parse_skip(text: str) -> frozenset[str]:
    """``groups,paging`` as a set of optional phases."""
    phases = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = phases - set(OPTIONAL_PHASES)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown phases: {', '.join(sorted(unknown))}")
    return phases


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Load benchmark of a running Roster SCIM server (127.0.0.1 only).",
    )
    parser.add_argument("--base-url", required=True, help="SCIM base URL of a connection")
    parser.add_argument(
        "--token", help=f"bearer token of the connection (default: ${TOKEN_VARIABLE})"
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument(
        "--users", type=parse_stages, help="user stages instead of the scale's, e.g. 1000,5000"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="connections for throughput")
    parser.add_argument("--client", choices=CLIENTS, default="httpx", help="HTTP client")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="JSON results (default: bench/results.json)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the random samples")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    parser.add_argument("--compare", action="store_true", help="also run scim2-server")
    parser.add_argument("--scim2-server", help="scim2-server executable (default: the venv's)")
    parser.add_argument(
        "--skip", type=parse_skip, default=frozenset(), help="comma list of patch,groups,paging"
    )
    parser.add_argument("--label", default="Roster", help="name of the server in the report")
    return parser


def run(args: argparse.Namespace, scale: Scale, endpoint: Endpoint, results: RunResults) -> None:
    """The client ceiling, every phase against the server under test, the comparison."""
    concurrency: int = args.concurrency
    skip: frozenset[str] = args.skip
    results.ceiling = measure_ceiling(endpoint, concurrency)
    rng = random.Random(args.seed)
    pool = UserPool(f"bench-{results.meta.run_id}")
    existing = results.meta.existing_users
    stages = run_stages(
        scale, scale.user_stages, pool, existing, endpoint.connect, concurrency, rng
    )
    results.creates, results.lookups = stages.creates, stages.lookups
    users = results.creates[-1].users
    if "patch" not in skip:
        results.patch = measure_patches(pool, users, rng, endpoint.connect, scale.patch_samples)
    if "paging" not in skip:
        with endpoint.connect() as client:
            results.paging = measure_paging(client, scale.page_size, scale.page_samples)
    needed = scale.members_needed()
    if "groups" not in skip and len(pool.ids) < needed:
        results.notes.append(
            f"group phase skipped: it needs {needed:,} users created by this run,"
            f" there are {len(pool.ids):,}"
        )
    elif "groups" not in skip:
        with endpoint.connect() as client:
            results.groups = grow_group(
                client,
                pool.ids,
                scale.group_levels,
                scale.group_samples,
                scale.group_batch_size,
                f"{pool.prefix}-group",
            )
    if args.compare:
        executable = find_scim2_server(args.scim2_server)
        results.comparison = compare(
            stages, scale, executable, endpoint, concurrency, args.seed, pool.prefix
        )


def prepare(args: argparse.Namespace) -> tuple[Scale, Endpoint, int]:
    """Check the options and the server; return the scale, the endpoint and its user count."""
    scale = SCALES[args.scale]
    if args.users:
        scale = with_users(scale, args.users)
    validate(scale, groups="groups" not in args.skip)
    if args.concurrency < 1:
        raise ConfigError("--concurrency must be at least 1")
    check_loopback(args.base_url)
    token: str | None = args.token or os.environ.get(TOKEN_VARIABLE)
    endpoint = Endpoint(args.base_url, token, args.timeout, args.client)
    with endpoint.connect() as client:
        existing = total_results(client, "Users")
    first = min(scale.user_stages)
    if existing >= first:
        raise ConfigError(
            f"the tenant already holds {existing:,} users, not fewer than the first stage"
            f" ({first:,}); use a fresh connection or larger --users"
        )
    return scale, endpoint, existing


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the report; write the JSON file. 0 when every phase ran."""
    args = build_parser().parse_args(argv)
    try:
        scale, endpoint, existing = prepare(args)
    except (ScimError, ValueError) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    meta = RunMeta(
        target=args.label,
        base_url=args.base_url,
        scale=scale.name,
        concurrency=args.concurrency,
        client=args.client,
        seed=args.seed,
        run_id=secrets.token_hex(3),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        existing_users=existing,
        python=platform.python_version(),
        httpx=httpx.__version__,
    )
    results = RunResults(meta)
    if existing:
        results.notes.append(f"the tenant already held {existing:,} users; stages count them")
    started = time.monotonic()
    status = 0
    try:
        run(args, scale, endpoint, results)
    except ScimError as error:
        results.error = str(error)
        status = 1
    except KeyboardInterrupt:
        results.error = "interrupted"
        status = 130
    meta.duration_s = round(time.monotonic() - started, 1)
    results.goals = judge(results.lookups, results.groups, results.paging, results.comparison)
    write_json(results, args.out)
    print(render(results), end="")
    log(f"results written to {args.out}")
    return status
