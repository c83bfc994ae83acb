"""The performance goals of Roster, judged from the measured figures."""

from dataclasses import dataclass

from bench.compare import Comparison
from bench.groups import GroupResult
from bench.paging import PagingResult
from bench.stats import ratio
from bench.users import LookupResult

LOOKUP_GROWTH_MAX = 1.5
MEMBER_ADD_GROWTH_MAX = 1.5
LAST_PAGE_MAX = 1.25
CREATE_VS_SCIM2_MIN = 5.0
LOOKUP_VS_SCIM2_MIN = 10.0


@dataclass(frozen=True, slots=True)
class Goal:
    """One goal: the measured ratio, the bound, and whether it was met (None: not measured)."""

    name: str
    description: str
    measured: float | None
    bound: str
    passed: bool | None


def _at_most(name: str, description: str, measured: float | None, bound: float) -> Goal:
    passed = None if measured is None else measured <= bound
    return Goal(name, description, measured, f"<= {bound}", passed)


def _at_least(name: str, description: str, measured: float | None, bound: float) -> Goal:
    passed = None if measured is None else measured >= bound
    return Goal(name, description, measured, f">= {bound}", passed)


def judge(
    lookups: list[LookupResult],
    groups: GroupResult | None,
    paging: PagingResult | None,
    comparison: Comparison | None,
) -> list[Goal]:
    """Every goal, measured or not."""
    lookup_growth = None
    lookup_text = "lookup median at the largest stage / at the smallest"
    if len(lookups) >= 2:
        first, last = lookups[0], lookups[-1]
        lookup_growth = ratio(last.sequential_latency.median_ms, first.sequential_latency.median_ms)
        lookup_text = f"lookup median at {last.users:,} users / at {first.users:,}"
    member_text = "single member-add median at the largest group / at the smallest"
    if groups is not None:
        member_text = (
            f"single member-add median at {groups.single[-1].level:,} members"
            f" / at {groups.single[0].level:,}"
        )
    page_text = "page median at the last startIndex / at startIndex 1"
    if paging is not None:
        page_text = f"page median at startIndex {paging.last_start_index:,} / at startIndex 1"
    users = f" at {comparison.users:,} users" if comparison else ""
    return [
        _at_most("lookup_scaling", lookup_text, lookup_growth, LOOKUP_GROWTH_MAX),
        _at_most(
            "member_add_scaling",
            member_text,
            groups.growth_ratio if groups else None,
            MEMBER_ADD_GROWTH_MAX,
        ),
        _at_most("last_page", page_text, paging.last_vs_first if paging else None, LAST_PAGE_MAX),
        _at_least(
            "create_vs_scim2_server",
            f"create throughput, Roster / scim2-server{users}",
            comparison.create_ratio if comparison else None,
            CREATE_VS_SCIM2_MIN,
        ),
        _at_least(
            "lookup_vs_scim2_server",
            f"lookup throughput, Roster / scim2-server{users}",
            comparison.lookup_ratio if comparison else None,
            LOOKUP_VS_SCIM2_MIN,
        ),
    ]
