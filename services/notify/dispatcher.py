"""Sends due deliveries: claims them (`FOR UPDATE SKIP LOCKED`, so replicas share the work),
POSTs each signed to its receiver, and records the outcome with the next try or a dead letter.

It runs only as notify's background task; a slow or dead receiver holds one of its
`notify_concurrency` slots and nothing else, never a request of any service.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
import structlog
from prometheus_client import Counter, Histogram

from services.notify.domain import DeliveryStatus, Format, NotificationType, RetryPolicy
from services.notify.encryption import SecretUnreadable, cipher_for
from services.notify.formats import render
from services.notify.messages import ChangeView, notification_for
from services.notify.models import Delivery, DeliveryAttempt, Subscription
from services.notify.receivers import ReceiverPolicy
from services.notify.repository import DeliveryRepository
from services.notify.signing import SIGNATURE_HEADER, signature_header
from services.notify.transport import delivery_client
from shared.db import Database
from shared.events import CloudEvent
from shared.settings import Settings

log = structlog.get_logger(__name__)

# Kept of a failing receiver's answer, to show in the delivery log.
_ANSWER_KEPT = 500
_PURGE_EVERY_SECONDS = 3600.0

DELIVERY_ATTEMPTS = Counter(
    "changeward_notify_delivery_attempts_total",
    "Webhook delivery attempts, by outcome (delivered, retrying, dead_lettered)",
    ["outcome"],
)
DELIVERY_DURATION = Histogram(
    "changeward_notify_delivery_duration_seconds", "Time a receiver took to answer a delivery"
)


@dataclass(frozen=True)
class Claimed:
    """A delivery this dispatcher holds the lease of, with what it takes to send it."""

    delivery_id: uuid.UUID
    lease_id: uuid.UUID
    attempt: int
    url: str
    # None when the stored secret cannot be decrypted: the attempt fails without sending.
    secret: str | None
    body: bytes
    content_type: str
    event_id: uuid.UUID
    event_type: str


@dataclass(frozen=True)
class Answer:
    attempted_at: datetime
    duration: float
    status_code: int | None
    error: str | None
    retry_after: float | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def render_delivery(delivery: Delivery, fmt: Format, link_template: str) -> tuple[str, str]:
    """The delivery's body (and content type) in the subscription's format."""
    event = CloudEvent.from_json(delivery.event)
    change = ChangeView.model_validate(delivery.change) if delivery.change else None
    notification = notification_for(
        NotificationType(delivery.event_type), event.data, change, link_template=link_template
    )
    return render(fmt, notification, delivery.event)


class Dispatcher:
    def __init__(self, database: Database, settings: Settings) -> None:
        self._database = database
        self._settings = settings
        self._policy = RetryPolicy.from_settings(settings)
        self._receivers = ReceiverPolicy.from_settings(settings)
        self._lease = timedelta(seconds=settings.notify_timeout_seconds + 60)

    def client(self) -> httpx.AsyncClient:
        """The HTTP client deliveries go out through, refusing receivers the policy refuses."""
        return delivery_client(self._receivers, timeout=self._settings.notify_timeout_seconds)

    async def run(self) -> None:
        """Dispatch forever: claim what is due into free slots, send, record; then purge."""
        settings = self._settings
        in_flight: set[asyncio.Task[None]] = set()
        next_purge = time.monotonic() + _PURGE_EVERY_SECONDS
        async with self.client() as client:
            try:
                while True:
                    free = settings.notify_concurrency - len(in_flight)
                    wanted = min(free, settings.notify_batch_size)
                    claimed = await self._claim_safely(wanted) if wanted > 0 else []
                    for item in claimed:
                        task = asyncio.create_task(self.deliver(client, item))
                        in_flight.add(task)
                        task.add_done_callback(in_flight.discard)
                    if claimed and len(claimed) == wanted:
                        continue  # more may be due
                    if time.monotonic() >= next_purge:
                        next_purge = time.monotonic() + _PURGE_EVERY_SECONDS
                        await self._purge_safely()
                    if in_flight:
                        await asyncio.wait(
                            in_flight,
                            timeout=settings.notify_poll_interval_seconds,
                            return_when=asyncio.FIRST_COMPLETED,
                        )
                    else:
                        await asyncio.sleep(settings.notify_poll_interval_seconds)
            finally:
                for task in in_flight:
                    task.cancel()
                for task in list(in_flight):
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    async def _claim_safely(self, limit: int) -> list[Claimed]:
        try:
            return await self.claim(limit)
        except Exception as error:  # noqa: BLE001 - the dispatcher must outlive an outage
            log.warning("claiming deliveries failed; will retry", error=repr(error))
            return []

    async def claim(self, limit: int) -> list[Claimed]:
        lease_id = uuid.uuid4()
        async with self._database.sessionmaker() as session, session.begin():
            rows = await DeliveryRepository.from_session(session).claim_due(
                limit, lease_id=lease_id, lease=self._lease
            )
            prepared = [
                self._prepared(delivery, subscription, lease_id) for delivery, subscription in rows
            ]
            return [claimed for claimed in prepared if claimed is not None]

    def _prepared(
        self, delivery: Delivery, subscription: Subscription, lease_id: uuid.UUID
    ) -> Claimed | None:
        """What to send; None (and a dead letter) for a delivery that cannot be rendered."""
        if delivery.body is None or delivery.content_type is None:
            try:
                delivery.body, delivery.content_type = render_delivery(
                    delivery, Format(subscription.format), self._settings.notify_change_url_template
                )
            except Exception as error:  # noqa: BLE001 - one bad delivery must not stop the rest
                log.error(
                    "cannot render a delivery", delivery_id=str(delivery.id), error=repr(error)
                )
                delivery.status = DeliveryStatus.DEAD_LETTERED.value
                delivery.dead_lettered_at = datetime.now(UTC)
                delivery.last_error = f"cannot render the body: {error!r}"
                delivery.lease_id = None
                return None
        return Claimed(
            delivery_id=delivery.id,
            lease_id=lease_id,
            attempt=delivery.attempts + 1,
            url=subscription.url,
            secret=self._secret_of(subscription),
            body=delivery.body.encode(),
            content_type=delivery.content_type,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
        )

    def _secret_of(self, subscription: Subscription) -> str | None:
        try:
            return cipher_for(self._settings).unseal(subscription.encrypted_secret)
        except SecretUnreadable as error:
            log.error(
                "cannot decrypt a subscription's signing secret",
                subscription_id=str(subscription.id),
                error=str(error),
            )
            return None

    async def deliver(self, client: httpx.AsyncClient, claimed: Claimed) -> None:
        answer = await self.post(client, claimed)
        try:
            await self.record(claimed, answer)
        except Exception as error:  # noqa: BLE001 - the lease runs out and it is tried again
            log.warning(
                "recording a delivery attempt failed",
                delivery_id=str(claimed.delivery_id),
                error=repr(error),
            )

    async def post(self, client: httpx.AsyncClient, claimed: Claimed) -> Answer:
        if claimed.secret is None:
            unsent = "not sent: the signing secret cannot be decrypted with this key"
            return Answer(datetime.now(UTC), 0.0, None, unsent, None)
        timestamp = int(time.time())
        headers = {
            "Content-Type": claimed.content_type,
            SIGNATURE_HEADER: signature_header(claimed.secret, timestamp, claimed.body),
            "Changeward-Event-Id": str(claimed.event_id),
            "Changeward-Event-Type": claimed.event_type,
            "Changeward-Delivery-Id": str(claimed.delivery_id),
            "Changeward-Delivery-Attempt": str(claimed.attempt),
        }
        attempted_at = datetime.now(UTC)
        started = time.monotonic()
        status_code: int | None = None
        error: str | None = None
        retry_after: float | None = None
        try:
            async with client.stream(
                "POST", claimed.url, content=claimed.body, headers=headers
            ) as response:
                status_code = response.status_code
                if not 200 <= status_code < 300:
                    error = f"HTTP {status_code}: {await _some_of(response)}".strip()
                    retry_after = _retry_after(response.headers.get("Retry-After"))
        except httpx.TimeoutException:
            error = f"no answer within {self._settings.notify_timeout_seconds:g} s"
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}"
        duration = time.monotonic() - started
        DELIVERY_DURATION.observe(duration)
        return Answer(attempted_at, duration, status_code, error, retry_after)

    async def record(self, claimed: Claimed, answer: Answer) -> None:
        next_attempt_at: datetime | None = None
        if answer.succeeded:
            status = DeliveryStatus.DELIVERED
        else:
            delay = self._policy.next_delay(
                claimed.attempt, random=random.random(), retry_after=answer.retry_after
            )
            if delay is None:
                status = DeliveryStatus.DEAD_LETTERED
            else:
                status = DeliveryStatus.PENDING
                next_attempt_at = datetime.now(UTC) + timedelta(seconds=delay)
        attempt = DeliveryAttempt(
            delivery_id=claimed.delivery_id,
            number=claimed.attempt,
            attempted_at=answer.attempted_at,
            duration_ms=round(answer.duration * 1000),
            status_code=answer.status_code,
            error=answer.error,
            succeeded=answer.succeeded,
        )
        async with self._database.sessionmaker() as session, session.begin():
            recorded = await DeliveryRepository.from_session(session).record_attempt(
                claimed.delivery_id,
                lease_id=claimed.lease_id,
                attempt=attempt,
                status=status,
                next_attempt_at=next_attempt_at,
            )
        if not recorded:
            return
        outcome = "retrying" if status is DeliveryStatus.PENDING else status.value
        DELIVERY_ATTEMPTS.labels(outcome).inc()
        if status is DeliveryStatus.DEAD_LETTERED:
            log.warning(
                "delivery dead-lettered",
                delivery_id=str(claimed.delivery_id),
                attempts=claimed.attempt,
                error=answer.error,
            )

    async def _purge_safely(self) -> None:
        retention = timedelta(days=self._settings.notify_delivery_retention_days)
        try:
            async with self._database.sessionmaker() as session, session.begin():
                purged = await DeliveryRepository.from_session(session).purge_finished(retention)
        except Exception as error:  # noqa: BLE001 - the next round retries
            log.warning("purging old deliveries failed", error=repr(error))
            return
        if purged:
            log.info("purged old deliveries", count=purged)


async def _some_of(response: httpx.Response) -> str:
    kept = b""
    async for chunk in response.aiter_bytes():
        kept += chunk
        if len(kept) >= _ANSWER_KEPT:
            break
    return kept[:_ANSWER_KEPT].decode(errors="replace")


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


async def run_dispatcher(database: Database, settings: Settings) -> None:
    await Dispatcher(database, settings).run()
