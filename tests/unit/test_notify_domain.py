"""Notify's rules: filters, the retry schedule, reminders, replays, redaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify.domain import (
    CONSUMED_EVENTS,
    DeliveryStatus,
    Facts,
    Filters,
    NotificationType,
    RetryPolicy,
    check_replayable,
    matches,
    redacted_url,
    reminder_due_at,
)
from shared.contracts import EventType, ImpactLevel
from shared.errors import InvalidTransition
from shared.settings import Settings

CHECKOUT_PROD = Facts(
    services=frozenset({"checkout", "payments"}), environment="production", impact_level="critical"
)


def test_the_lifecycle_deployments_and_freezes_can_be_subscribed_to() -> None:
    assert set(CONSUMED_EVENTS) <= set(EventType)
    assert EventType.TREE_HEAD_PUBLISHED not in CONSUMED_EVENTS  # for witnesses, not people
    lifecycle = {"change.requested", "change.approved", "change.stage_failed", "change.failed"}
    assert lifecycle | {"deployment.reported", "freeze_window.declared"} <= {
        e.value for e in CONSUMED_EVENTS
    }
    assert {kind.value for kind in NotificationType} == {
        *(e.value for e in CONSUMED_EVENTS),
        "change.upcoming",
    }


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(), True),
        (Filters.of(["checkout"], [], []), True),
        (Filters.of(["Payments", "search"], [], []), True),
        (Filters.of(["search"], [], []), False),
        (Filters.of([], ["production"], []), True),
        (Filters.of([], ["PRODUCTION"], []), True),
        (Filters.of([], ["staging"], []), False),
        (Filters.of([], [], ["critical"]), True),
        (Filters.of([], [], ["standard", "important"]), False),
        (Filters.of(["checkout"], ["production"], ["critical"]), True),
        (Filters.of(["checkout"], ["staging"], ["critical"]), False),
    ],
)
def test_filters_narrow_by_service_environment_and_impact(filters: Filters, expected: bool) -> None:
    assert matches(filters, CHECKOUT_PROD) is expected


def test_an_unknown_fact_never_passes_a_filter_on_it() -> None:
    unassessed = Facts(services=frozenset({"checkout"}), environment=None, impact_level=None)
    assert not matches(Filters.of([], [], ["critical"]), unassessed)
    assert not matches(Filters.of([], ["production"], []), unassessed)
    assert matches(Filters.of(["checkout"], [], []), unassessed)


def test_a_freeze_on_everything_reaches_every_filtered_subscription() -> None:
    freeze = Facts(every_service=True, every_environment=True, about_a_change=False)
    assert matches(Filters.of(["checkout"], ["production"], ["critical"]), freeze)
    deployment = Facts(
        services=frozenset({"search"}), environment="production", about_a_change=False
    )
    assert not matches(Filters.of(["checkout"], [], []), deployment)
    assert matches(Filters.of([], [], ["critical"]), deployment)


@given(
    services=st.sets(st.sampled_from(["a", "b", "c", "d"])),
    wanted=st.sets(st.sampled_from(["a", "b", "c", "d"])),
    level=st.sampled_from(list(ImpactLevel)),
    wanted_levels=st.sets(st.sampled_from(list(ImpactLevel))),
)
def test_matching_is_the_conjunction_of_each_non_empty_filter(
    services: set[str], wanted: set[str], level: ImpactLevel, wanted_levels: set[ImpactLevel]
) -> None:
    facts = Facts(services=frozenset(services), environment="prod", impact_level=level.value)
    filters = Filters.of(wanted, [], [lv.value for lv in wanted_levels])
    expected = (not wanted or bool(wanted & services)) and (
        not wanted_levels or level in wanted_levels
    )
    assert matches(filters, facts) is expected


POLICY = RetryPolicy(
    initial_seconds=30, multiplier=2, max_delay_seconds=4 * 3600, jitter=0.2, max_attempts=16
)


def test_the_default_schedule_retries_for_at_least_a_day() -> None:
    policy = RetryPolicy.from_settings(Settings(jwt_secret="x"))
    assert policy.span_seconds() >= 24 * 3600
    assert policy.next_delay(policy.max_attempts, random=0.0) is None


def test_delays_grow_exponentially_up_to_the_cap_then_dead_letter() -> None:
    delays = [POLICY.base_delay(n) for n in range(1, 16)]
    assert delays[:4] == [30, 60, 120, 240]
    assert delays[-1] == 4 * 3600
    assert delays == sorted(delays)
    assert POLICY.next_delay(15, random=0.5) is not None
    assert POLICY.next_delay(16, random=0.5) is None


@given(attempts=st.integers(min_value=1, max_value=15), rnd=st.floats(min_value=0, max_value=0.999))
def test_jitter_only_lengthens_a_wait_and_by_at_most_its_share(attempts: int, rnd: float) -> None:
    delay = POLICY.next_delay(attempts, random=rnd)
    assert delay is not None
    base = POLICY.base_delay(attempts)
    assert base <= delay <= base * 1.2 + 1e-9


@given(attempts=st.integers(min_value=1, max_value=10_000))
def test_a_very_long_schedule_stays_capped(attempts: int) -> None:
    policy = RetryPolicy(1, 10, 60, 0, attempts + 1)
    assert 0 < policy.base_delay(attempts) <= 60


def test_retry_after_is_honoured_up_to_the_longest_wait() -> None:
    assert POLICY.next_delay(1, random=0, retry_after=600) == 600
    assert POLICY.next_delay(1, random=0, retry_after=10**9) == 4 * 3600
    assert POLICY.next_delay(1, random=0, retry_after=1) == 30


NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_a_reminder_goes_out_its_lead_time_before_the_window() -> None:
    start = NOW + timedelta(days=3)
    assert reminder_due_at(start, timedelta(hours=1), NOW) == start - timedelta(hours=1)


def test_a_late_reminder_goes_out_at_once_and_none_once_the_window_opened() -> None:
    assert reminder_due_at(NOW + timedelta(minutes=10), timedelta(hours=1), NOW) == NOW
    assert reminder_due_at(NOW, timedelta(hours=1), NOW) is None
    assert reminder_due_at(NOW - timedelta(minutes=1), timedelta(0), NOW) is None


@pytest.mark.parametrize(
    "status", [DeliveryStatus.DELIVERED, DeliveryStatus.DEAD_LETTERED, DeliveryStatus.CANCELLED]
)
def test_a_finished_delivery_may_be_replayed(status: DeliveryStatus) -> None:
    check_replayable(status, subscription_deleted=False)


def test_a_pending_delivery_or_a_deleted_subscription_may_not() -> None:
    with pytest.raises(InvalidTransition):
        check_replayable(DeliveryStatus.PENDING, subscription_deleted=False)
    with pytest.raises(InvalidTransition):
        check_replayable(DeliveryStatus.DEAD_LETTERED, subscription_deleted=True)


def test_a_redacted_url_keeps_the_host_and_drops_the_credential() -> None:
    slack = "https://hooks.slack.com/services/T000/B000/SECRET?x=1"
    assert redacted_url(slack) == "https://hooks.slack.com/…"
    assert "SECRET" not in redacted_url(slack)
    assert redacted_url("http://user:pw@127.0.0.1:8099/hook") == "http://127.0.0.1:8099/…"
