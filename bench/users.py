"""User phases: creating users up to each stage, lookups by userName, PATCH."""

import random
from dataclasses import dataclass, field

from bench.progress import log
from bench.scim import (
    USER_SCHEMA,
    JsonObject,
    Reply,
    ScimClient,
    ScimError,
    get_int,
    get_resources,
    get_str,
)
from bench.stats import Latency, maybe_latency, rate
from bench.workers import ClientFactory, run_concurrently

WARMUP_REQUESTS = 20


@dataclass(slots=True)
class UserPool:
    """Users this run created, by position: their userNames and ids."""

    prefix: str
    names: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def name(self, index: int) -> str:
        """The userName of the user with this creation index."""
        return f"{self.prefix}-{index:07d}"

    def add(self, name: str, user_id: str) -> None:
        """Remember a created user."""
        self.names.append(name)
        self.ids.append(user_id)


@dataclass(frozen=True, slots=True)
class CreateResult:
    """Creating the users that bring the tenant to ``users``."""

    users: int
    created: int
    concurrent_created: int
    concurrent_seconds: float
    throughput_rps: float | None
    concurrent_latency: Latency | None
    sequential_latency: Latency | None


@dataclass(frozen=True, slots=True)
class LookupResult:
    """``filter=userName eq "..."`` while the tenant holds ``users``."""

    users: int
    sequential_latency: Latency
    burst_requests: int
    throughput_rps: float
    concurrent_latency: Latency


@dataclass(frozen=True, slots=True)
class PatchResult:
    """PATCH replace of displayName and name.givenName while the tenant holds ``users``."""

    users: int
    latency: Latency
    contract_notes: list[str]


def user_body(name: str, index: int) -> JsonObject:
    """A realistic User with a name, an email and an externalId."""
    return {
        "schemas": [USER_SCHEMA],
        "userName": name,
        "externalId": f"ext-{name}",
        "active": True,
        "displayName": f"Bench User {index}",
        "name": {"givenName": "Bench", "familyName": f"User{index}"},
        "emails": [{"value": f"{name}@example.test", "type": "work", "primary": True}],
    }


def create_user(client: ScimClient, index_and_name: tuple[int, str]) -> tuple[str, str, float]:
    """Create one user; return its userName, its id and the request time."""
    index, name = index_and_name
    reply = client.create("Users", user_body(name, index))
    user_id = get_str(reply.json(), "id", reply)
    return name, user_id, reply.seconds


def build_stage(
    pool: UserPool,
    target: int,
    current: int,
    make_client: ClientFactory,
    concurrency: int,
    sequential_samples: int,
) -> CreateResult:
    """Create users until the tenant holds ``target``; ``current`` is its count now.

    Most users are created concurrently (throughput); the last
    ``sequential_samples`` one at a time on a single connection (latency).
    """
    missing = max(0, target - current)
    sequential = min(sequential_samples, missing)
    concurrent = missing - sequential
    start = len(pool.names)
    tasks = [(index, pool.name(index)) for index in range(start, start + missing)]
    throughput: float | None = None
    concurrent_seconds = 0.0
    concurrent_latency: Latency | None = None
    if concurrent:
        log(f"creating {concurrent:,} users with {concurrency} connections (to {target:,})")
        burst = run_concurrently(tasks[:concurrent], create_user, make_client, concurrency)
        for name, user_id, _ in burst.results:
            pool.add(name, user_id)
        concurrent_seconds = burst.seconds
        throughput = rate(concurrent, burst.seconds)
        concurrent_latency = Latency.of([seconds for _, _, seconds in burst.results])
    timings: list[float] = []
    if sequential:
        log(f"creating {sequential:,} users one at a time")
        with make_client() as client:
            for task in tasks[concurrent:]:
                name, user_id, seconds = create_user(client, task)
                pool.add(name, user_id)
                timings.append(seconds)
    return CreateResult(
        users=current + missing,
        created=missing,
        concurrent_created=concurrent,
        concurrent_seconds=round(concurrent_seconds, 3),
        throughput_rps=throughput,
        concurrent_latency=concurrent_latency,
        sequential_latency=maybe_latency(timings),
    )


def find_user(client: ScimClient, name: str) -> float:
    """Look one user up by userName, check the single match, return the request time."""
    reply = client.find_user(name)
    data = reply.json()
    found = get_int(data, "totalResults", reply)
    resources = get_resources(data, reply)
    if found != 1 or len(resources) != 1:
        raise ScimError(f"{reply.describe()}: expected exactly one {name!r}: {reply.snippet()}")
    if get_str(resources[0], "userName", reply).casefold() != name.casefold():
        raise ScimError(f"{reply.describe()}: the filter returned another user: {reply.snippet()}")
    return reply.seconds


def measure_lookups(
    pool: UserPool,
    users: int,
    rng: random.Random,
    make_client: ClientFactory,
    concurrency: int,
    samples: int,
    burst_size: int,
) -> LookupResult:
    """Random lookups of users this run created: sequential, then concurrent."""
    if not pool.names:
        raise ScimError("no user of this run to look up")
    log(f"{samples} sequential and {burst_size:,} concurrent lookups at {users:,} users")
    warmup = [rng.choice(pool.names) for _ in range(WARMUP_REQUESTS)]
    sample = [rng.choice(pool.names) for _ in range(samples)]
    with make_client() as client:
        for name in warmup:
            find_user(client, name)
        timings = [find_user(client, name) for name in sample]
    burst_names = [rng.choice(pool.names) for _ in range(burst_size)]
    burst = run_concurrently(burst_names, find_user, make_client, concurrency)
    return LookupResult(
        users=users,
        sequential_latency=Latency.of(timings),
        burst_requests=burst_size,
        throughput_rps=rate(burst_size, burst.seconds),
        concurrent_latency=Latency.of(burst.results),
    )


def _patch_note(reply: Reply, display_name: str) -> str | None:
    """What, if anything, breaks the contract "PATCH answers 200 with the resource"."""
    if reply.status != 200:
        return (
            f"{reply.describe()} answered {reply.status}, the contract says 200 with the resource"
        )
    if reply.json().get("displayName") != display_name:
        return f"{reply.describe()} answered without the new displayName: {reply.snippet()}"
    return None


def measure_patches(
    pool: UserPool,
    users: int,
    rng: random.Random,
    make_client: ClientFactory,
    samples: int,
) -> PatchResult:
    """Sequential PATCH requests replacing two attributes of random users of this run."""
    log(f"{samples} sequential user PATCH requests at {users:,} users")
    timings: list[float] = []
    notes: list[str] = []
    with make_client() as client:
        for number in range(samples):
            position = rng.randrange(len(pool.ids))
            display_name = f"Patched User {number}"
            operations: list[JsonObject] = [
                {"op": "replace", "path": "displayName", "value": display_name},
                {"op": "replace", "path": "name.givenName", "value": f"Patched{number}"},
            ]
            reply = client.patch(f"Users/{pool.ids[position]}", operations)
            note = _patch_note(reply, display_name)
            if note and not notes:
                notes.append(note)
            timings.append(reply.seconds)
    return PatchResult(users=users, latency=Latency.of(timings), contract_notes=notes)
