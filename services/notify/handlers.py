"""Turns each consumed event into deliveries for the subscriptions that want it.

The deliveries are written in the consumer's transaction, with the inbox row; rendering
and sending them is the dispatcher's job, so nothing here waits on a receiver.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.domain import (
    CONSUMED_EVENTS,
    REMINDER_CANCELLED_BY,
    DeliveryStatus,
    Facts,
    Filters,
    NotificationType,
    matches,
    reminder_due_at,
)
from services.notify.messages import ChangeView
from services.notify.models import ChangeSummary, Delivery, Subscription, tables
from services.notify.repository import (
    ChangeSummaryRepository,
    DeliveryRepository,
    SubscriptionRepository,
)
from services.notify.schemas import ChangeUpcoming
from shared.contracts import (
    EVENT_PAYLOADS,
    STATUS_AFTER,
    ChangeApproved,
    ChangeAssessed,
    ChangeSnapshot,
    EventType,
    ExecutionStarted,
    ImpactLevel,
    Window,
)
from shared.events import TYPE_PREFIX, CloudEvent, source_of
from shared.inbox import EventHandler

log = structlog.get_logger(__name__)

UPCOMING = NotificationType.CHANGE_UPCOMING
# Reminder event ids derive from the approval they remind of, so a redelivered approval
# (or a replayed delivery) carries the same `Changeward-Event-Id`.
_REMINDER_NAMESPACE = uuid.UUID("8a3f6d1e-4c0b-4d55-9a57-2f1f0d6e7c21")


async def on_event(session: AsyncSession, event: CloudEvent) -> None:
    event_type = EventType(event.event_type)
    # Checked against the contract first: a malformed event fails here, visibly, in the inbox.
    EVENT_PAYLOADS[event_type].model_validate(event.data)
    change = await _learn(session, event_type, event) if _about_a_change(event_type) else None
    deliveries = DeliveryRepository.from_session(session)
    if change is not None and event_type in REMINDER_CANCELLED_BY:
        await deliveries.cancel_pending(
            subject=event.subject, event_type=UPCOMING.value, reason=f"{event_type.value} first"
        )
    facts = _facts(event_type, event.data, change)
    wanted = await _wanting(session, event_type.value, facts)
    now = datetime.now(UTC)
    await deliveries.add([_delivery(s, event, change, due_at=now) for s in wanted])
    if event_type is EventType.CHANGE_APPROVED and change is not None:
        await _schedule_reminders(session, event, change, facts, now)


async def _wanting(session: AsyncSession, event_type: str, facts: Facts) -> list[Subscription]:
    subscriptions = await SubscriptionRepository.from_session(session).wanting(event_type)
    return [
        s
        for s in subscriptions
        if matches(Filters.of(s.services, s.environments, s.impact_levels), facts)
    ]


async def _learn(session: AsyncSession, event_type: EventType, event: CloudEvent) -> ChangeView:
    """Fold what the event tells about its change into notify's summary of it."""
    summary = await ChangeSummaryRepository.from_session(session).get_or_create(UUID(event.subject))
    if event_type in (EventType.CHANGE_REQUESTED, EventType.CHANGE_UPDATED):
        snapshot = ChangeSnapshot.model_validate(event.data)
        summary.title = snapshot.title
        summary.category = snapshot.category.value
        summary.services = list(snapshot.services)
        summary.environment = snapshot.environment
        summary.window_start_at = snapshot.window.start
        summary.window_end_at = snapshot.window.end
        summary.requester = snapshot.requester
        summary.emergency = snapshot.emergency
        summary.contacts = [c.model_dump(mode="json", exclude_none=True) for c in snapshot.contacts]
        if event_type is EventType.CHANGE_UPDATED:
            summary.impact_level = None  # back in review: the last assessment is stale
    elif event_type is EventType.CHANGE_ASSESSED:
        summary.impact_level = ChangeAssessed.model_validate(event.data).impact_level.value
    elif event_type is EventType.CHANGE_APPROVED:
        approved = ChangeApproved.model_validate(event.data)
        summary.impact_level = approved.impact_level.value
        summary.services = list(approved.services)
        summary.environment = approved.environment
        summary.window_start_at = approved.window.start
        summary.window_end_at = approved.window.end
    elif event_type is EventType.CHANGE_EXECUTION_STARTED:
        started = ExecutionStarted.model_validate(event.data)
        summary.services = list(started.services)
        summary.environment = started.environment
    if event_type in STATUS_AFTER:
        summary.status = STATUS_AFTER[event_type].value
    await session.flush()
    return _view(summary)


def _view(summary: ChangeSummary) -> ChangeView:
    return ChangeView(
        change_id=summary.change_id,
        title=summary.title,
        services=tuple(summary.services),
        environment=summary.environment,
        window_start=summary.window_start_at,
        window_end=summary.window_end_at,
        impact_level=summary.impact_level,
        requester=summary.requester,
        emergency=summary.emergency,
        contacts=tuple(summary.contacts),
        status=summary.status,
    )


def _about_a_change(event_type: EventType) -> bool:
    return event_type.value.startswith("change.")


def _facts(event_type: EventType, data: dict[str, Any], change: ChangeView | None) -> Facts:
    if change is not None:
        return Facts(
            services=frozenset(change.services),
            environment=change.environment,
            impact_level=change.impact_level,
        )
    if event_type is EventType.DEPLOYMENT_REPORTED:
        return Facts(
            services=frozenset({str(data["service"])}),
            environment=str(data["environment"]),
            about_a_change=False,
        )
    if event_type is EventType.FREEZE_WINDOW_DECLARED:
        services = frozenset(str(s) for s in data.get("services") or [])
        environment = data.get("environment")
        return Facts(
            services=services,
            environment=environment,
            every_service=not services,
            every_environment=environment is None,
            about_a_change=False,
        )
    # A lifted freeze names no services: whoever heard of the freeze hears it is lifted.
    return Facts(every_service=True, every_environment=True, about_a_change=False)


def _delivery(
    subscription: Subscription, event: CloudEvent, change: ChangeView | None, *, due_at: datetime
) -> Delivery:
    return Delivery(
        id=uuid.uuid4(),
        subscription_id=subscription.id,
        event_id=event.id,
        event_type=event.event_type,
        subject=event.subject,
        event=event.model_dump_json(),
        change=change.model_dump(mode="json") if change is not None else None,
        status=DeliveryStatus.PENDING.value,
        attempts=0,
        next_attempt_at=due_at,
    )


async def _schedule_reminders(
    session: AsyncSession, approved: CloudEvent, change: ChangeView, facts: Facts, now: datetime
) -> None:
    """A `change.upcoming` delivery per wanting subscription, its lead time before the window."""
    deliveries = DeliveryRepository.from_session(session)
    # A re-approval (e.g. after a reschedule) replaces the reminders of the last one.
    await deliveries.cancel_pending(
        subject=approved.subject, event_type=UPCOMING.value, reason="replaced by a re-approval"
    )
    if change.window_start is None:
        return
    reminders: dict[int, CloudEvent] = {}
    scheduled: list[Delivery] = []
    for subscription in await _wanting(session, UPCOMING.value, facts):
        lead = subscription.reminder_lead_seconds
        due_at = reminder_due_at(change.window_start, timedelta(seconds=lead), now)
        if due_at is None:
            continue
        if lead not in reminders:
            reminders[lead] = await _reminder_event(
                session, approved, change, change.window_start, lead
            )
        scheduled.append(_delivery(subscription, reminders[lead], change, due_at=due_at))
    await deliveries.add(scheduled)
    if scheduled:
        log.info("reminders scheduled", change_id=approved.subject, count=len(scheduled))


async def _reminder_event(
    session: AsyncSession,
    approved: CloudEvent,
    change: ChangeView,
    window_start: datetime,
    lead: int,
) -> CloudEvent:
    """The `change.upcoming` CloudEvent, numbered in notify's own per-change sequence."""
    return CloudEvent(
        id=uuid.uuid5(_REMINDER_NAMESPACE, f"{approved.id}:{lead}"),
        source=source_of(tables.schema),
        type=TYPE_PREFIX + UPCOMING.value,
        subject=approved.subject,
        sequence=await _next_sequence(session, approved.subject),
        actor=approved.actor,
        data=ChangeUpcoming(
            change_id=change.change_id,
            title=change.title,
            services=list(change.services),
            environment=change.environment,
            window=Window(start=window_start, end=change.window_end or window_start),
            impact_level=ImpactLevel(change.impact_level) if change.impact_level else None,
            emergency=change.emergency,
            requester=change.requester,
            contacts=list(change.contacts),
            lead_seconds=lead,
        ).model_dump(mode="json"),
    )


async def _next_sequence(session: AsyncSession, subject: str) -> int:
    counter = tables.event_sequence
    value = await session.scalar(
        insert(counter)
        .values(subject=subject, last_sequence=1)
        .on_conflict_do_update(
            index_elements=[counter.c.subject], set_={"last_sequence": counter.c.last_sequence + 1}
        )
        .returning(counter.c.last_sequence)
    )
    assert value is not None
    return int(value)


HANDLERS: dict[EventType, EventHandler] = {event_type: on_event for event_type in CONSUMED_EVENTS}
