"""Every query of the execution service."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.execution.domain import ExecutionStatus
from services.execution.models import Execution
from shared.contracts import ChangeApproved


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

    async def put_ready(self, change_id: UUID, approval: ChangeApproved) -> None:
        """Make the change ready, or refresh what a ready execution knows of its approval.

        A later approval (after a reschedule) updates a ready execution; one that
        has started or closed keeps what it was approved with.
        """
        values = {
            "services": approval.services,
            "environment": approval.environment,
            "impact_level": approval.impact_level.value,
            "window_start_at": approval.window.start,
            "window_end_at": approval.window.end,
            "approvers": approval.approvers,
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

    async def flush(self, execution: Execution) -> Execution:
        await self.session.flush()
        await self.session.refresh(execution)
        return execution
