"""The deploy gate's decision: a pure function of the facts, so it is fast and benchmarkable.

`decide(facts)` answers whether a deploy of one service to one environment, for one
stage of a change, may proceed at `facts.now`, with every reason (blocking or not) and,
when only time stands in the way, the earliest instant it will be allowed.
"""

from __future__ import annotations

from datetime import datetime

from services.execution.domain import ExecutionStatus, StageStatus
from services.execution.gate_facts import (
    ExecutionFacts,
    GateDecision,
    GateFacts,
    Reason,
    ReasonCode,
    StageFacts,
)

_OPEN = frozenset({ExecutionStatus.READY, ExecutionStatus.IN_PROGRESS})


def decide(facts: GateFacts) -> GateDecision:
    """May this deploy proceed now? Every reason, and when it may if only time is in the way."""
    execution = facts.execution
    if execution is None or execution.status is ExecutionStatus.CANCELLED:
        return GateDecision(
            allow=False,
            reasons=[
                Reason(
                    ReasonCode.NOT_APPROVED,
                    "The change is not approved (or was cancelled); it cannot be deployed.",
                )
            ],
        )
    structural = [
        *_scope_reasons(facts, execution),
        *_status_reasons(execution),
        *_stage_reasons(facts, execution),
    ]
    conflicts = _conflict_reasons(facts, execution)
    timed = _timed_reasons(facts, execution, facts.now)
    reasons = [*structural, *conflicts, *timed, *_emergency_reasons(execution)]
    blocked = [reason for reason in reasons if reason.blocking]
    if not blocked:
        stage = _target_stage(facts, execution)
        where = f"stage {stage.number} ({stage.name})" if stage else "the change"
        reasons.insert(
            0,
            Reason(
                ReasonCode.APPROVED,
                f"Approved: {where} may deploy {facts.service} to {facts.environment} now.",
                blocking=False,
            ),
        )
        return GateDecision(allow=True, reasons=reasons)
    only_time = all(reason in timed for reason in blocked)
    return GateDecision(
        allow=False,
        reasons=reasons,
        next_allowed_at=_next_allowed_at(facts, execution) if only_time else None,
    )


def pause(facts: GateFacts) -> GateDecision:
    """Whether a running rollout may move (a stage complete): only freezes hold it, until
    the earliest instant no freeze in force covers it."""
    execution = facts.execution
    assert execution is not None
    blocking = [r for r in _freeze_reasons(facts, execution, facts.now) if r.blocking]
    if not blocking:
        return GateDecision(allow=True)
    candidates = sorted(f.end for f in facts.freezes if f.end > facts.now)
    resumes_at = next(
        (
            instant
            for instant in candidates
            if not any(r.blocking for r in _freeze_reasons(facts, execution, instant))
        ),
        None,
    )
    return GateDecision(allow=False, reasons=blocking, next_allowed_at=resumes_at)


def _scope_reasons(facts: GateFacts, execution: ExecutionFacts) -> list[Reason]:
    reasons = []
    if facts.service not in execution.services:
        reasons.append(
            Reason(
                ReasonCode.SERVICE_NOT_IN_CHANGE,
                f"The change covers {', '.join(execution.services)}, not {facts.service}.",
            )
        )
    if facts.environment != execution.environment:
        reasons.append(
            Reason(
                ReasonCode.ENVIRONMENT_MISMATCH,
                f"The change is for {execution.environment}, not {facts.environment}.",
            )
        )
    return reasons


def _status_reasons(execution: ExecutionFacts) -> list[Reason]:
    if execution.status in _OPEN:
        return []
    return [
        Reason(
            ReasonCode.EXECUTION_NOT_ACTIVE,
            f"The execution is {execution.status.value}; nothing more may be rolled out.",
        )
    ]


def _target_stage(facts: GateFacts, execution: ExecutionFacts) -> StageFacts | None:
    if facts.stage is not None:
        return next((s for s in execution.stages if s.number == facts.stage), None)
    pending_or_running = (StageStatus.RUNNING, StageStatus.PENDING)
    for status in pending_or_running:
        found = next((s for s in execution.stages if s.status is status), None)
        if found is not None:
            return found
    return None


def _stage_reasons(facts: GateFacts, execution: ExecutionFacts) -> list[Reason]:
    if execution.status not in _OPEN:
        return []
    stage = _target_stage(facts, execution)
    if stage is None:
        if facts.stage is not None:
            return [
                Reason(
                    ReasonCode.UNKNOWN_STAGE,
                    f"The rollout plan has {len(execution.stages)} stage(s); "
                    f"there is no stage {facts.stage}.",
                )
            ]
        return [Reason(ReasonCode.STAGE_NOT_PENDING, "Every stage of the rollout is done.")]
    if stage.status not in (StageStatus.PENDING, StageStatus.RUNNING):
        return [
            Reason(
                ReasonCode.STAGE_NOT_PENDING,
                f"Stage {stage.number} ({stage.name}) is {stage.status.value}.",
            )
        ]
    previous = next((s for s in execution.stages if s.number == stage.number - 1), None)
    if previous is not None and previous.status is not StageStatus.COMPLETED:
        return [
            Reason(
                ReasonCode.PREVIOUS_STAGE_NOT_VERIFIED,
                f"Stage {previous.number} ({previous.name}) is {previous.status.value}; it must "
                f"be verified and completed before stage {stage.number} ({stage.name}).",
            )
        ]
    return []


def _conflict_reasons(facts: GateFacts, execution: ExecutionFacts) -> list[Reason]:
    others = [change_id for change_id in facts.conflicts if change_id != execution.change_id]
    if not others:
        return []
    names = ", ".join(str(change_id) for change_id in others)
    return [
        Reason(
            ReasonCode.CONFLICTING_CHANGE,
            f"Change(s) {names} in progress on {facts.service} in {facts.environment}"
            + (" (allowed: emergency change)." if execution.emergency else "."),
            blocking=not execution.emergency,
        )
    ]


def _timed_reasons(facts: GateFacts, execution: ExecutionFacts, at: datetime) -> list[Reason]:
    """Reasons that time alone creates or removes: expiry, the window, freezes."""
    reasons = []
    if execution.approval_expires_at is not None and at >= execution.approval_expires_at:
        reasons.append(
            Reason(
                ReasonCode.APPROVAL_EXPIRED,
                f"The approval expired at {execution.approval_expires_at.isoformat()}; "
                "the change must be approved again.",
            )
        )
    if not execution.window_start <= at < execution.window_end:
        when = "opens" if at < execution.window_start else "closed"
        instant = execution.window_start if at < execution.window_start else execution.window_end
        reasons.append(
            Reason(
                ReasonCode.OUTSIDE_WINDOW,
                f"The planned window {when} at {instant.isoformat()}"
                + (" (allowed: emergency change)." if execution.emergency else "."),
                blocking=not execution.emergency,
            )
        )
    reasons += _freeze_reasons(facts, execution, at)
    return reasons


def _freeze_reasons(facts: GateFacts, execution: ExecutionFacts, at: datetime) -> list[Reason]:
    reasons = []
    exempt = execution.emergency or execution.freeze_override is not None
    for freeze in facts.freezes:
        if freeze.covers(at):
            exemption = ""
            if execution.freeze_override is not None:
                exemption = f" (overridden: {execution.freeze_override})"
            elif execution.emergency:
                exemption = " (allowed: emergency change)"
            reasons.append(
                Reason(
                    ReasonCode.FREEZE_IN_FORCE,
                    f"Freeze {freeze.freeze_window_id} until {freeze.end.isoformat()}: "
                    f"{freeze.reason}{exemption}.",
                    blocking=not exempt,
                )
            )
        elif at < freeze.start < execution.window_end:
            reasons.append(
                Reason(
                    ReasonCode.FREEZE_UPCOMING,
                    f"Freeze {freeze.freeze_window_id} starts at {freeze.start.isoformat()} "
                    f"({freeze.reason}); the rollout pauses then.",
                    blocking=False,
                )
            )
    return reasons


def _emergency_reasons(execution: ExecutionFacts) -> list[Reason]:
    if not execution.emergency:
        return []
    return [
        Reason(
            ReasonCode.EMERGENCY,
            "Emergency change: approved by one change manager, it may start before its full "
            "review; a retrospective is mandatory.",
            blocking=False,
        )
    ]


def _next_allowed_at(facts: GateFacts, execution: ExecutionFacts) -> datetime | None:
    """The earliest instant, from now, at which no time-bound reason blocks; None if never."""
    candidates = {facts.now, execution.window_start, *(f.end for f in facts.freezes)}
    for instant in sorted(c for c in candidates if c >= facts.now):
        if not any(r.blocking for r in _timed_reasons(facts, execution, instant)):
            return instant
    return None
