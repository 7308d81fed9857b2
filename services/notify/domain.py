"""Notification rules with no I/O: what a subscription receives, when a delivery is retried,
and when a change's reminder goes out."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit, urlunsplit

from shared.contracts import EventType
from shared.errors import InvalidTransition
from shared.settings import Settings


class NotificationType(StrEnum):
    """What a subscription may ask for: the events notify consumes, and reminders."""

    CHANGE_REQUESTED = EventType.CHANGE_REQUESTED.value
    CHANGE_UPDATED = EventType.CHANGE_UPDATED.value
    CHANGE_CANCELLED = EventType.CHANGE_CANCELLED.value
    CHANGE_ASSESSED = EventType.CHANGE_ASSESSED.value
    CHANGE_APPROVAL_RECORDED = EventType.CHANGE_APPROVAL_RECORDED.value
    CHANGE_APPROVED = EventType.CHANGE_APPROVED.value
    CHANGE_REJECTED = EventType.CHANGE_REJECTED.value
    CHANGE_EXECUTION_STARTED = EventType.CHANGE_EXECUTION_STARTED.value
    CHANGE_STAGE_STARTED = EventType.CHANGE_STAGE_STARTED.value
    CHANGE_STAGE_COMPLETED = EventType.CHANGE_STAGE_COMPLETED.value
    CHANGE_STAGE_FAILED = EventType.CHANGE_STAGE_FAILED.value
    CHANGE_COMPLETED = EventType.CHANGE_COMPLETED.value
    CHANGE_FAILED = EventType.CHANGE_FAILED.value
    CHANGE_ROLLED_BACK = EventType.CHANGE_ROLLED_BACK.value
    CHANGE_ACCEPTED = EventType.CHANGE_ACCEPTED.value
    DEPLOYMENT_REPORTED = EventType.DEPLOYMENT_REPORTED.value
    FREEZE_WINDOW_DECLARED = EventType.FREEZE_WINDOW_DECLARED.value
    FREEZE_WINDOW_LIFTED = EventType.FREEZE_WINDOW_LIFTED.value
    # Not an event on the bus: notify sends it `reminder_lead_seconds` before a window opens.
    CHANGE_UPCOMING = "change.upcoming"


# The bus events notify consumes (the audit tree heads are for witnesses, not people).
CONSUMED_EVENTS: frozenset[EventType] = frozenset(
    EventType(kind.value)
    for kind in NotificationType
    if kind is not NotificationType.CHANGE_UPCOMING
)

# Once a change reaches one of these, its pending reminder is pointless.
REMINDER_CANCELLED_BY: frozenset[EventType] = frozenset(
    {EventType.CHANGE_CANCELLED, EventType.CHANGE_REJECTED, EventType.CHANGE_EXECUTION_STARTED}
)


class Format(StrEnum):
    """How a delivery's body is shaped for its receiver."""

    JSON = "json"
    SLACK = "slack"
    TEAMS = "teams"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD_LETTERED = "dead_lettered"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Filters:
    """A subscription's filters; an empty one lets everything through."""

    services: frozenset[str] = frozenset()
    environments: frozenset[str] = frozenset()
    impact_levels: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        services: Collection[str],
        environments: Collection[str],
        impact_levels: Collection[str],
    ) -> Filters:
        return cls(
            frozenset(s.casefold() for s in services),
            frozenset(e.casefold() for e in environments),
            frozenset(impact_levels),
        )


@dataclass(frozen=True)
class Facts:
    """What an event tells about where it happens.

    `every_service` / `every_environment`: a freeze window that names none covers them all.
    `about_a_change`: only changes have an impact level; a deployment or a freeze window
    passes the impact-level filter.
    """

    services: frozenset[str] = frozenset()
    environment: str | None = None
    impact_level: str | None = None
    every_service: bool = False
    every_environment: bool = False
    about_a_change: bool = True


def matches(filters: Filters, facts: Facts) -> bool:
    """Whether an event with `facts` passes `filters`; an unknown fact never passes a filter."""
    services = {s.casefold() for s in facts.services}
    if filters.services and not facts.every_service and not filters.services & services:
        return False
    environment = facts.environment.casefold() if facts.environment is not None else None
    if (
        filters.environments
        and not facts.every_environment
        and environment not in filters.environments
    ):
        return False
    if filters.impact_levels and facts.about_a_change:
        return facts.impact_level in filters.impact_levels
    return True


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, then a dead letter after `max_attempts` tries."""

    initial_seconds: float
    multiplier: float
    max_delay_seconds: float
    jitter: float
    max_attempts: int

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            initial_seconds=settings.notify_retry_initial_seconds,
            multiplier=settings.notify_retry_multiplier,
            max_delay_seconds=settings.notify_retry_max_delay_seconds,
            jitter=settings.notify_retry_jitter,
            max_attempts=settings.notify_max_attempts,
        )

    def base_delay(self, attempts_made: int) -> float:
        """The wait after the `attempts_made`-th failed try, before jitter."""
        exponent = max(attempts_made - 1, 0)
        try:
            delay = self.initial_seconds * self.multiplier**exponent
        except OverflowError:
            return self.max_delay_seconds
        return min(delay, self.max_delay_seconds)

    def next_delay(
        self, attempts_made: int, *, random: float, retry_after: float | None = None
    ) -> float | None:
        """Seconds until the next try, or None when the last try has failed (dead letter).

        `random` in [0, 1) spreads receivers' retries apart; jitter only ever lengthens a
        wait, so the schedule's span is a lower bound. A receiver's `Retry-After` is honoured
        up to the longest wait.
        """
        if attempts_made >= self.max_attempts:
            return None
        delay = self.base_delay(attempts_made) * (1 + self.jitter * random)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_delay_seconds))
        return delay

    def span_seconds(self) -> float:
        """How long, at least, a delivery is retried before it is dead-lettered."""
        return sum(self.base_delay(n) for n in range(1, self.max_attempts))


def reminder_due_at(window_start: datetime, lead: timedelta, now: datetime) -> datetime | None:
    """When a change's reminder goes out: `lead` before its window, at once if that has
    passed, never once the window has opened."""
    if window_start <= now:
        return None
    return max(window_start - lead, now)


def check_replayable(status: DeliveryStatus, *, subscription_deleted: bool) -> None:
    if subscription_deleted:
        raise InvalidTransition(
            "The delivery's subscription was deleted; create a new subscription instead.",
            current_status=status.value,
        )
    if status is DeliveryStatus.PENDING:
        raise InvalidTransition(
            "The delivery is still pending (it will be tried again on its own); replay it "
            "once it is delivered, dead-lettered or cancelled.",
            current_status=status.value,
        )


def redacted_url(url: str) -> str:
    """The URL without its path and query: chat webhooks carry their credential there."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, "/…" if parts.path not in ("", "/") else "/", "", ""))
