"""Scales of the benchmark: how many users, samples and members each phase uses."""

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Scale:
    """Sizes of one benchmark run.

    User stages are total user counts of the tenant: the run creates users until
    the tenant holds each count in turn, and measures lookups at each of them.
    """

    name: str
    user_stages: tuple[int, ...]
    create_samples: int
    lookup_samples: int
    lookup_burst: int
    patch_samples: int
    group_levels: tuple[int, ...]
    group_samples: int
    group_batch_size: int
    page_size: int
    page_samples: int
    compare_users: int

    @property
    def max_users(self) -> int:
        """The largest user stage."""
        return max(self.user_stages)

    def members_needed(self) -> int:
        """Distinct users the group phase adds: every level plus the single-add samples."""
        return max(self.group_levels) + self.group_samples * len(self.group_levels)


FULL = Scale(
    name="full",
    user_stages=(1_000, 10_000, 100_000),
    create_samples=300,
    lookup_samples=300,
    lookup_burst=3_000,
    patch_samples=300,
    group_levels=(100, 1_000, 10_000, 50_000),
    group_samples=300,
    group_batch_size=100,
    page_size=100,
    page_samples=50,
    compare_users=10_000,
)

SMALL = Scale(
    name="small",
    user_stages=(1_000, 2_000),
    create_samples=100,
    lookup_samples=100,
    lookup_burst=1_000,
    patch_samples=100,
    group_levels=(100, 1_000),
    group_samples=100,
    group_batch_size=100,
    page_size=100,
    page_samples=30,
    compare_users=2_000,
)

SCALES: dict[str, Scale] = {FULL.name: FULL, SMALL.name: SMALL}


class ConfigError(ValueError):
    """A scale that cannot run as asked."""


def with_users(scale: Scale, stages: tuple[int, ...]) -> Scale:
    """Return ``scale`` with other user stages; the comparison uses the largest stage it can."""
    fitting = [stage for stage in stages if stage <= scale.compare_users]
    compare = max(fitting) if fitting else min(stages)
    return replace(scale, user_stages=tuple(sorted(stages)), compare_users=compare)


def validate(scale: Scale, *, groups: bool = True) -> None:
    """Raise ConfigError when the sizes of ``scale`` contradict one another."""
    if not scale.user_stages or min(scale.user_stages) <= 0:
        raise ConfigError("user stages must be positive counts")
    if list(scale.user_stages) != sorted(set(scale.user_stages)):
        raise ConfigError("user stages must be increasing")
    if scale.compare_users not in scale.user_stages:
        raise ConfigError("the comparison user count must be one of the user stages")
    if groups and scale.members_needed() > scale.max_users:
        raise ConfigError(
            f"the group phase needs {scale.members_needed():,} users "
            f"but the largest stage is {scale.max_users:,} (or --skip groups)"
        )
    positive = (
        scale.create_samples,
        scale.lookup_samples,
        scale.lookup_burst,
        scale.patch_samples,
        scale.group_samples,
        scale.group_batch_size,
        scale.page_size,
        scale.page_samples,
    )
    if min(positive) <= 0:
        raise ConfigError("sample counts and sizes must be positive")
    if scale.page_size > 1_000:
        raise ConfigError("the page size cannot exceed the server's maximum count of 1000")
