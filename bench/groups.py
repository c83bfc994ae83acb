"""Group phase: one group grows member by member and a hundred at a time."""

from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.progress import log
from bench.scim import GROUP_SCHEMA, JsonObject, Reply, ScimClient, get_str
from bench.stats import Latency, maybe_latency, ratio

EXCLUDE_MEMBERS = {"excludedAttributes": "members"}


@dataclass(frozen=True, slots=True)
class SingleAdds:
    """One-member PATCH adds made while the group grew from ``size_from`` to ``size_to``."""

    level: int
    size_from: int
    size_to: int
    latency: Latency


@dataclass(frozen=True, slots=True)
class BatchAdds:
    """Full ``batch_size``-member PATCH adds made while the group grew to ``size_to``."""

    size_from: int
    size_to: int
    latency: Latency | None


@dataclass(frozen=True, slots=True)
class GroupResult:
    """Member-add latencies as one group grows, and the growth ratio of single adds."""

    batch_size: int
    single: list[SingleAdds]
    batches: list[BatchAdds]
    batch_latency: Latency | None
    growth_ratio: float | None
    final_size: int
    contract_notes: list[str] = field(default_factory=list)


class _Group:
    """The group under test and the notes about how the server answered."""

    def __init__(self, client: ScimClient, group_id: str) -> None:
        self.client = client
        self.path = f"Groups/{group_id}"
        self.size = 0
        self.notes: list[str] = []

    def add(self, member_ids: Sequence[str]) -> Reply:
        operation: JsonObject = {
            "op": "add",
            "path": "members",
            "value": [{"value": member_id} for member_id in member_ids],
        }
        reply = self.client.patch(self.path, [operation], EXCLUDE_MEMBERS)
        if not self.notes:
            self._check(reply)
        self.size += len(member_ids)
        return reply

    def _check(self, reply: Reply) -> None:
        """Note the first answer that breaks the contract of PATCH on groups."""
        where = f"{reply.describe()}?excludedAttributes=members at group size {self.size:,}"
        if reply.status != 200:
            self.notes.append(f"{where} answered {reply.status}; the contract says 200")
        elif "members" in reply.json():
            self.notes.append(f"{where} answered with a 'members' attribute")


def grow_group(
    client: ScimClient,
    member_ids: Sequence[str],
    levels: Sequence[int],
    samples: int,
    batch_size: int,
    name: str,
) -> GroupResult:
    """Create a group, grow it to each level with batch adds, then time single adds there."""
    needed = max(levels) + samples * len(levels)
    if len(member_ids) < needed:
        raise ValueError(f"the group phase needs {needed:,} users, got {len(member_ids):,}")
    reply = client.create("Groups", {"schemas": [GROUP_SCHEMA], "displayName": name})
    group = _Group(client, get_str(reply.json(), "id", reply))
    used = 0
    singles: list[SingleAdds] = []
    batches: list[BatchAdds] = []
    all_batches: list[float] = []
    for level in levels:
        log(f"growing group to {level:,} members by {batch_size}, then {samples} single adds")
        size_from = group.size
        timings: list[float] = []
        while group.size < level:
            count = min(batch_size, level - group.size)
            seconds = group.add(member_ids[used : used + count]).seconds
            used += count
            if count == batch_size:
                timings.append(seconds)
        batches.append(BatchAdds(size_from, group.size, maybe_latency(timings)))
        all_batches.extend(timings)
        size_from = group.size
        single_timings: list[float] = []
        for _ in range(samples):
            single_timings.append(group.add(member_ids[used : used + 1]).seconds)
            used += 1
        singles.append(SingleAdds(level, size_from, group.size, Latency.of(single_timings)))
    return GroupResult(
        batch_size=batch_size,
        single=singles,
        batches=batches,
        batch_latency=maybe_latency(all_batches),
        growth_ratio=ratio(singles[-1].latency.median_ms, singles[0].latency.median_ms),
        final_size=group.size,
        contract_notes=group.notes + _check_size(client, group),
    )


def _check_size(client: ScimClient, group: _Group) -> list[str]:
    """Read the whole group once and compare its member count with the adds made."""
    reply = client.request("GET", group.path).expect(200)
    members = reply.json().get("members", [])
    count = len(members) if isinstance(members, list) else -1
    if count == group.size:
        return []
    return [f"GET {group.path} lists {count:,} members after {group.size:,} were added"]
