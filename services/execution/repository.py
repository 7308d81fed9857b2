"""Every query of the execution service's executions, stages, plans and verifications."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.execution.domain import ExecutionStatus, StageStatus
from services.execution.models import Execution, ExecutionStage, PlannedChange, Verification
from services.execution.plan import RolloutPlan
from shared.contracts import ChangeApproved, ChangeSnapshot, StagePhase


class ExecutionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> ExecutionRepository:
        return cls(session)

    async def get(self, change_id: UUID, *, for_update: bool = False) -> Execution | None:
        statement = select(Execution).where(Execution.change_id == change_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def put_ready(self, change_id: UUID, approval: ChangeApproved) -> Execution | None:
        """Make the change ready, or refresh what a ready execution knows of its approval.

        A later approval (after a reschedule) updates a ready execution; one that has
        started or closed keeps what it was approved with (then None is returned).
        """
        values = {
            "services": approval.services,
            "environment": approval.environment,
            "impact_level": approval.impact_level.value,
            "window_start_at": approval.window.start,
            "window_end_at": approval.window.end,
            "approvers": approval.approvers,
            "emergency": approval.emergency,
            "retrospective_required": approval.retrospective_required or approval.emergency,
            "approval_expires_at": approval.approval_expires_at,
            "freeze_override": approval.freeze_override,
        }
        statement = insert(Execution).values(
            change_id=change_id, status=ExecutionStatus.READY.value, version=1, **values
        )
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[Execution.change_id],
                set_={**values, "version": Execution.version + 1},
                where=Execution.status == ExecutionStatus.READY.value,
            )
        )
        execution = await self.get(change_id, for_update=True)
        if execution is None or execution.status != ExecutionStatus.READY.value:
            return None
        await self.session.refresh(execution)
        return execution

    async def flush(self, execution: Execution) -> Execution:
        await self.session.flush()
        await self.session.refresh(execution)
        return execution

    # -- the change as requested -------------------------------------------------------------

    async def put_planned_change(self, snapshot: ChangeSnapshot) -> bool:
        """Keep the newest snapshot of a change; False when `snapshot` is not newer."""
        values = {
            "category": snapshot.category.value,
            "plans": snapshot.plans.model_dump(mode="json"),
            "emergency": snapshot.emergency,
            "version": snapshot.version,
        }
        result = await self.session.execute(
            insert(PlannedChange)
            .values(change_id=snapshot.change_id, **values)
            .on_conflict_do_update(
                index_elements=[PlannedChange.change_id],
                set_=values,
                where=PlannedChange.version < snapshot.version,
            )
            .returning(PlannedChange.change_id)
        )
        return result.first() is not None

    async def planned_change(self, change_id: UUID) -> PlannedChange | None:
        return await self.session.get(PlannedChange, change_id)

    # -- stages ------------------------------------------------------------------------------

    async def stages(
        self, change_id: UUID, phase: StagePhase, *, for_update: bool = False
    ) -> list[ExecutionStage]:
        statement = (
            select(ExecutionStage)
            .where(ExecutionStage.change_id == change_id, ExecutionStage.phase == phase.value)
            .order_by(ExecutionStage.number)
        )
        if for_update:
            statement = statement.with_for_update()
        return list((await self.session.execute(statement)).scalars())

    async def replace_rollout(self, change_id: UUID, plan: RolloutPlan) -> None:
        """The rollout stages of `plan`, all pending, in place of any there were.

        Replacing a plan makes a new version of the execution (its ETag), whoever replaces it
        (an executor, or a newer snapshot of the change), so that an edit made on the old plan
        fails its `If-Match`. The first plan of an execution is part of its first version.
        """
        replaced = await self.session.execute(
            delete(ExecutionStage)
            .where(
                ExecutionStage.change_id == change_id,
                ExecutionStage.phase == StagePhase.ROLLOUT.value,
            )
            .returning(ExecutionStage.number)
        )
        if replaced.first() is not None:
            await self.session.execute(
                update(Execution)
                .where(Execution.change_id == change_id)
                .values(version=Execution.version + 1)
            )
        self.session.add_all(
            ExecutionStage(
                change_id=change_id,
                phase=StagePhase.ROLLOUT.value,
                number=number,
                name=stage.label,
                target_percent=stage.target_percent,
                bake_seconds=stage.bake_seconds,
                checks=[check.model_dump(mode="json") for check in stage.checks],
                status=StageStatus.PENDING.value,
            )
            for number, stage in enumerate(plan.stages, start=1)
        )
        await self.session.flush()

    async def add_rollback_steps(self, change_id: UUID, steps: Sequence[str]) -> None:
        self.session.add_all(
            ExecutionStage(
                change_id=change_id,
                phase=StagePhase.ROLLBACK.value,
                number=number,
                name=step,
                status=StageStatus.PENDING.value,
                checks=[],
            )
            for number, step in enumerate(steps, start=1)
        )
        await self.session.flush()

    # -- verifications -----------------------------------------------------------------------

    async def verifications(self, change_id: UUID, stage: int | None = None) -> list[Verification]:
        statement = select(Verification).where(Verification.change_id == change_id)
        if stage is not None:
            statement = statement.where(Verification.stage == stage)
        statement = statement.order_by(Verification.recorded_at, Verification.id)
        return list((await self.session.execute(statement)).scalars())

    async def add_verifications(self, rows: Sequence[Verification]) -> None:
        self.session.add_all(rows)
        await self.session.flush()
