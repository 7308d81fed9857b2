"""The deploy gate's decision, a pure function: every reason alone, combined, and when next."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.execution.domain import ExecutionStatus, StageStatus
from services.execution.gate import decide, pause
from services.execution.gate_facts import (
    ExecutionFacts,
    FreezeFacts,
    GateFacts,
    ReasonCode,
    StageFacts,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
CHANGE = UUID("00000000-0000-0000-0000-000000000001")
OTHER = UUID("00000000-0000-0000-0000-000000000002")


def stages(*statuses: StageStatus) -> tuple[StageFacts, ...]:
    names = ["1%", "10%", "50%", "100%"]
    return tuple(StageFacts(n, names[n - 1], s) for n, s in enumerate(statuses, start=1))


PENDING_ROLLOUT = stages(*[StageStatus.PENDING] * 4)


def execution(**changes: object) -> ExecutionFacts:
    base = ExecutionFacts(
        change_id=CHANGE,
        status=ExecutionStatus.READY,
        services=("checkout",),
        environment="production",
        window_start=NOW - HOUR,
        window_end=NOW + HOUR,
        stages=PENDING_ROLLOUT,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def freeze(start: datetime, end: datetime) -> FreezeFacts:
    return FreezeFacts(uuid4(), start, end, "Black Friday")


def facts(**changes: object) -> GateFacts:
    base = GateFacts(
        now=NOW, service="checkout", environment="production", execution=execution(), stage=1
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def codes(decision_facts: GateFacts, *, blocking: bool = True) -> list[ReasonCode]:
    return [r.code for r in decide(decision_facts).reasons if r.blocking is blocking]


def test_an_approved_change_in_its_window_is_allowed_with_a_reason_saying_so() -> None:
    decision = decide(facts())
    assert decision.allow is True
    assert decision.next_allowed_at is None
    assert [r.code for r in decision.reasons] == [ReasonCode.APPROVED]
    assert "stage 1 (1%)" in decision.reasons[0].message


# Each blocking reason alone: (facts, its code, next_allowed_at).
ALONE = [
    pytest.param(facts(execution=None), ReasonCode.NOT_APPROVED, None, id="not-approved"),
    pytest.param(
        facts(execution=execution(status=ExecutionStatus.CANCELLED)),
        ReasonCode.NOT_APPROVED,
        None,
        id="cancelled",
    ),
    pytest.param(
        facts(execution=execution(approval_expires_at=NOW - timedelta(minutes=1))),
        ReasonCode.APPROVAL_EXPIRED,
        None,
        id="approval-expired",
    ),
    pytest.param(
        facts(execution=execution(window_start=NOW + 2 * HOUR, window_end=NOW + 3 * HOUR)),
        ReasonCode.OUTSIDE_WINDOW,
        NOW + 2 * HOUR,
        id="window-not-open-yet",
    ),
    pytest.param(
        facts(execution=execution(window_start=NOW - 3 * HOUR, window_end=NOW - HOUR)),
        ReasonCode.OUTSIDE_WINDOW,
        None,
        id="window-closed",
    ),
    pytest.param(
        facts(freezes=[freeze(NOW - HOUR, NOW + 30 * timedelta(minutes=1))]),
        ReasonCode.FREEZE_IN_FORCE,
        NOW + timedelta(minutes=30),
        id="freeze",
    ),
    pytest.param(
        facts(freezes=[freeze(NOW - HOUR, NOW + 2 * HOUR)]),
        ReasonCode.FREEZE_IN_FORCE,
        None,
        id="freeze-outlasting-the-window",
    ),
    pytest.param(facts(conflicts=[OTHER]), ReasonCode.CONFLICTING_CHANGE, None, id="conflict"),
    pytest.param(
        facts(
            execution=execution(
                status=ExecutionStatus.IN_PROGRESS,
                stages=stages(StageStatus.RUNNING, *[StageStatus.PENDING] * 3),
            ),
            stage=2,
        ),
        ReasonCode.PREVIOUS_STAGE_NOT_VERIFIED,
        None,
        id="previous-stage-running",
    ),
    pytest.param(facts(service="payments"), ReasonCode.SERVICE_NOT_IN_CHANGE, None, id="service"),
    pytest.param(
        facts(environment="staging"), ReasonCode.ENVIRONMENT_MISMATCH, None, id="environment"
    ),
    pytest.param(facts(stage=9), ReasonCode.UNKNOWN_STAGE, None, id="unknown-stage"),
    pytest.param(
        facts(
            execution=execution(
                status=ExecutionStatus.IN_PROGRESS,
                stages=stages(StageStatus.COMPLETED, *[StageStatus.PENDING] * 3),
            )
        ),
        ReasonCode.STAGE_NOT_PENDING,
        None,
        id="stage-done",
    ),
    pytest.param(
        facts(execution=execution(status=ExecutionStatus.ROLLING_BACK)),
        ReasonCode.EXECUTION_NOT_ACTIVE,
        None,
        id="rolling-back",
    ),
]


@pytest.mark.parametrize(("gate_facts", "code", "next_allowed_at"), ALONE)
def test_each_reason_alone_denies_with_its_next_allowed_at(
    gate_facts: GateFacts, code: ReasonCode, next_allowed_at: datetime | None
) -> None:
    decision = decide(gate_facts)
    assert decision.allow is False
    assert [r.code for r in decision.reasons if r.blocking] == [code]
    assert decision.next_allowed_at == next_allowed_at
    assert all(reason.message for reason in decision.reasons)


def test_a_freeze_ending_after_the_window_opens_moves_next_allowed_at_to_its_end() -> None:
    gate_facts = facts(
        execution=execution(window_start=NOW + HOUR, window_end=NOW + 4 * HOUR),
        freezes=[freeze(NOW - HOUR, NOW + 2 * HOUR)],
    )
    decision = decide(gate_facts)
    assert codes(gate_facts) == [ReasonCode.OUTSIDE_WINDOW, ReasonCode.FREEZE_IN_FORCE]
    assert decision.next_allowed_at == NOW + 2 * HOUR


def test_a_future_freeze_covering_the_window_opening_pushes_next_allowed_at_past_it() -> None:
    gate_facts = facts(
        execution=execution(window_start=NOW + HOUR, window_end=NOW + 4 * HOUR),
        freezes=[freeze(NOW + 30 * timedelta(minutes=1), NOW + 90 * timedelta(minutes=1))],
    )
    decision = decide(gate_facts)
    assert codes(gate_facts) == [ReasonCode.OUTSIDE_WINDOW]
    assert decision.next_allowed_at == NOW + timedelta(minutes=90)


def test_back_to_back_freezes_chain() -> None:
    first = freeze(NOW - HOUR, NOW + HOUR)
    second = freeze(NOW + HOUR, NOW + 90 * timedelta(minutes=1))
    gate_facts = facts(execution=execution(window_end=NOW + 3 * HOUR), freezes=[second, first])
    assert decide(gate_facts).next_allowed_at == NOW + timedelta(minutes=90)


def test_an_expired_approval_means_no_next_time_whatever_else() -> None:
    gate_facts = facts(
        execution=execution(approval_expires_at=NOW + HOUR, window_start=NOW + 2 * HOUR),
    )
    decision = decide(gate_facts)
    assert codes(gate_facts) == [ReasonCode.OUTSIDE_WINDOW]
    assert decision.next_allowed_at is None


def test_a_non_time_reason_with_time_reasons_gives_no_next_time() -> None:
    gate_facts = facts(
        conflicts=[OTHER],
        freezes=[freeze(NOW - HOUR, NOW + 10 * timedelta(minutes=1))],
    )
    decision = decide(gate_facts)
    assert codes(gate_facts) == [ReasonCode.CONFLICTING_CHANGE, ReasonCode.FREEZE_IN_FORCE]
    assert decision.next_allowed_at is None


def test_every_reason_combined_is_listed() -> None:
    gate_facts = facts(
        service="payments",
        environment="staging",
        execution=execution(
            status=ExecutionStatus.IN_PROGRESS,
            approval_expires_at=NOW - HOUR,
            window_start=NOW + HOUR,
            window_end=NOW + 2 * HOUR,
            stages=stages(StageStatus.RUNNING, *[StageStatus.PENDING] * 3),
        ),
        stage=2,
        freezes=[freeze(NOW - HOUR, NOW + HOUR)],
        conflicts=[OTHER],
    )
    decision = decide(gate_facts)
    assert decision.allow is False
    assert decision.next_allowed_at is None
    assert codes(gate_facts) == [
        ReasonCode.SERVICE_NOT_IN_CHANGE,
        ReasonCode.ENVIRONMENT_MISMATCH,
        ReasonCode.PREVIOUS_STAGE_NOT_VERIFIED,
        ReasonCode.CONFLICTING_CHANGE,
        ReasonCode.APPROVAL_EXPIRED,
        ReasonCode.OUTSIDE_WINDOW,
        ReasonCode.FREEZE_IN_FORCE,
    ]


def test_an_emergency_passes_freezes_conflicts_and_the_window_and_says_so() -> None:
    gate_facts = facts(
        execution=execution(emergency=True, window_start=NOW + HOUR, window_end=NOW + 2 * HOUR),
        freezes=[freeze(NOW - HOUR, NOW + HOUR)],
        conflicts=[OTHER],
    )
    decision = decide(gate_facts)
    assert decision.allow is True
    assert codes(gate_facts) == []
    informational = codes(gate_facts, blocking=False)
    assert ReasonCode.EMERGENCY in informational
    assert {ReasonCode.FREEZE_IN_FORCE, ReasonCode.CONFLICTING_CHANGE} <= set(informational)
    emergency = next(r for r in decision.reasons if r.code is ReasonCode.EMERGENCY)
    assert "retrospective" in emergency.message


def test_an_emergency_does_not_revive_an_expired_approval() -> None:
    gate_facts = facts(execution=execution(emergency=True, approval_expires_at=NOW))
    assert codes(gate_facts) == [ReasonCode.APPROVAL_EXPIRED]


def test_a_freeze_override_lets_a_change_through_a_freeze_only() -> None:
    overridden = execution(freeze_override="CAB exception 42")
    decision = decide(facts(execution=overridden, freezes=[freeze(NOW - HOUR, NOW + HOUR)]))
    assert decision.allow is True
    assert any("CAB exception 42" in r.message for r in decision.reasons)
    assert decide(facts(execution=overridden, conflicts=[OTHER])).allow is False


def test_an_upcoming_freeze_is_a_warning_not_a_block() -> None:
    gate_facts = facts(freezes=[freeze(NOW + 10 * timedelta(minutes=1), NOW + 5 * HOUR)])
    decision = decide(gate_facts)
    assert decision.allow is True
    assert codes(gate_facts, blocking=False) == [ReasonCode.APPROVED, ReasonCode.FREEZE_UPCOMING]


def test_the_gate_picks_the_next_stage_when_none_is_named() -> None:
    rollout = stages(StageStatus.COMPLETED, StageStatus.PENDING, StageStatus.PENDING)
    in_progress = execution(status=ExecutionStatus.IN_PROGRESS, stages=rollout)
    decision = decide(facts(execution=in_progress, stage=None))
    assert decision.allow is True
    assert "stage 2 (10%)" in decision.reasons[0].message


def test_the_own_change_is_never_its_own_conflict() -> None:
    assert decide(facts(conflicts=[CHANGE])).allow is True


def test_a_running_rollout_pauses_under_a_freeze_until_it_ends() -> None:
    held = pause(facts(freezes=[freeze(NOW - HOUR, NOW + HOUR)]))
    assert held.allow is False
    assert [r.code for r in held.reasons] == [ReasonCode.FREEZE_IN_FORCE]
    assert held.next_allowed_at == NOW + HOUR
    assert pause(facts()).allow is True
    assert pause(facts(freezes=[freeze(NOW + HOUR, NOW + 2 * HOUR)])).allow is True


offsets = st.integers(min_value=-600, max_value=600).map(lambda m: NOW + timedelta(minutes=m))


@given(
    window=st.tuples(offsets, st.integers(1, 600)),
    frozen=st.lists(st.tuples(offsets, st.integers(1, 600)), max_size=4),
    expires=st.none() | offsets,
)
def test_next_allowed_at_is_the_first_instant_the_gate_allows(
    window: tuple[datetime, int],
    frozen: list[tuple[datetime, int]],
    expires: datetime | None,
) -> None:
    """Asked again at `next_allowed_at`, the gate allows; asked just before, it denies."""
    start, minutes = window
    gate_facts = facts(
        execution=execution(
            window_start=start,
            window_end=start + timedelta(minutes=minutes),
            approval_expires_at=expires,
        ),
        freezes=[freeze(f, f + timedelta(minutes=m)) for f, m in frozen],
    )
    decision = decide(gate_facts)
    if decision.allow or decision.next_allowed_at is None:
        return
    later = decision.next_allowed_at
    assert later > NOW
    assert decide(replace(gate_facts, now=later)).allow is True
    assert decide(replace(gate_facts, now=later - timedelta(microseconds=1))).allow is False
