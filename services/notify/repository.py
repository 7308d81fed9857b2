"""Every query of the notify service."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.domain import DeliveryStatus
from services.notify.models import ChangeSummary, Delivery, DeliveryAttempt, Subscription
from shared.pagination import PageRequest, keyset_page


class SubscriptionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> SubscriptionRepository:
        return cls(session)

    async def get(self, subscription_id: UUID, *, for_update: bool = False) -> Subscription | None:
        """A subscription that has not been deleted."""
        statement = select(Subscription).where(
            Subscription.id == subscription_id, Subscription.deleted_at.is_(None)
        )
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def get_any(self, subscription_id: UUID) -> Subscription | None:
        """A subscription, deleted or not."""
        return await self.session.get(Subscription, subscription_id)

    async def add(self, subscription: Subscription) -> Subscription:
        self.session.add(subscription)
        await self.session.flush()
        await self.session.refresh(subscription)
        return subscription

    async def page(
        self, page: PageRequest, *, event_type: str | None = None
    ) -> tuple[list[Subscription], str | None]:
        statement = select(Subscription).where(Subscription.deleted_at.is_(None))
        if event_type is not None:
            statement = statement.where(Subscription.event_types.contains([event_type]))
        return await keyset_page(
            self.session, statement, [Subscription.created_at, Subscription.id], page
        )

    async def wanting(self, event_type: str) -> Sequence[Subscription]:
        """The live subscriptions that asked for `event_type`."""
        statement = select(Subscription).where(
            Subscription.deleted_at.is_(None), Subscription.event_types.contains([event_type])
        )
        return (await self.session.execute(statement)).scalars().all()


class ChangeSummaryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> ChangeSummaryRepository:
        return cls(session)

    async def get_or_create(self, change_id: UUID) -> ChangeSummary:
        """The change's summary, locked for this transaction; a new one when first heard of."""
        statement = select(ChangeSummary).where(ChangeSummary.change_id == change_id)
        summary = (await self.session.execute(statement.with_for_update())).scalar_one_or_none()
        if summary is None:
            summary = ChangeSummary(change_id=change_id, services=[], contacts=[], emergency=False)
            self.session.add(summary)
            await self.session.flush()
        return summary


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> DeliveryRepository:
        return cls(session)

    async def add(self, deliveries: Sequence[Delivery]) -> None:
        self.session.add_all(deliveries)
        await self.session.flush()

    async def get(self, delivery_id: UUID) -> Delivery | None:
        return await self.session.get(Delivery, delivery_id)

    async def attempts(self, delivery_id: UUID) -> Sequence[DeliveryAttempt]:
        statement = (
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == delivery_id)
            .order_by(DeliveryAttempt.number)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def page(
        self,
        subscription_id: UUID,
        page: PageRequest,
        *,
        status: DeliveryStatus | None = None,
        event_type: str | None = None,
    ) -> tuple[list[Delivery], str | None]:
        statement = select(Delivery).where(Delivery.subscription_id == subscription_id)
        if status is not None:
            statement = statement.where(Delivery.status == status.value)
        if event_type is not None:
            statement = statement.where(Delivery.event_type == event_type)
        return await keyset_page(self.session, statement, [Delivery.created_at, Delivery.id], page)

    async def cancel_pending(
        self,
        *,
        reason: str,
        subject: str | None = None,
        event_type: str | None = None,
        subscription_id: UUID | None = None,
    ) -> int:
        statement = update(Delivery).where(Delivery.status == DeliveryStatus.PENDING.value)
        if subject is not None:
            statement = statement.where(Delivery.subject == subject)
        if event_type is not None:
            statement = statement.where(Delivery.event_type == event_type)
        if subscription_id is not None:
            statement = statement.where(Delivery.subscription_id == subscription_id)
        result = await self.session.execute(
            statement.values(
                status=DeliveryStatus.CANCELLED.value, last_error=reason, lease_id=None
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def claim_due(
        self, limit: int, *, lease_id: UUID, lease: timedelta
    ) -> Sequence[tuple[Delivery, Subscription]]:
        """Take up to `limit` due deliveries for `lease`; other dispatchers skip them.

        The claim pushes `next_attempt_at` past the lease, so a dispatcher that dies
        mid-send leaves its deliveries to be claimed again once the lease runs out.
        """
        due = (
            select(Delivery.id)
            .where(
                Delivery.status == DeliveryStatus.PENDING.value,
                Delivery.next_attempt_at <= func.now(),
            )
            .order_by(Delivery.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claimed = (
            (
                await self.session.execute(
                    update(Delivery)
                    .where(Delivery.id.in_(due.scalar_subquery()))
                    .values(lease_id=lease_id, next_attempt_at=func.now() + lease)
                    .returning(Delivery.id)
                )
            )
            .scalars()
            .all()
        )
        if not claimed:
            return []
        statement = (
            select(Delivery, Subscription)
            .join(Subscription, Subscription.id == Delivery.subscription_id)
            .where(Delivery.id.in_(claimed))
            .execution_options(populate_existing=True)
        )
        return [(row[0], row[1]) for row in (await self.session.execute(statement)).all()]

    async def record_attempt(
        self,
        delivery_id: UUID,
        *,
        lease_id: UUID,
        attempt: DeliveryAttempt,
        status: DeliveryStatus,
        next_attempt_at: datetime | None,
    ) -> bool:
        """Record one try's outcome; False when the claim was lost (lease ran out, cancelled)."""
        finished_at = attempt.attempted_at
        values: dict[str, object] = {
            "attempts": attempt.number,
            "status": status.value,
            "lease_id": None,
            "last_attempt_at": finished_at,
            "last_status_code": attempt.status_code,
            "last_error": attempt.error,
        }
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        if status is DeliveryStatus.DELIVERED:
            values["delivered_at"] = finished_at
        elif status is DeliveryStatus.DEAD_LETTERED:
            values["dead_lettered_at"] = finished_at
        result = await self.session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.lease_id == lease_id)
            .values(**values)
            .returning(Delivery.id)
        )
        if result.scalar_one_or_none() is None:
            return False
        self.session.add(attempt)
        await self.session.flush()
        return True

    async def purge_finished(self, older_than: timedelta) -> int:
        result = await self.session.execute(
            delete(Delivery).where(
                Delivery.status != DeliveryStatus.PENDING.value,
                Delivery.created_at < func.now() - older_than,
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)
