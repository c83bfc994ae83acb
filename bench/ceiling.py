"""The client's own ceiling: requests per second against a server that does nothing."""

import sys
from dataclasses import dataclass
from pathlib import Path

from bench.process import answers, free_port, local_server
from bench.scim import Endpoint, ScimClient, get_resources
from bench.stats import rate
from bench.workers import run_concurrently

CEILING_REQUESTS = 3_000


@dataclass(frozen=True, slots=True)
class Ceiling:
    """The most list requests per second this client made against bench.stub_server."""

    client: str
    concurrency: int
    requests: int
    rps: float


def _list(client: ScimClient, _: int) -> float:
    reply = client.request("GET", "Users", params={"filter": 'userName eq "stub"'}).expect(200)
    get_resources(reply.json(), reply)
    return reply.seconds


def measure_ceiling(like: Endpoint, concurrency: int) -> Ceiling:
    """Time ``CEILING_REQUESTS`` lookups, parsed like real ones, against the stub server."""
    port = free_port()
    endpoint = Endpoint(f"http://127.0.0.1:{port}/v2", None, like.timeout, like.client)
    command = [sys.executable, "-m", "bench.stub_server", str(port)]

    def ready() -> int:
        with endpoint.connect() as client:
            return client.request("GET", "Users").status

    root = Path(__file__).resolve().parent.parent
    with local_server(f"stub server on 127.0.0.1:{port}", command, answers(ready), root):
        burst = run_concurrently(
            list(range(CEILING_REQUESTS)), _list, endpoint.connect, concurrency
        )
    return Ceiling(
        like.client, concurrency, CEILING_REQUESTS, rate(CEILING_REQUESTS, burst.seconds)
    )
