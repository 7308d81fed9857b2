"""Rollback: from any stage, irreversible, its steps (the emergency plan's) tracked like stages."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.execution import domain, readmodel
from services.execution.domain import Action, ExecutionStatus, StageAction, StageStatus
from services.execution.lifecycle import find_stage, lock, report_of, stages_of, status_of
from services.execution.models import Execution, ExecutionStage, tables
from services.execution.plan import DEFAULT_ROLLBACK_STEP
from services.execution.repository import ExecutionRepository
from services.execution.schemas import CompletionCreate, ExecutionRead, RollbackCreate
from shared.auth import Principal
from shared.contracts import EventType, ExecutionFinished, StageCompleted, StagePhase, StageStarted
from shared.errors import Conflict, InvalidTransition
from shared.outbox import record_event


class PreviousStepNotCompleted(Conflict):
    code = "previous-step-not-completed"
    title = "The previous rollback step is not completed"


async def start_rollback(
    session: AsyncSession, change_id: UUID, body: RollbackCreate, principal: Principal
) -> ExecutionRead:
    execution = await lock(session, change_id)
    domain.transition(status_of(execution), Action.ROLLBACK)
    rollout = await stages_of(session, change_id, StagePhase.ROLLOUT)
    started = [s.number for s in rollout if s.started_at is not None]
    stage_reached = (
        body.stage_reached if body.stage_reached is not None else max(started, default=0)
    )
    now = datetime.now(UTC)
    for stage in rollout:
        if stage.status == StageStatus.RUNNING.value:
            stage.status = domain.stage_transition(StageStatus.RUNNING, StageAction.ABORT).value
            stage.finished_at = now
            stage.failure_reason = f"Aborted by a rollback: {body.reason}"
        elif stage.status == StageStatus.PENDING.value:
            stage.status = StageStatus.SKIPPED.value
    await begin_rollback(
        session,
        execution,
        reason=body.reason,
        stage_reached=stage_reached,
        actor=principal.subject,
        now=now,
    )
    return await readmodel.to_read(session, execution)


async def begin_rollback(
    session: AsyncSession,
    execution: Execution,
    *,
    reason: str,
    stage_reached: int | None,
    actor: str,
    now: datetime,
) -> None:
    """Move to rolling back, lay out the steps and start the first (published at once)."""
    execution.status = domain.transition(status_of(execution), Action.ROLLBACK).value
    execution.rollback_reason = reason
    execution.rollback_from_stage = stage_reached
    execution.rollback_requested_by = actor
    execution.rollback_started_at = now
    execution.version += 1
    steps = list(execution.rollback_plan or []) or [DEFAULT_ROLLBACK_STEP]
    repository = ExecutionRepository.from_session(session)
    await repository.add_rollback_steps(execution.change_id, steps)
    first = (await stages_of(session, execution.change_id, StagePhase.ROLLBACK))[0]
    await _start_step(session, execution, first, actor, now, total=len(steps))


async def _start_step(
    session: AsyncSession,
    execution: Execution,
    step: ExecutionStage,
    actor: str,
    now: datetime,
    *,
    total: int,
) -> None:
    step.status = domain.stage_transition(StageStatus(step.status), StageAction.START).value
    step.started_at = now
    step.started_by = actor
    await session.flush()
    await record_event(
        session,
        tables,
        EventType.CHANGE_STAGE_STARTED,
        subject=str(execution.change_id),
        data=StageStarted(
            **report_of(step, total), started_by=actor, emergency=execution.emergency
        ),
        actor=actor,
    )


def _check_rolling_back(execution: Execution) -> None:
    if status_of(execution) is not ExecutionStatus.ROLLING_BACK:
        raise InvalidTransition(
            f"Rollback steps run only while rolling back; this execution is {execution.status}.",
            current_status=execution.status,
            allowed_statuses=[ExecutionStatus.ROLLING_BACK.value],
        )


async def start_step(
    session: AsyncSession, change_id: UUID, number: int, principal: Principal
) -> ExecutionRead:
    execution = await lock(session, change_id)
    steps = await stages_of(session, change_id, StagePhase.ROLLBACK)
    _check_rolling_back(execution)
    step = find_stage(steps, number, StagePhase.ROLLBACK)
    domain.stage_transition(StageStatus(step.status), StageAction.START)
    previous = next((s for s in steps if s.number == number - 1), None)
    if previous is not None and previous.status != StageStatus.COMPLETED.value:
        raise PreviousStepNotCompleted(
            f"Rollback step {previous.number} ({previous.name}) is {previous.status}; "
            "complete it first.",
            step=previous.number,
        )
    await _start_step(
        session, execution, step, principal.subject, datetime.now(UTC), total=len(steps)
    )
    return await readmodel.to_read(session, execution)


async def complete_step(
    session: AsyncSession,
    change_id: UUID,
    number: int,
    body: CompletionCreate,
    principal: Principal,
) -> ExecutionRead:
    execution = await lock(session, change_id)
    steps = await stages_of(session, change_id, StagePhase.ROLLBACK)
    _check_rolling_back(execution)
    step = find_stage(steps, number, StagePhase.ROLLBACK)
    step.status = domain.stage_transition(StageStatus(step.status), StageAction.COMPLETE).value
    now = datetime.now(UTC)
    step.finished_at = now
    step.finished_by = principal.subject
    step.notes = body.notes
    await session.flush()
    await record_event(
        session,
        tables,
        EventType.CHANGE_STAGE_COMPLETED,
        subject=str(change_id),
        data=StageCompleted(**report_of(step, len(steps)), completed_by=principal.subject),
        actor=principal.subject,
    )
    if all(s.status == StageStatus.COMPLETED.value for s in steps):
        execution.status = domain.transition(status_of(execution), Action.FINISH_ROLLBACK).value
        execution.finished_at = now
        execution.version += 1
        await session.flush()
        await record_event(
            session,
            tables,
            EventType.CHANGE_ROLLED_BACK,
            subject=str(change_id),
            data=ExecutionFinished(executor=principal.subject, notes=execution.rollback_reason),
            actor=principal.subject,
        )
    return await readmodel.to_read(session, execution)
