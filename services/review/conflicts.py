"""Conflicting changes: open changes of one environment sharing a service, with
overlapping windows. Each side lists the other; a closed change leaves both lists."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.review import policies, rows
from services.review.assessing import Policies
from services.review.domain import ReviewStatus
from services.review.models import Assessment
from services.review.publishing import REVIEW_ACTOR, publish_assessed
from services.review.repository import AssessmentRepository
from services.review.rescoring import rescore
from shared.contracts import ChangeSnapshot


async def overlapping(repository: AssessmentRepository, change: ChangeSnapshot) -> list[UUID]:
    return await repository.overlapping(
        change_id=change.change_id,
        services=change.services,
        environment=change.environment,
        start=change.window.start,
        end=change.window.end,
    )


async def withdraw_from_conflicts(session: AsyncSession, assessment: Assessment) -> None:
    """Remove a closed change from its neighbours' conflicts (they are re-published)."""
    repository = AssessmentRepository.from_session(session)
    neighbours = set(assessment.conflicts) | set(
        await repository.listing_as_conflict(assessment.change_id)
    )
    await repository.flush()
    await sync_neighbours(
        session, assessment.change_id, added=(), removed=neighbours, now=datetime.now(UTC)
    )


async def sync_neighbours(
    session: AsyncSession,
    change_id: UUID,
    *,
    added: Iterable[UUID],
    removed: Iterable[UUID],
    now: datetime,
) -> None:
    """Flag (or unflag) `change_id` on the other side of each conflict and re-publish it."""
    added, removed = set(added), set(removed)
    if not added and not removed:
        return
    repository = AssessmentRepository.from_session(session)
    in_force: Policies | None = None
    for other in await repository.get_many(sorted(added | removed)):
        conflicts = set(other.conflicts)
        conflicts = conflicts | {change_id} if other.change_id in added else conflicts - {change_id}
        if conflicts == set(other.conflicts):
            continue
        snapshot = rows.snapshot(other)
        if other.status == ReviewStatus.PENDING.value and snapshot is not None:
            in_force = in_force or await policies.in_force(session)
            await rescore(session, other, snapshot, in_force, conflicts=sorted(conflicts), now=now)
        else:
            other.conflicts = sorted(conflicts)
            other.version += 1
            await publish_assessed(session, other, actor=REVIEW_ACTOR)
    await repository.flush()
