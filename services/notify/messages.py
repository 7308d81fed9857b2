"""What a notification says, whatever its format: a headline, the change's facts, a link."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from services.notify.domain import NotificationType

HEADLINES: dict[str, str] = {
    NotificationType.CHANGE_REQUESTED: "Change requested",
    NotificationType.CHANGE_UPDATED: "Change updated, back in review",
    NotificationType.CHANGE_CANCELLED: "Change cancelled",
    NotificationType.CHANGE_ASSESSED: "Change assessed",
    NotificationType.CHANGE_APPROVAL_RECORDED: "Approval decision recorded",
    NotificationType.CHANGE_APPROVED: "Change approved",
    NotificationType.CHANGE_REJECTED: "Change rejected",
    NotificationType.CHANGE_EXECUTION_STARTED: "Change started",
    NotificationType.CHANGE_STAGE_STARTED: "Rollout stage started",
    NotificationType.CHANGE_STAGE_COMPLETED: "Rollout stage completed",
    NotificationType.CHANGE_STAGE_FAILED: "Rollout stage failed",
    NotificationType.CHANGE_COMPLETED: "Change completed",
    NotificationType.CHANGE_FAILED: "Change failed",
    NotificationType.CHANGE_ROLLED_BACK: "Change rolled back",
    NotificationType.CHANGE_ACCEPTED: "Change accepted",
    NotificationType.CHANGE_UPCOMING: "Upcoming change",
    NotificationType.DEPLOYMENT_REPORTED: "Deployment reported",
    NotificationType.FREEZE_WINDOW_DECLARED: "Freeze window declared",
    NotificationType.FREEZE_WINDOW_LIFTED: "Freeze window lifted",
}

# Accent colours: red for what went wrong, amber for what needs attention, green for done.
_ALARMING = {
    NotificationType.CHANGE_FAILED,
    NotificationType.CHANGE_STAGE_FAILED,
    NotificationType.CHANGE_ROLLED_BACK,
    NotificationType.CHANGE_REJECTED,
}
_NOTABLE = {
    NotificationType.CHANGE_UPCOMING,
    NotificationType.CHANGE_EXECUTION_STARTED,
    NotificationType.FREEZE_WINDOW_DECLARED,
}
_GOOD = {
    NotificationType.CHANGE_APPROVED,
    NotificationType.CHANGE_COMPLETED,
    NotificationType.CHANGE_ACCEPTED,
}


class ChangeView(BaseModel):
    """A change as notify knew it (from its events so far) when an event arrived."""

    model_config = ConfigDict(frozen=True)

    change_id: UUID
    title: str | None = None
    services: tuple[str, ...] = ()
    environment: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    impact_level: str | None = None
    requester: str | None = None
    emergency: bool = False
    contacts: tuple[dict[str, Any], ...] = ()
    status: str | None = None


@dataclass(frozen=True)
class Notification:
    headline: str
    subject_title: str | None
    facts: list[tuple[str, str]] = field(default_factory=list)
    link: str | None = None
    severity: str = "info"  # info | good | warning | alarm


def notification_for(
    kind: NotificationType,
    data: Mapping[str, Any],
    change: ChangeView | None,
    *,
    link_template: str,
) -> Notification:
    """What to say about an event of `kind` with payload `data`."""

    def link(change_id: object) -> str:
        return link_template.format(change_id=change_id)

    if change is not None:
        return change_notification(kind, change, data, link(change.change_id))
    if kind is NotificationType.DEPLOYMENT_REPORTED:
        pipeline = data.get("pipeline_url")
        change_id = data.get("change_id")
        return deployment_notification(
            data, str(pipeline) if pipeline else link(change_id) if change_id else None
        )
    return freeze_notification(kind, data)


def change_notification(
    kind: NotificationType, change: ChangeView, data: Mapping[str, Any], link: str
) -> Notification:
    facts = [
        ("Services", ", ".join(change.services) or "unknown"),
        ("Environment", change.environment or "unknown"),
        ("Window", window_text(change.window_start, change.window_end)),
        ("Impact", change.impact_level or "not assessed yet"),
    ]
    if change.emergency:
        facts.append(("Emergency", "yes: may start before its review completes"))
    if change.requester:
        facts.append(("Requested by", change.requester))
    facts.extend(_event_facts(kind, data))
    facts.append(("Contacts", contacts_text(change.contacts)))
    headline = HEADLINES[kind]
    if kind is NotificationType.CHANGE_UPCOMING and "lead_seconds" in data:
        headline = f"Change starts in {duration_text(int(data['lead_seconds']))}"
    return Notification(
        headline=headline,
        subject_title=change.title or f"Change {change.change_id}",
        facts=facts,
        link=link,
        severity=_severity(kind),
    )


def deployment_notification(data: Mapping[str, Any], link: str | None) -> Notification:
    facts = [
        ("Service", str(data.get("service"))),
        ("Environment", str(data.get("environment"))),
        ("Version", str(data.get("version") or "unknown")),
        ("Status", str(data.get("status"))),
        ("Reported by", f"{data.get('reported_by')} ({data.get('provider')})"),
    ]
    if data.get("unauthorized"):
        facts.append(("Unauthorized", "yes: no approved change covers this production deploy"))
    if data.get("change_id"):
        facts.append(("Change", str(data["change_id"])))
    status = str(data.get("status"))
    return Notification(
        headline=f"Deployment {status}: {data.get('service')} to {data.get('environment')}",
        subject_title=data.get("pipeline_url") and f"Pipeline: {data['pipeline_url']}",
        facts=facts,
        link=link,
        severity="alarm" if data.get("unauthorized") or status == "failed" else "info",
    )


def freeze_notification(kind: NotificationType, data: Mapping[str, Any]) -> Notification:
    if kind is NotificationType.FREEZE_WINDOW_LIFTED:
        return Notification(
            headline=HEADLINES[kind],
            subject_title=f"Freeze window {data.get('freeze_window_id')}",
            facts=[("Lifted by", str(data.get("lifted_by")))],
        )
    start, end = _parse_time(data.get("start")), _parse_time(data.get("end"))
    return Notification(
        headline=HEADLINES[kind],
        subject_title=str(data.get("reason")),
        facts=[
            ("Services", ", ".join(data.get("services") or []) or "all services"),
            ("Environment", str(data.get("environment") or "all environments")),
            ("Window", window_text(start, end)),
            ("Declared by", str(data.get("declared_by"))),
        ],
        severity="warning",
    )


def _event_facts(kind: NotificationType, data: Mapping[str, Any]) -> list[tuple[str, str]]:
    def given(*pairs: tuple[str, Any]) -> list[tuple[str, str]]:
        return [(label, str(value)) for label, value in pairs if value not in (None, "")]

    if kind is NotificationType.CHANGE_APPROVAL_RECORDED:
        decision = f"{data.get('approver')} ({data.get('role')}): {data.get('decision')}"
        return given(("Decision", decision), ("Comment", data.get("comment")))
    if kind is NotificationType.CHANGE_REJECTED:
        return given(("Rejected by", data.get("rejected_by")), ("Comment", data.get("comment")))
    if kind is NotificationType.CHANGE_CANCELLED:
        return given(("Reason", data.get("reason")))
    if kind is NotificationType.CHANGE_APPROVED:
        return given(("Approved by", ", ".join(data.get("approvers") or [])))
    if kind in (
        NotificationType.CHANGE_EXECUTION_STARTED,
        NotificationType.CHANGE_COMPLETED,
        NotificationType.CHANGE_FAILED,
        NotificationType.CHANGE_ROLLED_BACK,
    ):
        return given(("Executor", data.get("executor")), ("Notes", data.get("notes")))
    if kind in (
        NotificationType.CHANGE_STAGE_STARTED,
        NotificationType.CHANGE_STAGE_COMPLETED,
        NotificationType.CHANGE_STAGE_FAILED,
    ):
        target = data.get("target_percent")
        stage = (
            f"{data.get('stage')} of {data.get('stages')} ({data.get('phase')}): {data.get('name')}"
        )
        return given(
            ("Stage", stage),
            ("Target", f"{target:g}%" if isinstance(target, int | float) else None),
            ("Reason", data.get("reason")),
        )
    if kind is NotificationType.CHANGE_ACCEPTED:
        return given(
            ("Outcome", data.get("outcome")),
            ("Accepted by", data.get("accepted_by")),
            ("Notes", data.get("notes")),
        )
    return []


def _severity(kind: NotificationType) -> str:
    if kind in _ALARMING:
        return "alarm"
    if kind in _NOTABLE:
        return "warning"
    return "good" if kind in _GOOD else "info"


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return None


def window_text(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "unknown"
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if start.date() == end.date():
        return f"{start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC"
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"


def duration_text(seconds: int) -> str:
    left = timedelta(seconds=max(seconds, 0))
    days, rest = left.days, left.seconds
    hours, minutes = rest // 3600, rest % 3600 // 60
    parts = [
        f"{days} d" if days else "",
        f"{hours} h" if hours else "",
        f"{minutes} min" if minutes else "",
    ]
    return " ".join(part for part in parts if part) or "less than a minute"


def contacts_text(contacts: Sequence[Mapping[str, Any]]) -> str:
    if not contacts:
        return "none given"
    described = []
    for contact in contacts:
        reach = ", ".join(str(contact[key]) for key in ("email", "chat") if contact.get(key))
        role = f" ({contact['role']})" if contact.get("role") else ""
        described.append(f"{contact.get('name')}{role}" + (f": {reach}" if reach else ""))
    return "; ".join(described)
