"""Every query of the review service."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from services.review.models import Approval, Assessment


class AssessmentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> AssessmentRepository:
        return cls(session)

    async def get(self, change_id: UUID, *, for_update: bool = False) -> Assessment | None:
        """The assessment with its approvals; `for_update` locks the assessment row."""
        statement = (
            select(Assessment)
            .where(Assessment.change_id == change_id)
            .options(selectinload(Assessment.approvals))
        )
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def add_if_absent(self, assessment: Assessment) -> bool:
        """Insert `assessment` unless its change already has one; True when inserted.

        `ON CONFLICT DO NOTHING` rather than read-then-insert, so a second
        `change.requested` for the same change is a no-op even when it races the first.
        """
        values = {
            column.key: value
            for column in Assessment.__table__.columns
            if (value := getattr(assessment, column.key)) is not None
        }
        inserted = await self.session.scalar(
            insert(Assessment)
            .values(values)
            .on_conflict_do_nothing(index_elements=[Assessment.change_id])
            .returning(Assessment.change_id)
        )
        return inserted is not None

    async def add_approval(self, assessment: Assessment, approval: Approval) -> None:
        assessment.approvals.append(approval)
        await self.session.flush()

    async def flush(self) -> None:
        await self.session.flush()
