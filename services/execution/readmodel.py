"""How an execution reads: its stages with their results, its rollback, and whether it is paused."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.execution import gate
from services.execution.domain import ExecutionStatus, bake_ends_at
from services.execution.gate_repository import GateRepository
from services.execution.models import Execution, ExecutionStage, Verification
from services.execution.repository import ExecutionRepository
from services.execution.schemas import (
    ExecutionRead,
    RollbackRead,
    StageRead,
    VerificationRead,
)
from shared.contracts import GateReason, StagePhase


def stage_read(stage: ExecutionStage, verifications: Sequence[Verification]) -> StageRead:
    return StageRead(
        number=stage.number,
        phase=StagePhase(stage.phase),
        name=stage.name,
        target_percent=stage.target_percent,
        bake_seconds=stage.bake_seconds,
        bake_ends_at=(
            bake_ends_at(stage.started_at, stage.bake_seconds) if stage.started_at else None
        ),
        checks=stage.checks,
        status=stage.status,
        started_at=stage.started_at,
        started_by=stage.started_by,
        finished_at=stage.finished_at,
        finished_by=stage.finished_by,
        failure_reason=stage.failure_reason,
        notes=stage.notes,
        verifications=[
            VerificationRead(
                id=v.id,
                name=v.name,
                kind=v.kind,
                result=v.result,
                measured=v.measured,
                expected=v.expected,
                notes=v.notes,
                recorded_by=v.recorded_by,
                recorded_at=v.recorded_at,
            )
            for v in verifications
            if v.stage == stage.number
        ],
    )


async def to_read(session: AsyncSession, execution: Execution) -> ExecutionRead:
    repository = ExecutionRepository.from_session(session)
    await session.flush()
    await session.refresh(execution)
    rollout = await repository.stages(execution.change_id, StagePhase.ROLLOUT)
    steps = await repository.stages(execution.change_id, StagePhase.ROLLBACK)
    verifications = await repository.verifications(execution.change_id)
    paused_by: list[GateReason] = []
    if ExecutionStatus(execution.status) is ExecutionStatus.IN_PROGRESS:
        facts = await GateRepository.from_session(session).facts(
            execution.change_id,
            services=execution.services,
            environment=execution.environment,
            now=datetime.now(UTC),
        )
        paused_by = [
            GateReason(code=r.code.value, message=r.message, blocking=r.blocking)
            for r in gate.pause(facts).reasons
        ]
    rollback = None
    if execution.rollback_started_at is not None:
        assert execution.rollback_reason is not None
        assert execution.rollback_requested_by is not None
        rollback = RollbackRead(
            reason=execution.rollback_reason,
            stage_reached=execution.rollback_from_stage,
            requested_by=execution.rollback_requested_by,
            started_at=execution.rollback_started_at,
            steps=[stage_read(step, []) for step in steps],
        )
    return ExecutionRead(
        change_id=execution.change_id,
        status=execution.status,
        services=execution.services,
        environment=execution.environment,
        impact_level=execution.impact_level,
        executor=execution.executor,
        outcome=execution.outcome,
        notes=execution.acceptance_notes,
        completion_notes=execution.completion_notes,
        ready_at=execution.ready_at,
        started_at=execution.started_at,
        finished_at=execution.finished_at,
        accepted_at=execution.accepted_at,
        version=execution.version,
        window_start=execution.window_start_at,
        window_end=execution.window_end_at,
        emergency=execution.emergency,
        retrospective_required=execution.retrospective_required,
        approval_expires_at=execution.approval_expires_at,
        auto_rollback=execution.auto_rollback,
        plan_source=execution.plan_source,
        stages=[stage_read(stage, verifications) for stage in rollout],
        failure_reason=execution.failure_reason,
        rollback=rollback,
        paused=bool(paused_by),
        paused_by=paused_by,
        acceptance=execution.acceptance,
    )
