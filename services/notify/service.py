"""Subscription and delivery use cases: load, apply the rules, save; never commit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.notify import domain
from services.notify.domain import DeliveryStatus
from services.notify.encryption import cipher_for
from services.notify.models import Delivery, Subscription
from services.notify.receivers import ReceiverPolicy, ReceiverRefused
from services.notify.repository import DeliveryRepository, SubscriptionRepository
from services.notify.schemas import (
    DeliveryAttemptRead,
    DeliveryDetail,
    DeliveryRead,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionRead,
)
from services.notify.signing import new_secret
from shared.auth import Principal, Role
from shared.contracts import ImpactLevel
from shared.errors import InvalidRequest, NotFound
from shared.pagination import Page, PageRequest
from shared.settings import Settings

# Who may create and delete subscriptions, replay deliveries, and see receivers' full URLs.
MANAGERS = frozenset({Role.CHANGE_MANAGER, Role.CHANGE_LEAD})


class SubscriptionNotFound(NotFound):
    code = "subscription-not-found"
    title = "Subscription not found"


class DeliveryNotFound(NotFound):
    code = "delivery-not-found"
    title = "Delivery not found"


async def create_subscription(
    session: AsyncSession, body: SubscriptionCreate, principal: Principal, *, settings: Settings
) -> SubscriptionCreated:
    await _check_receiver(str(body.url), settings)
    if body.reminder_lead_seconds is not None and (
        domain.NotificationType.CHANGE_UPCOMING not in body.event_types
    ):
        raise InvalidRequest(
            "reminder_lead_seconds applies to change.upcoming reminders; add change.upcoming "
            "to event_types or leave it out.",
            errors=[
                {
                    "loc": ["body", "reminder_lead_seconds"],
                    "msg": "needs change.upcoming in event_types",
                    "type": "value_error",
                }
            ],
        )
    secret = new_secret()
    subscription = Subscription(
        id=uuid.uuid4(),
        name=body.name,
        url=str(body.url),
        format=body.format.value,
        event_types=[t.value for t in body.event_types],
        services=body.services,
        environments=body.environments,
        impact_levels=[i.value for i in body.impact_levels],
        reminder_lead_seconds=(
            settings.notify_reminder_lead_seconds
            if body.reminder_lead_seconds is None
            else body.reminder_lead_seconds
        ),
        encrypted_secret=cipher_for(settings).seal(secret),
        created_by=principal.subject,
    )
    subscription = await SubscriptionRepository.from_session(session).add(subscription)
    read = to_read(subscription, principal)
    return SubscriptionCreated(**read.model_dump(), secret=secret)


async def _check_receiver(url: str, settings: Settings) -> None:
    try:
        await ReceiverPolicy.from_settings(settings).check_receiver(
            url, resolve_timeout=settings.notify_timeout_seconds
        )
    except ReceiverRefused as refused:
        raise InvalidRequest(
            f"The receiver's URL is refused: {refused}.",
            errors=[{"loc": ["body", "url"], "msg": str(refused), "type": "value_error"}],
        ) from refused


async def list_subscriptions(
    session: AsyncSession, page: PageRequest, principal: Principal, *, event_type: str | None
) -> Page[SubscriptionRead]:
    rows, next_cursor = await SubscriptionRepository.from_session(session).page(
        page, event_type=event_type
    )
    return Page[SubscriptionRead](
        items=[to_read(row, principal) for row in rows], next_cursor=next_cursor
    )


async def get_subscription(
    session: AsyncSession, subscription_id: UUID, principal: Principal
) -> SubscriptionRead:
    return to_read(
        await _load(SubscriptionRepository.from_session(session), subscription_id), principal
    )


async def delete_subscription(
    session: AsyncSession, subscription_id: UUID, principal: Principal
) -> None:
    """Stop sending to the receiver: pending deliveries are cancelled; the log is kept."""
    repository = SubscriptionRepository.from_session(session)
    subscription = await _load(repository, subscription_id, for_update=True)
    subscription.deleted_at = datetime.now(UTC)
    subscription.deleted_by = principal.subject
    await session.flush()
    await DeliveryRepository.from_session(session).cancel_pending(
        subscription_id=subscription_id, reason="subscription deleted"
    )


async def list_deliveries(
    session: AsyncSession,
    subscription_id: UUID,
    page: PageRequest,
    *,
    status: DeliveryStatus | None,
    event_type: str | None,
) -> Page[DeliveryRead]:
    await _load(SubscriptionRepository.from_session(session), subscription_id)
    rows, next_cursor = await DeliveryRepository.from_session(session).page(
        subscription_id, page, status=status, event_type=event_type
    )
    return Page[DeliveryRead](items=[delivery_read(row) for row in rows], next_cursor=next_cursor)


async def get_delivery(session: AsyncSession, delivery_id: UUID) -> DeliveryDetail:
    repository = DeliveryRepository.from_session(session)
    delivery = await _load_delivery(repository, delivery_id)
    attempts = await repository.attempts(delivery_id)
    return DeliveryDetail(
        **delivery_read(delivery).model_dump(),
        body=delivery.body,
        content_type=delivery.content_type,
        attempt_log=[DeliveryAttemptRead.model_validate(a, from_attributes=True) for a in attempts],
    )


async def replay_delivery(session: AsyncSession, delivery_id: UUID) -> DeliveryRead:
    """A new delivery of the same body (same event id), due now, with a fresh signature."""
    repository = DeliveryRepository.from_session(session)
    original = await _load_delivery(repository, delivery_id)
    subscription = await SubscriptionRepository.from_session(session).get_any(
        original.subscription_id
    )
    domain.check_replayable(
        DeliveryStatus(original.status),
        subscription_deleted=subscription is None or subscription.deleted_at is not None,
    )
    replay = Delivery(
        id=uuid.uuid4(),
        subscription_id=original.subscription_id,
        event_id=original.event_id,
        event_type=original.event_type,
        subject=original.subject,
        event=original.event,
        change=original.change,
        body=original.body,
        content_type=original.content_type,
        status=DeliveryStatus.PENDING.value,
        attempts=0,
        next_attempt_at=datetime.now(UTC),
        replay_of=original.id,
    )
    await repository.add([replay])
    await session.refresh(replay)
    return delivery_read(replay)


async def _load(
    repository: SubscriptionRepository, subscription_id: UUID, *, for_update: bool = False
) -> Subscription:
    subscription = await repository.get(subscription_id, for_update=for_update)
    if subscription is None:
        raise SubscriptionNotFound(f"No subscription with id {subscription_id}.")
    return subscription


async def _load_delivery(repository: DeliveryRepository, delivery_id: UUID) -> Delivery:
    delivery = await repository.get(delivery_id)
    if delivery is None:
        raise DeliveryNotFound(f"No delivery with id {delivery_id}.")
    return delivery


def to_read(subscription: Subscription, principal: Principal) -> SubscriptionRead:
    url = subscription.url if principal.has_any(MANAGERS) else domain.redacted_url(subscription.url)
    return SubscriptionRead(
        id=subscription.id,
        name=subscription.name,
        url=url,
        format=domain.Format(subscription.format),
        event_types=[domain.NotificationType(t) for t in subscription.event_types],
        services=subscription.services,
        environments=subscription.environments,
        impact_levels=[ImpactLevel(i) for i in subscription.impact_levels],
        reminder_lead_seconds=subscription.reminder_lead_seconds,
        created_by=subscription.created_by,
        created_at=subscription.created_at,
    )


def delivery_read(delivery: Delivery) -> DeliveryRead:
    pending = delivery.status == DeliveryStatus.PENDING.value
    return DeliveryRead(
        id=delivery.id,
        subscription_id=delivery.subscription_id,
        event_id=delivery.event_id,
        event_type=domain.NotificationType(delivery.event_type),
        subject=delivery.subject,
        status=DeliveryStatus(delivery.status),
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at if pending else None,
        last_attempt_at=delivery.last_attempt_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        delivered_at=delivery.delivered_at,
        dead_lettered_at=delivery.dead_lettered_at,
        replay_of=delivery.replay_of,
        created_at=delivery.created_at,
    )
