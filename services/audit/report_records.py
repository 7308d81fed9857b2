"""Ledger events folded into the plain records the DORA arithmetic takes; no I/O."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.audit.dora import ChangeRecord, DeploymentRecord
from services.audit.report_repository import LedgerEvent

REQUESTED = "change.requested"
APPROVED = "change.approved"
STARTED = "change.execution_started"
COMPLETED = "change.completed"
FAILED = "change.failed"
ROLLED_BACK = "change.rolled_back"
ACCEPTED = "change.accepted"
DEPLOYED = "deployment.reported"

CHANGE_EVENTS = (REQUESTED, APPROVED, STARTED, COMPLETED, FAILED, ROLLED_BACK, ACCEPTED)
REPORT_EVENTS = (*CHANGE_EVENTS, DEPLOYED)
# Progress reports of a deployment that a later report finishes: not deployments themselves.
_UNFINISHED = frozenset({"queued", "in_progress"})
# The outcome each finishing event implies until acceptance names one.
_FINISHING = {COMPLETED: "successful", FAILED: "failed", ROLLED_BACK: "rolled_back"}


@dataclass(frozen=True)
class ReportedDeployment:
    """A finished `deployment.reported` event, kept whole for the unauthorized list."""

    record: DeploymentRecord
    environment: str
    status: str
    unauthorized: bool
    provider: str | None
    reported_by: str | None


def change_records(events: Iterable[LedgerEvent]) -> list[ChangeRecord]:
    """One record per change subject, from its events in ledger order."""
    by_change: dict[str, list[LedgerEvent]] = defaultdict(list)
    for event in events:
        if event.event_type in CHANGE_EVENTS:
            by_change[event.subject].append(event)
    return [_change(subject, found) for subject, found in by_change.items()]


def _change(subject: str, events: Sequence[LedgerEvent]) -> ChangeRecord:
    services: tuple[str, ...] = ()
    requested_at = started_at = finished_at = None
    implied: str | None = None
    accepted: str | None = None
    for event in events:
        named = _services(event.data)
        # Execution names what was actually touched; before it, the latest snapshot counts.
        if named and (event.event_type == STARTED or started_at is None):
            services = named
        if event.event_type == REQUESTED:
            requested_at = _earliest(requested_at, event.at)
        elif event.event_type == STARTED:
            started_at = _earliest(started_at, event.at)
        elif event.event_type in _FINISHING and finished_at is None:
            finished_at, implied = event.at, _FINISHING[event.event_type]
        elif event.event_type == ACCEPTED:
            outcome = event.data.get("outcome")
            accepted = outcome if isinstance(outcome, str) else accepted
            finished_at = finished_at or event.at
    return ChangeRecord(
        change_id=subject,
        services=services,
        requested_at=requested_at,
        started_at=started_at,
        finished_at=finished_at,
        outcome=accepted or implied,
    )


def reported_deployments(events: Iterable[LedgerEvent]) -> list[ReportedDeployment]:
    reported = []
    for event in events:
        if event.event_type != DEPLOYED:
            continue
        data = event.data
        service = data.get("service")
        if not isinstance(service, str):
            continue
        at = _moment(data.get("finished_at")) or _moment(data.get("started_at")) or event.at
        change_id = data.get("change_id")
        status = str(data.get("status"))
        if status in _UNFINISHED:
            continue
        reported.append(
            ReportedDeployment(
                record=DeploymentRecord(
                    deployment_id=event.subject,
                    service=service,
                    at=at,
                    succeeded=status == "succeeded",
                    change_id=change_id if isinstance(change_id, str) else None,
                    unauthorized=data.get("unauthorized") is True,
                ),
                environment=str(data.get("environment")),
                status=status,
                unauthorized=data.get("unauthorized") is True,
                provider=_text(data.get("provider")),
                reported_by=_text(data.get("reported_by")),
            )
        )
    return reported


def missing_requests(
    events: Iterable[LedgerEvent], deployments: Iterable[DeploymentRecord]
) -> set[str]:
    """Changes whose request is not among `events`: requested before the events read."""
    seen: set[str] = set()
    requested: set[str] = set()
    for event in events:
        if event.event_type in CHANGE_EVENTS:
            seen.add(event.subject)
        if event.event_type == REQUESTED:
            requested.add(event.subject)
    seen |= {d.change_id for d in deployments if d.change_id is not None}
    return seen - requested


def _services(data: dict[str, Any]) -> tuple[str, ...]:
    services = data.get("services")
    if not isinstance(services, list):
        return ()
    return tuple(sorted({s for s in services if isinstance(s, str) and s}))


def _earliest(current: datetime | None, moment: datetime) -> datetime:
    return moment if current is None or moment < current else current


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
