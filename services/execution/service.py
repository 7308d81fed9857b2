"""Execution use cases: they lock, apply the state machine, save and record events; never commit."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.execution import domain, readmodel
from services.execution import stages as stage_cases
from services.execution.domain import (
    Action,
    ExecutionStatus,
    PlanLocked,
    StageAction,
    StagesIncomplete,
    StageStatus,
)
from services.execution.lifecycle import ExecutionNotFound, begin, lock, status_of
from services.execution.models import Execution, ExecutionStage, tables
from services.execution.plan import RolloutPlan
from services.execution.repository import ExecutionRepository
from services.execution.schemas import AcceptanceCreate, CompletionCreate, ExecutionRead
from shared.auth import Principal
from shared.concurrency import check_version
from shared.contracts import (
    ChangeAccepted,
    EventType,
    ExecutionFinished,
    Outcome,
    StagePhase,
)
from shared.errors import Conflict
from shared.outbox import record_event

# An outcome must say what happened: a rolled-back change is not "successful".
_OUTCOMES_AFTER = {
    ExecutionStatus.COMPLETED: frozenset({Outcome.SUCCESSFUL, Outcome.FAILED}),
    ExecutionStatus.FAILED: frozenset({Outcome.FAILED}),
    ExecutionStatus.ROLLED_BACK: frozenset({Outcome.ROLLED_BACK}),
}


class OutcomeContradictsExecution(Conflict):
    code = "outcome-contradicts-execution"
    title = "The outcome contradicts how the execution ended"


async def get_execution(session: AsyncSession, change_id: UUID) -> ExecutionRead:
    execution = await ExecutionRepository.from_session(session).get(change_id)
    if execution is None:
        raise ExecutionNotFound(f"No execution for change {change_id}; it is not approved yet.")
    return await readmodel.to_read(session, execution)


async def replace_plan(
    session: AsyncSession,
    change_id: UUID,
    plan: RolloutPlan,
    principal: Principal,
    *,
    if_match: str | None,
) -> ExecutionRead:
    """Replace the rollout plan of an execution that has not started.

    `if_match` must name the execution's version (the ETag of its GET), so that a plan that
    someone else replaced since it was read is never overwritten unseen.
    """
    execution = await lock(session, change_id)
    if status_of(execution) is not ExecutionStatus.READY:
        raise PlanLocked(
            f"The execution is {execution.status}; its plan is fixed once it starts.",
            current_status=execution.status,
        )
    check_version(if_match, execution.version, noun="execution")
    repository = ExecutionRepository.from_session(session)
    await repository.replace_rollout(change_id, plan)
    execution.auto_rollback = plan.auto_rollback
    if plan.rollback_steps:
        execution.rollback_plan = list(plan.rollback_steps)
    execution.plan_source = "custom"
    return await readmodel.to_read(session, await repository.flush(execution))


async def start_execution(
    session: AsyncSession, change_id: UUID, principal: Principal
) -> ExecutionRead:
    execution = await lock(session, change_id)
    await begin(session, execution, principal)
    return await readmodel.to_read(session, execution)


async def complete_execution(
    session: AsyncSession, change_id: UUID, body: CompletionCreate, principal: Principal
) -> ExecutionRead:
    """Finish the rollout: every stage completed, or the one stage of a single-stage plan."""
    execution = await lock(session, change_id)
    target = domain.transition(status_of(execution), Action.COMPLETE)
    repository = ExecutionRepository.from_session(session)
    stages = await repository.stages(change_id, StagePhase.ROLLOUT, for_update=True)
    now = datetime.now(UTC)
    if len(stages) == 1 and stages[0].status != StageStatus.COMPLETED.value:
        await _complete_sole_stage(session, stages[0], execution, principal, now)
    unfinished = [s for s in stages if s.status != StageStatus.COMPLETED.value]
    if unfinished:
        raise StagesIncomplete(
            "Complete every stage first; not completed: "
            + ", ".join(f"{s.number} ({s.name}, {s.status})" for s in unfinished)
            + ".",
            stages=[s.number for s in unfinished],
        )
    execution.status = target.value
    execution.completion_notes = body.notes
    execution.finished_at = now
    execution.version += 1
    execution = await repository.flush(execution)
    await record_event(
        session,
        tables,
        EventType.CHANGE_COMPLETED,
        subject=str(change_id),
        data=ExecutionFinished(executor=principal.subject, notes=body.notes),
        actor=principal.subject,
    )
    return await readmodel.to_read(session, execution)


async def _complete_sole_stage(
    session: AsyncSession,
    stage: ExecutionStage,
    execution: Execution,
    principal: Principal,
    now: datetime,
) -> None:
    """A single-stage plan is the whole change: completing the change completes its stage.

    Its planned checks must still have results, and its bake time must have passed. A stage
    never started on its own is implicit: `change.completed` reports it, no stage event.
    """
    implicit = stage.status == StageStatus.PENDING.value
    if implicit:
        domain.stage_transition(StageStatus.PENDING, StageAction.START)
        stage.status = StageStatus.RUNNING.value
        stage.started_at = execution.started_at or now
        stage.started_by = principal.subject
    await stage_cases.finish_stage(
        session, execution, stage, principal, now, total=1, publish=not implicit
    )


async def accept_execution(
    session: AsyncSession, change_id: UUID, body: AcceptanceCreate, principal: Principal
) -> ExecutionRead:
    execution = await lock(session, change_id)
    repository = ExecutionRepository.from_session(session)
    running = [
        s
        for phase in StagePhase
        for s in await repository.stages(change_id, phase)
        if s.status == StageStatus.RUNNING.value
    ]
    if running:
        raise domain.StageRunning(
            f"Stage {running[0].number} ({running[0].name}) is still running; accept the change "
            "once the rollout or its rollback has finished.",
            stage=running[0].number,
        )
    current = status_of(execution)
    target = domain.transition(current, Action.ACCEPT)
    allowed = _OUTCOMES_AFTER[current]
    if body.outcome not in allowed:
        raise OutcomeContradictsExecution(
            f"The execution is {current.value}; its outcome can be: "
            f"{', '.join(sorted(o.value for o in allowed))}.",
            allowed_outcomes=sorted(o.value for o in allowed),
        )
    execution.status = target.value
    execution.outcome = body.outcome.value
    execution.acceptance_notes = body.notes
    execution.acceptance = body.model_dump(mode="json", exclude={"outcome", "notes"})
    execution.accepted_at = datetime.now(UTC)
    execution.version += 1
    execution = await repository.flush(execution)
    await record_event(
        session,
        tables,
        EventType.CHANGE_ACCEPTED,
        subject=str(change_id),
        data=ChangeAccepted(outcome=body.outcome, accepted_by=principal.subject, notes=body.notes),
        actor=principal.subject,
    )
    return await readmodel.to_read(session, execution)
