"""Assessment use cases: assess, re-assess, close; they flush and record events, never commit.

Every writer of assessments first takes the conflict locks of the services its change names
in its environment (`conflict_locks`), so two changes that may conflict are assessed one
after the other and see each other, while changes of other services go on at once. Row locks
come after them: the change's own assessment, then its neighbours' in id order. That one
order on every path is what keeps lockers from deadlocking. Before all of them comes the
inputs lock, shared, which a policy or freeze write holds exclusively while it re-assesses
pending reviews (see `reassessing`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.review import domain, policies, rows
from services.review.assessing import assess
from services.review.conflicts import overlapping, sync_neighbours, withdraw_from_conflicts
from services.review.domain import ReviewStatus
from services.review.models import Assessment
from services.review.publishing import REVIEW_ACTOR, approve, publish_assessed
from services.review.repository import AssessmentRepository, OutcomeRepository, conflict_locks
from services.review.rescoring import apply_outcome, context_for, material_change, rescore
from shared.contracts import ChangeAccepted, ChangeSnapshot
from shared.settings import get_settings

log = structlog.get_logger(__name__)


async def assess_change(session: AsyncSession, change: ChangeSnapshot) -> None:
    """Assess a newly requested change and publish `change.assessed`; once per change."""
    repository = AssessmentRepository.from_session(session)
    if await repository.get(change.change_id) is not None:
        await reassess_change(session, change)
        return
    await _lock(repository, conflict_locks(change.environment, change.services))
    in_force, now = await policies.in_force(session), datetime.now(UTC)
    conflicts = await overlapping(repository, change)
    context = await context_for(session, change, in_force, conflicts, now)
    outcome = assess(change, in_force, context)
    assessment = Assessment(
        change_id=change.change_id, status=ReviewStatus.PENDING.value, version=1
    )
    apply_outcome(assessment, change, outcome, conflicts, in_force, now)
    if not await repository.add_if_absent(assessment):
        log.info("change already assessed", change_id=str(change.change_id))
        return
    stored = await repository.just_added(change.change_id)
    await publish_assessed(session, stored, actor=REVIEW_ACTOR)
    if outcome.pre_approved:
        await approve(
            session, stored, in_force.approvals.of(outcome.level), now=now, actor=REVIEW_ACTOR
        )
    await sync_neighbours(session, stored.change_id, added=conflicts, removed=(), now=now)


async def reassess_change(session: AsyncSession, change: ChangeSnapshot) -> None:
    """Re-assess an edited or rescheduled change; a stale or repeated snapshot changes nothing."""
    repository = AssessmentRepository.from_session(session)
    # Both the services it had and those it has now: it may leave conflicts and enter others.
    assessment = await locked(
        session, change.change_id, also=conflict_locks(change.environment, change.services)
    )
    if assessment is None:
        await assess_change(session, change)
        return
    if change.version <= (assessment.assessed_version or 0):
        log.info(
            "stale change snapshot ignored",
            change_id=str(change.change_id),
            version=change.version,
            assessed_version=assessment.assessed_version,
        )
        return
    if assessment.status != ReviewStatus.PENDING.value:
        # Intake refuses edits after approval; one racing the approval cannot revoke it.
        log.warning(
            "edit of a decided change not re-assessed",
            change_id=str(change.change_id),
            status=assessment.status,
        )
        return
    before = rows.snapshot(assessment)
    old_conflicts = set(assessment.conflicts)
    conflicts = await overlapping(repository, change)
    now = datetime.now(UTC)
    await rescore(
        session,
        assessment,
        change,
        await policies.in_force(session),
        conflicts=conflicts,
        now=now,
        invalidate_because=material_change(before, change),
    )
    await sync_neighbours(
        session,
        assessment.change_id,
        added=set(conflicts) - old_conflicts,
        removed=old_conflicts - set(conflicts),
        now=now,
    )


async def cancel_review(session: AsyncSession, change_id: UUID) -> None:
    """Close a pending review of a cancelled change; it conflicts with nothing any more."""
    assessment = await locked(session, change_id)
    if assessment is None:
        return
    status = domain.status_on_cancel(ReviewStatus(assessment.status))
    if status.value != assessment.status:
        assessment.status = status.value
        assessment.version += 1
    await withdraw_from_conflicts(session, assessment)


async def finish_change(session: AsyncSession, change_id: UUID, at: datetime) -> None:
    """Execution is over (completed, failed, rolled back): the change no longer conflicts."""
    assessment = await locked(session, change_id)
    if assessment is None:
        return
    if assessment.finished_at is None:
        assessment.finished_at = at
    await withdraw_from_conflicts(session, assessment)


async def record_outcome(
    session: AsyncSession, change_id: UUID, accepted: ChangeAccepted, at: datetime
) -> None:
    """Count the outcome toward its services' failure rate, and close the change."""
    assessment = await locked(session, change_id)
    if assessment is None:
        log.info("outcome of a change review never saw", change_id=str(change_id))
        return
    await OutcomeRepository.from_session(session).record(
        change_id, assessment.services, accepted.outcome, at
    )
    if assessment.finished_at is None:
        assessment.finished_at = at
    await withdraw_from_conflicts(session, assessment)


async def locked(
    session: AsyncSession, change_id: UUID, *, also: frozenset[str] = frozenset()
) -> Assessment | None:
    """The assessment, its row locked after the conflict locks of its services (and `also`).

    Its services are read before their locks are held; if a re-assessment changed them in
    between, the new ones are locked too (out of order, so PostgreSQL may have to break a
    deadlock then: rare, and retried like a lock timeout).
    """
    repository = AssessmentRepository.from_session(session)
    held: frozenset[str] = frozenset()
    while (scope := await repository.scope(change_id)) is not None:
        needed = conflict_locks(*scope) | also
        if needed <= held:
            return await repository.get(change_id, for_update=True)
        await _lock(repository, needed - held)
        held |= needed
    return None


async def _lock(repository: AssessmentRepository, locks: frozenset[str]) -> None:
    await repository.lock_conflicts(locks, timeout_ms=get_settings().review_lock_timeout_ms)
