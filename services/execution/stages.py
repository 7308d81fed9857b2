"""Rollout stages: start behind the gate, take verification results, complete or fail."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.execution import domain, gate, readmodel
from services.execution.domain import Action, ExecutionStatus, StageAction, StageStatus
from services.execution.gate_facts import GateFacts
from services.execution.gate_repository import GateRepository
from services.execution.lifecycle import begin, denied, find_stage, lock, report_of, stages_of
from services.execution.models import Execution, ExecutionStage, Verification, tables
from services.execution.plan import PlannedCheck
from services.execution.repository import ExecutionRepository
from services.execution.rollback import begin_rollback
from services.execution.schemas import (
    CheckResult,
    CompletionCreate,
    ExecutionRead,
    StageRead,
    VerificationCreate,
)
from shared.auth import Principal
from shared.contracts import (
    EventType,
    ExecutionFinished,
    StageCompleted,
    StageFailed,
    StagePhase,
    StageStarted,
)
from shared.errors import InvalidRequest
from shared.outbox import record_event

_PASSING = (CheckResult.PASS.value, CheckResult.WARN.value)


async def _facts(
    session: AsyncSession, execution: Execution, now: datetime, stage: int | None = None
) -> GateFacts:
    return await GateRepository.from_session(session).facts(
        execution.change_id,
        services=execution.services,
        environment=execution.environment,
        now=now,
        stage=stage,
    )


async def start_stage(
    session: AsyncSession, change_id: UUID, number: int, principal: Principal
) -> ExecutionRead:
    """Start stage `number` if the gate allows it; the first stage starts the execution too."""
    execution = await lock(session, change_id)
    stages = await stages_of(session, change_id, StagePhase.ROLLOUT)
    stage = find_stage(stages, number, StagePhase.ROLLOUT)
    domain.stage_transition(StageStatus(stage.status), StageAction.START)
    now = datetime.now(UTC)
    decision = gate.decide(await _facts(session, execution, now, number))
    if not decision.allow:
        raise denied(f"start stage {number}", decision.reasons, decision.next_allowed_at)
    if ExecutionStatus(execution.status) is ExecutionStatus.READY:
        await begin(session, execution, principal)
    stage.status = StageStatus.RUNNING.value
    stage.started_at = now
    stage.started_by = principal.subject
    await session.flush()
    await record_event(
        session,
        tables,
        EventType.CHANGE_STAGE_STARTED,
        subject=str(change_id),
        data=StageStarted(
            **report_of(stage, len(stages)),
            started_by=principal.subject,
            emergency=execution.emergency,
        ),
        actor=principal.subject,
    )
    return await readmodel.to_read(session, execution)


async def record_verifications(
    session: AsyncSession,
    change_id: UUID,
    number: int,
    body: VerificationCreate,
    principal: Principal,
) -> StageRead:
    """Take a stage's check results; a `fail` fails the stage and stops the rollout."""
    execution = await lock(session, change_id)
    stages = await stages_of(session, change_id, StagePhase.ROLLOUT)
    stage = find_stage(stages, number, StagePhase.ROLLOUT)
    domain.stage_transition(StageStatus(stage.status), StageAction.VERIFY)
    planned = {check["name"]: PlannedCheck.model_validate(check) for check in stage.checks}
    unknown_kind = [
        index
        for index, result in enumerate(body.results)
        if result.kind is None and result.name not in planned
    ]
    if unknown_kind:
        raise InvalidRequest(
            "Give the kind of each check that is not in the stage's plan.",
            errors=[
                {"loc": ["body", "results", i, "kind"], "msg": "required", "type": "missing"}
                for i in unknown_kind
            ],
        )
    rows = []
    for result in body.results:
        plan = planned.get(result.name)
        kind = result.kind or (plan.kind if plan else None)
        assert kind is not None
        rows.append(
            Verification(
                change_id=change_id,
                stage=number,
                name=result.name,
                kind=kind.value,
                result=result.result.value,
                measured=result.measured,
                expected=result.expected or (plan.expected if plan else None),
                notes=result.notes,
                recorded_by=principal.subject,
            )
        )
    await ExecutionRepository.from_session(session).add_verifications(rows)
    failed = [row.name for row in rows if row.result == CheckResult.FAIL.value]
    if failed:
        await fail_stage(
            session,
            execution,
            stages,
            stage,
            reason=f"Check(s) failed at stage {number} ({stage.name}): {', '.join(failed)}.",
            failed_checks=failed,
            actor=principal.subject,
        )
    verifications = await ExecutionRepository.from_session(session).verifications(change_id, number)
    return readmodel.stage_read(stage, verifications)


async def complete_stage(
    session: AsyncSession,
    change_id: UUID,
    number: int,
    body: CompletionCreate,
    principal: Principal,
) -> ExecutionRead:
    execution = await lock(session, change_id)
    stages = await stages_of(session, change_id, StagePhase.ROLLOUT)
    stage = find_stage(stages, number, StagePhase.ROLLOUT)
    domain.stage_transition(StageStatus(stage.status), StageAction.COMPLETE)
    now = datetime.now(UTC)
    held = gate.pause(await _facts(session, execution, now))
    if not held.allow:
        raise denied(f"complete stage {number}", held.reasons, held.next_allowed_at)
    stage.notes = body.notes
    await finish_stage(session, execution, stage, principal, now, total=len(stages))
    return await readmodel.to_read(session, execution)


async def finish_stage(
    session: AsyncSession,
    execution: Execution,
    stage: ExecutionStage,
    principal: Principal,
    now: datetime,
    *,
    total: int,
    publish: bool = True,
) -> None:
    """Complete a running stage once it has baked and every planned check has a result."""
    assert stage.started_at is not None
    domain.check_bake_time(stage.started_at, stage.bake_seconds, now)
    verifications = await ExecutionRepository.from_session(session).verifications(
        execution.change_id, stage.number
    )
    passing = {v.name for v in verifications if v.result in _PASSING}
    domain.check_results_complete([check["name"] for check in stage.checks], passing)
    stage.status = domain.stage_transition(StageStatus(stage.status), StageAction.COMPLETE).value
    stage.finished_at = now
    stage.finished_by = principal.subject
    await session.flush()
    if not publish:
        return
    await record_event(
        session,
        tables,
        EventType.CHANGE_STAGE_COMPLETED,
        subject=str(execution.change_id),
        data=StageCompleted(
            **report_of(stage, total), completed_by=principal.subject, verified=sorted(passing)
        ),
        actor=principal.subject,
    )


async def fail_stage(
    session: AsyncSession,
    execution: Execution,
    stages: list[ExecutionStage],
    stage: ExecutionStage,
    *,
    reason: str,
    actor: str,
    failed_checks: list[str] | None = None,
    deployment_id: UUID | None = None,
) -> None:
    """Stop the rollout at `stage`; roll back by itself when the plan says so."""
    now = datetime.now(UTC)
    stage.status = domain.stage_transition(StageStatus(stage.status), StageAction.FAIL).value
    stage.finished_at = now
    stage.failure_reason = reason
    for later in stages:
        if later.status == StageStatus.PENDING.value:
            later.status = StageStatus.SKIPPED.value
    execution.failure_reason = reason
    await session.flush()
    await record_event(
        session,
        tables,
        EventType.CHANGE_STAGE_FAILED,
        subject=str(execution.change_id),
        data=StageFailed(
            **report_of(stage, len(stages)),
            reason=reason,
            failed_checks=failed_checks or [],
            deployment_id=deployment_id,
            rollback_started=execution.auto_rollback,
        ),
        actor=actor,
    )
    if execution.auto_rollback:
        await begin_rollback(
            session, execution, reason=reason, stage_reached=stage.number, actor=actor, now=now
        )
        return
    execution.status = domain.transition(ExecutionStatus(execution.status), Action.FAIL).value
    execution.finished_at = now
    execution.version += 1
    await session.flush()
    await record_event(
        session,
        tables,
        EventType.CHANGE_FAILED,
        subject=str(execution.change_id),
        data=ExecutionFinished(executor=actor, notes=reason),
        actor=actor,
    )
