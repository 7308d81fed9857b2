"""Review lists: every review with filters, and the CAB queue of what a caller can act on."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.review import domain, policies, rows
from services.review.models import Assessment
from services.review.repository import (
    AssessmentRepository,
    ReviewFilters,
    queue_after,
    queue_cursor,
)
from services.review.schemas import ReviewRead
from services.review.views import to_read
from shared.auth import Principal
from shared.contracts import ImpactLevel
from shared.pagination import Page, PageRequest

_SCAN_BATCH = 200


async def listing(
    session: AsyncSession, filters: ReviewFilters, page: PageRequest
) -> Page[ReviewRead]:
    """Reviews newest first."""
    found, next_cursor = await AssessmentRepository.from_session(session).page(filters, page)
    return Page[ReviewRead](items=[to_read(row) for row in found], next_cursor=next_cursor)


async def pending_for(
    session: AsyncSession, principal: Principal, page: PageRequest
) -> Page[ReviewRead]:
    """Pending reviews `principal` could decide now, oldest first.

    Whether a caller's roles are still needed depends on the votes so far, so pending
    reviews are scanned in batches and filtered here until the page is full.
    """
    repository = AssessmentRepository.from_session(session)
    approvals = (await policies.in_force(session)).approvals
    after = queue_after(page.cursor)
    actionable: list[Assessment] = []
    more = True
    while len(actionable) <= page.limit and more:
        batch = await repository.pending_oldest_first(
            not_requested_by=principal.subject, after=after, limit=_SCAN_BATCH
        )
        more = len(batch) == _SCAN_BATCH
        for assessment in batch:
            after = (assessment.created_at, assessment.change_id)
            emergency = approvals.of(ImpactLevel(assessment.impact_level)).emergency
            if domain.can_act(
                rows.review(assessment, emergency=emergency),
                subject=principal.subject,
                roles=principal.roles,
            ):
                actionable.append(assessment)
                if len(actionable) > page.limit:
                    break
    items = actionable[: page.limit]
    next_cursor = queue_cursor(items[-1]) if len(actionable) > page.limit else None
    return Page[ReviewRead](items=[to_read(row) for row in items], next_cursor=next_cursor)
