"""The rules feeding the stability figures: link suggestions, PagerDuty facts, action items."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.audit import pagerduty
from services.audit.action_items import ALLOWED, check_transition, is_overdue
from services.audit.errors import (
    IgnoredWebhookEvent,
    InvalidWebhookSignature,
    UnsupportedIncidentPayload,
)
from services.audit.incident_rules import suggest_links
from services.audit.report_repository import LedgerEvent
from shared.contracts import ActionItemStatus, Severity
from shared.errors import InvalidRequest, InvalidTransition
from tests.fixtures.incidents import delivery

T0 = datetime(2026, 11, 27, 9, 41, tzinfo=UTC)


def started(change_id: str, minutes_before: float) -> LedgerEvent:
    return LedgerEvent(
        change_id, "change.execution_started", T0 - timedelta(minutes=minutes_before), {}, "eddie"
    )


def test_suggestions_are_nearest_first_within_the_lookback_and_skip_linked_ones() -> None:
    rollouts = [
        started("far", 200),
        started("near", 12),
        started("mid", 61),
        started("linked", 3),
        started("after", -5),
        LedgerEvent("d1", "deployment.reported", T0 - timedelta(minutes=30), {}, "ci"),
    ]
    found = suggest_links(
        service="checkout",
        environment="production",
        started_at=T0,
        rollouts=rollouts,
        lookback=timedelta(hours=2),
        linked=frozenset({"linked"}),
    )
    assert [s.change_id for s in found] == ["near", "mid"]
    assert (
        found[0].reason
        == "started executing on checkout in production 12 minutes before the incident"
    )
    assert found[1].reason.endswith("61 minutes before the incident")


@pytest.mark.parametrize(
    ("name", "event_type", "resolved"),
    [
        ("pagerduty-incident-triggered", "incident.triggered", None),
        (
            "pagerduty-incident-resolved",
            "incident.resolved",
            datetime(2026, 11, 27, 10, 19, 40, 44000, tzinfo=UTC),
        ),
    ],
)
def test_the_pagerduty_fixtures_become_incident_facts(
    name: str, event_type: str, resolved: datetime | None
) -> None:
    body, headers = delivery(name, secret="s3cret")
    pagerduty.verify_signature("s3cret", headers, body)
    paged = pagerduty.parse(body, services={})
    assert paged.event_type == event_type
    assert paged.external_id == "Q2LN0KSM4QVH7B"
    assert paged.service == "checkout"
    assert paged.severity is Severity.SEV2
    assert paged.started_at == datetime(2026, 11, 27, 9, 41, 11, tzinfo=UTC)
    assert paged.resolved_at == resolved
    assert pagerduty.parse(body, services={"PF9KMXH": "shop-checkout"}).service == "shop-checkout"


def test_pagerduty_signatures_and_other_events() -> None:
    body, headers = delivery("pagerduty-incident-triggered", secret="s3cret")
    with pytest.raises(InvalidWebhookSignature):
        pagerduty.verify_signature("other", headers, body)
    rotated = {**headers, "X-PagerDuty-Signature": "v1=00ff, " + headers["X-PagerDuty-Signature"]}
    pagerduty.verify_signature("s3cret", rotated, body)
    acknowledged, _ = delivery("pagerduty-incident-acknowledged")
    with pytest.raises(IgnoredWebhookEvent):
        pagerduty.parse(acknowledged, services={})
    with pytest.raises(UnsupportedIncidentPayload):
        pagerduty.parse(b"[]", services={})


statuses = st.sampled_from(list(ActionItemStatus))


@given(statuses, statuses)
def test_action_items_only_move_along_the_table(
    current: ActionItemStatus, wanted: ActionItemStatus
) -> None:
    note = "not worth it"
    if wanted is current or wanted in ALLOWED[current]:
        check_transition(current, wanted, note=note)
    else:
        with pytest.raises(InvalidTransition):
            check_transition(current, wanted, note=note)


def test_dropping_an_item_needs_a_reason_and_closed_items_are_never_overdue() -> None:
    with pytest.raises(InvalidRequest):
        check_transition(ActionItemStatus.OPEN, ActionItemStatus.WONT_DO, note=" ")
    today = date(2026, 11, 27)
    assert is_overdue(ActionItemStatus.IN_PROGRESS, today - timedelta(days=1), today)
    assert not is_overdue(ActionItemStatus.OPEN, today, today)
    assert not is_overdue(ActionItemStatus.DONE, today - timedelta(days=9), today)
