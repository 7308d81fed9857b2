"""What every execution use case shares: locking an execution, starting it, stage events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.execution import domain
from services.execution.domain import Action, ChangeNotApproved, ExecutionStatus, GateDenied
from services.execution.gate_facts import Reason
from services.execution.models import Execution, ExecutionStage, tables
from services.execution.repository import ExecutionRepository
from shared.auth import Principal
from shared.contracts import EventType, ExecutionStarted, StagePhase, StageReport
from shared.errors import NotFound
from shared.outbox import record_event


class ExecutionNotFound(NotFound):
    code = "execution-not-found"
    title = "Execution not found"


class StageNotFound(NotFound):
    code = "stage-not-found"
    title = "Stage not found"


async def lock(session: AsyncSession, change_id: UUID) -> Execution:
    # Execution learns of a change only from its `change.approved` event.
    execution = await ExecutionRepository.from_session(session).get(change_id, for_update=True)
    if execution is None:
        raise ChangeNotApproved(f"Change {change_id} is not approved for execution.")
    return execution


def status_of(execution: Execution) -> ExecutionStatus:
    return ExecutionStatus(execution.status)


async def begin(session: AsyncSession, execution: Execution, principal: Principal) -> None:
    """ready -> in_progress, publishing `change.execution_started`."""
    execution.status = domain.transition(status_of(execution), Action.START).value
    execution.executor = principal.subject
    execution.started_at = datetime.now(UTC)
    execution.version += 1
    await session.flush()
    await record_event(
        session,
        tables,
        EventType.CHANGE_EXECUTION_STARTED,
        subject=str(execution.change_id),
        data=ExecutionStarted(
            executor=principal.subject,
            services=execution.services,
            environment=execution.environment,
        ),
        actor=principal.subject,
    )


async def stages_of(
    session: AsyncSession, change_id: UUID, phase: StagePhase
) -> list[ExecutionStage]:
    return await ExecutionRepository.from_session(session).stages(change_id, phase, for_update=True)


def find_stage(stages: Sequence[ExecutionStage], number: int, phase: StagePhase) -> ExecutionStage:
    found = next((stage for stage in stages if stage.number == number), None)
    if found is None:
        noun = "stage" if phase is StagePhase.ROLLOUT else "rollback step"
        raise StageNotFound(
            f"There is no {noun} {number}; the plan has {len(stages)}.", stages=len(stages)
        )
    return found


def report_of(stage: ExecutionStage, total: int) -> dict[str, object]:
    """The fields every stage event carries."""
    return StageReport(
        stage=stage.number,
        phase=StagePhase(stage.phase),
        name=stage.name,
        target_percent=stage.target_percent,
        stages=total,
    ).model_dump()


def denied(action: str, reasons: Sequence[Reason], next_allowed_at: datetime | None) -> GateDenied:
    blocking = [reason for reason in reasons if reason.blocking]
    return GateDenied(
        f"Cannot {action}: " + " ".join(reason.message for reason in blocking),
        reasons=[
            {"code": r.code.value, "message": r.message, "blocking": r.blocking} for r in reasons
        ],
        next_allowed_at=None if next_allowed_at is None else next_allowed_at.isoformat(),
    )
