"""Which changes may have caused an incident, and why; no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.audit.report_repository import LedgerEvent

STARTED = "change.execution_started"
DEPLOYED = "deployment.reported"


@dataclass(frozen=True)
class Suggestion:
    change_id: str
    reason: str
    at: datetime


def suggest_links(
    *,
    service: str,
    environment: str,
    started_at: datetime,
    rollouts: Iterable[LedgerEvent],
    lookback: timedelta,
    linked: frozenset[str] = frozenset(),
) -> list[Suggestion]:
    """Changes rolled out on the incident's service and environment within `lookback` before it.

    Nearest first, one per change (its latest rollout before the incident); changes already
    linked are left out. A deployment report that names no change suggests nothing: links
    are to changes.
    """
    latest: dict[str, tuple[datetime, str]] = {}
    for event in rollouts:
        if not started_at - lookback <= event.at <= started_at:
            continue
        change_id, verb = _rolled_out(event)
        if change_id is None or change_id in linked:
            continue
        if change_id not in latest or event.at > latest[change_id][0]:
            latest[change_id] = (event.at, verb)
    suggestions = [
        Suggestion(
            change_id=change_id,
            reason=f"{verb} {service} in {environment} {_ago(started_at - at)} before the incident",
            at=at,
        )
        for change_id, (at, verb) in latest.items()
    ]
    return sorted(suggestions, key=lambda s: (-s.at.timestamp(), s.change_id))


def _rolled_out(event: LedgerEvent) -> tuple[str | None, str]:
    if event.event_type == STARTED:
        return event.subject, "started executing on"
    change_id = event.data.get("change_id")
    return (change_id if isinstance(change_id, str) else None), "deployed to"


def _ago(delay: timedelta) -> str:
    minutes = round(delay.total_seconds() / 60)
    if minutes < 1:
        return "less than a minute"
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = round(minutes / 60)
    return f"{hours} hours"
