"""Everything one run measured, as written to the JSON file."""

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from bench.ceiling import Ceiling
from bench.compare import Comparison
from bench.goals import Goal
from bench.groups import GroupResult
from bench.paging import PagingResult
from bench.users import CreateResult, LookupResult, PatchResult


@dataclass(slots=True)
class RunMeta:
    """How the run was made."""

    target: str
    base_url: str
    scale: str
    concurrency: int
    client: str
    seed: int
    run_id: str
    started_at: str
    existing_users: int
    python: str
    httpx: str
    duration_s: float = 0.0


@dataclass(slots=True)
class RunResults:
    """Figures of every phase; a phase that did not run stays empty."""

    meta: RunMeta
    ceiling: Ceiling | None = None
    creates: list[CreateResult] = field(default_factory=list)
    lookups: list[LookupResult] = field(default_factory=list)
    patch: PatchResult | None = None
    paging: PagingResult | None = None
    groups: GroupResult | None = None
    comparison: Comparison | None = None
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None


def write_json(results: RunResults, path: Path) -> None:
    """Write the results to ``path``, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(dataclasses.asdict(results), indent=2)
    path.write_text(text + "\n", encoding="utf-8")
