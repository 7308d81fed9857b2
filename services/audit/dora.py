"""The four DORA keys and their trend, from plain records of changes, deployments and incidents.

No I/O: the report service reads the records from the ledger and the incident tables.

Definitions (for one scope, a set of services, over a half-open window [start, end)):

- A change *reaches production* at the earliest of its execution start and the successful
  deployment reports naming it. Each change that reached production in the window is one
  deployment; so is each successful deployment report that names no known change.
- Deployment frequency: those deployments per day of the window.
- Lead time for changes: from a change's request to its reaching production, for the
  changes that reached production in the window; median and 90th percentile (nearest rank).
- Change failure rate: of the changes that reached production in the window, the share
  that failed (outcome `failed` or `rolled_back`) or are linked to an incident.
- Unauthorized deployments: finished deployment reports flagged unauthorized.
- Time to restore: for each incident that started in the window, start to resolution;
  for each failed change of the window linked to no incident, its end to the end of the
  next successful change on each of its services. Not yet restored ones are counted apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

SECONDS_PER_DAY = 86_400.0
FAILED_OUTCOMES = frozenset({"failed", "rolled_back"})
SUCCESSFUL = "successful"

# Whether a record naming these services belongs to the scope being measured.
_ScopeTest = Callable[[Iterable[str]], bool]


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("a window ends after it starts")

    def __contains__(self, moment: object) -> bool:
        return isinstance(moment, datetime) and self.start <= moment < self.end

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / SECONDS_PER_DAY

    def previous(self) -> Window:
        """The window of the same length just before this one."""
        return Window(self.start - (self.end - self.start), self.start)


@dataclass(frozen=True)
class ChangeRecord:
    """One change as the ledger tells it; times are when the events happened."""

    change_id: str
    services: tuple[str, ...]
    requested_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # `successful`, `failed` or `rolled_back`; None while in flight.
    outcome: str | None = None

    @property
    def failed(self) -> bool:
        return self.outcome in FAILED_OUTCOMES


@dataclass(frozen=True)
class DeploymentRecord:
    """A deployment reported by a pipeline (`deployment.reported`)."""

    deployment_id: str
    service: str
    at: datetime
    succeeded: bool
    change_id: str | None = None
    unauthorized: bool = False


@dataclass(frozen=True)
class IncidentRecord:
    incident_id: str
    service: str
    started_at: datetime
    resolved_at: datetime | None = None
    change_ids: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class History:
    """Everything the figures are computed from, in any order."""

    changes: Sequence[ChangeRecord] = ()
    deployments: Sequence[DeploymentRecord] = ()
    incidents: Sequence[IncidentRecord] = ()


@dataclass(frozen=True)
class Durations:
    count: int
    median_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True)
class Figures:
    """The four keys of one scope over one window."""

    deployments: int
    deployment_frequency_per_day: float
    lead_time: Durations
    changes_deployed: int
    changes_failed: int
    change_failure_rate: float | None
    time_to_restore: Durations
    unrestored: int
    unauthorized_deployments: int


class Direction(StrEnum):
    BETTER = "better"
    WORSE = "worse"
    SAME = "same"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Trend:
    deployment_frequency: Direction
    lead_time: Direction
    change_failure_rate: Direction
    time_to_restore: Direction

    @property
    def instability_rising(self) -> bool:
        """More of the changes fail, or failures last longer, than in the window before."""
        return Direction.WORSE in (self.change_failure_rate, self.time_to_restore)


def median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def nearest_rank(values: Sequence[float], percentile: float) -> float | None:
    """The smallest value with at least `percentile`% of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(percentile / 100 * len(ordered)))
    return ordered[rank - 1]


def durations(seconds: Sequence[float]) -> Durations:
    return Durations(len(seconds), median(seconds), nearest_rank(seconds, 90))


def production_times(history: History) -> dict[str, datetime]:
    """When each change reached production, if it did."""
    reached: dict[str, datetime] = {}
    for change in history.changes:
        if change.started_at is not None:
            reached[change.change_id] = change.started_at
    known = {change.change_id for change in history.changes}
    for deployment in history.deployments:
        if deployment.succeeded and deployment.change_id in known:
            assert deployment.change_id is not None
            earlier = reached.get(deployment.change_id)
            if earlier is None or deployment.at < earlier:
                reached[deployment.change_id] = deployment.at
    return reached


def figures(history: History, window: Window, services: frozenset[str] | None = None) -> Figures:
    """The four keys for the changes touching `services` (every service if None) in `window`."""

    def in_scope(names: Iterable[str]) -> bool:
        return services is None or not services.isdisjoint(names)

    reached = production_times(history)
    known = {change.change_id for change in history.changes}
    deployed = [
        change
        for change in history.changes
        if in_scope(change.services) and reached.get(change.change_id) in window
    ]
    unattributed = [
        d
        for d in history.deployments
        if d.succeeded and d.change_id not in known and in_scope([d.service]) and d.at in window
    ]
    deployments = len(deployed) + len(unattributed)
    incident_linked = {cid for incident in history.incidents for cid in incident.change_ids}
    failed = [c for c in deployed if c.failed or c.change_id in incident_linked]
    lead_times = [
        (reached[c.change_id] - c.requested_at).total_seconds()
        for c in deployed
        if c.requested_at is not None
    ]
    restored, unrestored = _restore_times(history, window, deployed, incident_linked, in_scope)
    return Figures(
        deployments=deployments,
        deployment_frequency_per_day=deployments / window.days,
        lead_time=durations(lead_times),
        changes_deployed=len(deployed),
        changes_failed=len(failed),
        change_failure_rate=len(failed) / len(deployed) if deployed else None,
        time_to_restore=durations(restored),
        unrestored=unrestored,
        unauthorized_deployments=sum(
            1
            for d in history.deployments
            if d.unauthorized and in_scope([d.service]) and d.at in window
        ),
    )


def _restore_times(
    history: History,
    window: Window,
    deployed: Sequence[ChangeRecord],
    incident_linked: set[str],
    in_scope: _ScopeTest,
) -> tuple[list[float], int]:
    restored: list[float] = []
    unrestored = 0
    for incident in history.incidents:
        if not in_scope([incident.service]) or incident.started_at not in window:
            continue
        if incident.resolved_at is None:
            unrestored += 1
        else:
            restored.append((incident.resolved_at - incident.started_at).total_seconds())
    for change in deployed:
        if not change.failed or change.change_id in incident_linked:
            continue
        restored_at = _restored_at(history.changes, change, in_scope)
        if restored_at is None:
            unrestored += 1
        else:
            restored.append((restored_at - _failed_at(change)).total_seconds())
    return restored, unrestored


def _failed_at(change: ChangeRecord) -> datetime:
    moment = change.finished_at or change.started_at
    assert moment is not None, "a deployed change has started"
    return moment


def _restored_at(
    changes: Sequence[ChangeRecord], failure: ChangeRecord, in_scope: _ScopeTest
) -> datetime | None:
    """When every in-scope service of `failure` next had a successful change end after it."""
    failed_at = _failed_at(failure)
    latest = failed_at
    for service in failure.services:
        if not in_scope([service]):
            continue
        fixes = [
            c.finished_at
            for c in changes
            if c.outcome == SUCCESSFUL
            and service in c.services
            and c.finished_at is not None
            and c.finished_at > failed_at
        ]
        if not fixes:
            return None
        latest = max(latest, min(fixes))
    return latest


def trend(current: Figures, previous: Figures) -> Trend:
    """Whether each key got better or worse than in the previous window."""
    return Trend(
        deployment_frequency=_direction(
            current.deployment_frequency_per_day,
            previous.deployment_frequency_per_day,
            higher_is_better=True,
        ),
        lead_time=_direction(current.lead_time.median_seconds, previous.lead_time.median_seconds),
        change_failure_rate=_direction(current.change_failure_rate, previous.change_failure_rate),
        time_to_restore=_direction(
            current.time_to_restore.median_seconds, previous.time_to_restore.median_seconds
        ),
    )


def _direction(
    current: float | None, previous: float | None, *, higher_is_better: bool = False
) -> Direction:
    if current is None or previous is None:
        return Direction.UNKNOWN
    if math.isclose(current, previous, rel_tol=1e-9, abs_tol=1e-9):
        return Direction.SAME
    return Direction.BETTER if (current > previous) == higher_is_better else Direction.WORSE
