"""The user stages, shared by the Roster run and the scim2-server comparison."""

import random
from dataclasses import dataclass, field

from bench.config import Scale
from bench.users import CreateResult, LookupResult, UserPool, build_stage, measure_lookups
from bench.workers import ClientFactory


@dataclass(slots=True)
class StageResults:
    """Creates and lookups of every stage run so far."""

    creates: list[CreateResult] = field(default_factory=list)
    lookups: list[LookupResult] = field(default_factory=list)


def run_stages(
    scale: Scale,
    stages: tuple[int, ...],
    pool: UserPool,
    existing: int,
    make_client: ClientFactory,
    concurrency: int,
    rng: random.Random,
) -> StageResults:
    """Bring the tenant to each stage in turn and measure lookups there."""
    results = StageResults()
    current = existing
    for target in stages:
        created = build_stage(pool, target, current, make_client, concurrency, scale.create_samples)
        current = created.users
        results.creates.append(created)
        lookups = measure_lookups(
            pool,
            current,
            rng,
            make_client,
            concurrency,
            scale.lookup_samples,
            scale.lookup_burst,
        )
        results.lookups.append(lookups)
    return results
