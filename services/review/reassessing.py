"""Re-assessing pending reviews when what they are judged by changes: a policy is replaced,
a freeze window declared or lifted.

The writer of such a change first holds the inputs lock exclusively (`hold_inputs`), so no
assessment is written while it re-assesses, and none written after it misses what it
stored. Only reviews still pending whose window has not ended are re-assessed (a decided
review stands; an ended window waits for a reschedule, which re-assesses it), and one
whose outcome does not change publishes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.review import rows
from services.review.assessing import Policies
from services.review.models import Assessment, FreezeWindow
from services.review.repository import AssessmentRepository
from services.review.rescoring import rescore
from shared.settings import get_settings

log = structlog.get_logger(__name__)


async def hold_inputs(session: AsyncSession) -> None:
    """Wait (up to the review lock timeout) until no assessment is being written, and keep
    any from being written until the transaction ends."""
    await AssessmentRepository.from_session(session).lock_inputs(
        timeout_ms=get_settings().review_lock_timeout_ms
    )


async def reassess_pending(session: AsyncSession, in_force: Policies, *, actor: str) -> int:
    """Re-assess every pending review against `in_force`; the number re-published."""
    now = datetime.now(UTC)
    pending = await AssessmentRepository.from_session(session).pending_to_reassess(now=now)
    return await _rescore_all(session, pending, in_force, actor=actor, now=now, why="policy")


async def reassess_under(
    session: AsyncSession, freeze: FreezeWindow, in_force: Policies, *, actor: str
) -> int:
    """Re-assess the pending reviews `freeze` covers, now that it was declared or lifted."""
    now = datetime.now(UTC)
    covered = await AssessmentRepository.from_session(session).pending_to_reassess(
        now=now,
        services=freeze.services,
        environment=freeze.environment,
        start=freeze.start_at,
        end=freeze.end_at,
    )
    return await _rescore_all(session, covered, in_force, actor=actor, now=now, why="freeze")


async def _rescore_all(
    session: AsyncSession,
    assessments: list[Assessment],
    in_force: Policies,
    *,
    actor: str,
    now: datetime,
    why: str,
) -> int:
    published = 0
    for assessment in assessments:
        snapshot = rows.snapshot(assessment)
        assert snapshot is not None  # pending_to_reassess reads only those with one
        published += await rescore(
            session,
            assessment,
            snapshot,
            in_force,
            conflicts=list(assessment.conflicts),
            now=now,
            actor=actor,
            quiet_if_unchanged=True,
        )
    await AssessmentRepository.from_session(session).flush()
    log.info("pending reviews re-assessed", why=why, read=len(assessments), changed=published)
    return published
