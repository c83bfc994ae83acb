"""Side-by-side run against python-scim's in-memory scim2-server."""

import random
import secrets
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from bench.config import Scale
from bench.process import answers, free_port, local_server
from bench.scim import Endpoint, ScimError
from bench.stages import StageResults, run_stages
from bench.stats import ratio
from bench.users import UserPool


@dataclass(frozen=True, slots=True)
class ServerFigures:
    """Create and lookup figures of one server at the comparison user count."""

    users: int
    create_rps: float
    create_median_ms: float | None
    lookup_rps: float
    lookup_median_ms: float


@dataclass(frozen=True, slots=True)
class Comparison:
    """Roster against scim2-server with the same client, concurrency and user count."""

    users: int
    roster: ServerFigures
    scim2_server: ServerFigures
    create_ratio: float | None
    lookup_ratio: float | None


def find_scim2_server(explicit: str | None) -> str:
    """The scim2-server executable: the option, the one beside this Python, or PATH."""
    candidates = [explicit] if explicit else [str(Path(sys.executable).parent / "scim2-server")]
    candidates.append(shutil.which("scim2-server") or "")
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    raise ScimError("scim2-server not found; pass --scim2-server PATH")


def figures_at(results: StageResults, stages: int) -> ServerFigures:
    """Create throughput over the first ``stages`` stages, lookup figures at the last of them."""
    creates = results.creates[:stages]
    if not creates or len(results.lookups) < stages:
        raise ScimError(f"the comparison needs {stages} measured stages")
    created = sum(result.concurrent_created for result in creates)
    seconds = sum(result.concurrent_seconds for result in creates)
    lookup = results.lookups[stages - 1]
    last_create = creates[-1].sequential_latency
    return ServerFigures(
        users=lookup.users,
        create_rps=round(created / seconds, 1) if seconds > 0 else 0.0,
        create_median_ms=last_create.median_ms if last_create else None,
        lookup_rps=lookup.throughput_rps,
        lookup_median_ms=lookup.sequential_latency.median_ms,
    )


def compare(
    roster: StageResults,
    scale: Scale,
    executable: str,
    like: Endpoint,
    concurrency: int,
    seed: int,
    prefix: str,
) -> Comparison:
    """Run the same user stages, up to the comparison count, against scim2-server.

    ``like`` gives the client kind and timeout of the Roster run.
    """
    stages = tuple(stage for stage in scale.user_stages if stage <= scale.compare_users)
    port = free_port()
    endpoint = replace(
        like, base_url=f"http://127.0.0.1:{port}/v2", token=secrets.token_urlsafe(24)
    )
    command = [executable, "--hostname", "127.0.0.1", "--port", str(port)]
    # One argument: a random token may start with "-", which argparse takes for an option.
    command += [f"--bearer-token={endpoint.token or ''}"]

    def ready() -> int:
        with endpoint.connect() as client:
            return client.request("GET", "ServiceProviderConfig").status

    with local_server(f"scim2-server on 127.0.0.1:{port}", command, answers(ready)):
        other = run_stages(
            scale,
            stages,
            UserPool(prefix),
            0,
            endpoint.connect,
            concurrency,
            random.Random(seed),
        )
    ours = figures_at(roster, len(stages))
    theirs = figures_at(other, len(stages))
    return Comparison(
        users=theirs.users,
        roster=ours,
        scim2_server=theirs,
        create_ratio=ratio(ours.create_rps, theirs.create_rps),
        lookup_ratio=ratio(ours.lookup_rps, theirs.lookup_rps),
    )
