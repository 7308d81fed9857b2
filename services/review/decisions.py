"""What approvers do to a review: decide, waive a readiness item, raise the impact level.

Each use case holds the conflict locks of the change's services, then the assessment's row
lock, so two decisions on one change are serialised and only one of them can close the
review.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.review import domain, policies, rows
from services.review.conflicts import withdraw_from_conflicts
from services.review.domain import ReviewStatus
from services.review.models import Approval, Assessment, Waiver, tables
from services.review.publishing import approve, publish_assessed, reject
from services.review.readiness import is_ready, with_waivers
from services.review.repository import AssessmentRepository
from services.review.repository_policies import FreezeRepository
from services.review.rescoring import invalidate_votes, rescore
from services.review.risk import engine
from services.review.schemas import ApprovalCreate, ImpactLevelOverride, ReviewRead, WaiverCreate
from services.review.service import locked
from services.review.views import to_read
from shared.auth import Principal
from shared.contracts import (
    ApprovalRecorded,
    Decision,
    EventType,
    ImpactLevel,
    ImpactOverride,
    ReadinessItem,
    ReadinessWaived,
)
from shared.errors import (
    Conflict,
    InvalidRequest,
    InvalidTransition,
    NotFound,
    SelfApprovalForbidden,
)
from shared.outbox import record_event


class ReviewNotFound(NotFound):
    code = "review-not-found"
    title = "Review not found"


class UnknownReadinessItem(InvalidRequest):
    code = "unknown-readiness-item"
    title = "The change's readiness checklist has no such item"


class ItemNotFailing(Conflict):
    code = "readiness-item-not-failing"
    title = "Only a failing readiness item can be waived"


class ImpactDowngradeForbidden(Conflict):
    code = "impact-downgrade-forbidden"
    title = "The impact level may only be raised above what the rules gave"


async def get_review(session: AsyncSession, change_id: UUID) -> ReviewRead:
    assessment = await AssessmentRepository.from_session(session).get(change_id)
    return to_read(_found(assessment, change_id))


async def record_decision(
    session: AsyncSession, change_id: UUID, body: ApprovalCreate, principal: Principal
) -> ReviewRead:
    """Record one approver's decision; publishes the outcome once the review is decided."""
    assessment = _found(await locked(session, change_id), change_id)
    in_force = await policies.in_force(session)
    level_policy = in_force.approvals.of(ImpactLevel(assessment.impact_level))
    now = datetime.now(UTC)
    _expire_old_votes(assessment, now=now, valid_for=level_policy.vote_valid_for)
    verdict = domain.decide(
        rows.review(assessment, emergency=level_policy.emergency),
        approver=principal.subject,
        roles=principal.roles,
        decision=body.decision,
        now=now,
    )
    freeze_override = None
    if body.decision is Decision.APPROVE:
        frozen_by = await _freezes_over(session, assessment)
        domain.check_freeze(
            frozen_by=frozen_by,
            emergency=level_policy.emergency,
            override_reason=body.freeze_override_reason,
        )
        freeze_override = body.freeze_override_reason if frozen_by else None
    await AssessmentRepository.from_session(session).add_approval(
        assessment,
        Approval(
            approver=principal.subject,
            role=verdict.vote.role.value,
            decision=body.decision.value,
            comment=body.comment,
            recorded_at=now,
        ),
    )
    assessment.version += 1
    await record_event(
        session,
        tables,
        EventType.CHANGE_APPROVAL_RECORDED,
        subject=str(change_id),
        data=ApprovalRecorded(
            approver=principal.subject,
            role=verdict.vote.role,
            decision=body.decision,
            comment=body.comment,
        ),
        actor=principal.subject,
    )
    if verdict.status is ReviewStatus.APPROVED:
        await approve(
            session,
            assessment,
            level_policy,
            now=now,
            actor=principal.subject,
            freeze_override=freeze_override,
        )
    elif verdict.status is ReviewStatus.REJECTED:
        await reject(session, assessment, now=now, by=principal.subject, comment=body.comment)
        await withdraw_from_conflicts(session, assessment)
    await AssessmentRepository.from_session(session).flush()
    return to_read(assessment)


async def waive(
    session: AsyncSession, change_id: UUID, body: WaiverCreate, principal: Principal
) -> ReviewRead:
    """Accept a failing readiness item (audited: `change.readiness_waived`)."""
    assessment = _found(await locked(session, change_id), change_id)
    _check_pending(assessment, action="waive readiness items")
    if principal.subject == assessment.requester:
        raise SelfApprovalForbidden(
            f"{principal.subject} requested this change and cannot waive its readiness."
        )
    items = [ReadinessItem.model_validate(item) for item in assessment.readiness]
    item = next((item for item in items if item.name == body.item), None)
    if item is None:
        raise UnknownReadinessItem(
            f"No readiness item {body.item!r}; the items are {[i.name for i in items]}.",
            errors=[
                {
                    "loc": ["body", "item"],
                    "msg": "not an item of this change",
                    "type": "value_error",
                }
            ],
        )
    if item.status != "fail":
        raise ItemNotFailing(f"{body.item} is {item.status}; only a failing item is waived.")
    assert assessment.assessed_version is not None
    assessment.waivers.append(
        Waiver(
            item=body.item,
            reason=body.reason,
            waived_by=principal.subject,
            change_version=assessment.assessed_version,
        )
    )
    updated = with_waivers(items, {body.item: body.reason})
    assessment.readiness = [entry.model_dump(mode="json") for entry in updated]
    assessment.ready = is_ready(updated)
    assessment.version += 1
    await AssessmentRepository.from_session(session).flush()
    await record_event(
        session,
        tables,
        EventType.CHANGE_READINESS_WAIVED,
        subject=str(change_id),
        data=ReadinessWaived(
            item=body.item,
            reason=body.reason,
            waived_by=principal.subject,
            change_version=assessment.assessed_version,
        ),
        actor=principal.subject,
    )
    await publish_assessed(session, assessment, actor=principal.subject)
    return to_read(assessment)


async def override_impact(
    session: AsyncSession, change_id: UUID, body: ImpactLevelOverride, principal: Principal
) -> ReviewRead:
    """Raise the impact level above the rules' (re-published in `change.assessed`)."""
    if body.impact_level is ImpactLevel.URGENT:
        raise InvalidRequest(
            "Urgent follows the change's emergency flag; the requester sets it.",
            errors=[
                {"loc": ["body", "impact_level"], "msg": "cannot be urgent", "type": "value_error"}
            ],
        )
    assessment = _found(await locked(session, change_id), change_id)
    _check_pending(assessment, action="change the impact level")
    if principal.subject == assessment.requester:
        raise SelfApprovalForbidden(
            f"{principal.subject} requested this change and cannot set its impact level."
        )
    rule_level = ImpactLevel(assessment.rule_impact_level or assessment.impact_level)
    if not engine.raises(body.impact_level, rule_level):
        raise ImpactDowngradeForbidden(
            f"The rules give {rule_level.value}; an override must be above it, "
            f"not {body.impact_level.value}.",
            rule_impact_level=rule_level.value,
        )
    snapshot = rows.snapshot(assessment)
    if snapshot is None:
        raise InvalidTransition("This review predates overrides; it cannot be re-assessed.")
    previous = ImpactLevel(assessment.impact_level)
    assessment.impact_override = ImpactOverride(
        level=body.impact_level, reason=body.reason, overridden_by=principal.subject
    ).model_dump(mode="json")
    if body.impact_level is not previous:
        invalidate_votes(
            assessment,
            now=datetime.now(UTC),
            because=f"{principal.subject} changed the impact level to {body.impact_level.value}",
        )
    await rescore(
        session,
        assessment,
        snapshot,
        await policies.in_force(session),
        conflicts=list(assessment.conflicts),
        now=datetime.now(UTC),
        actor=principal.subject,
    )
    await AssessmentRepository.from_session(session).flush()
    return to_read(assessment)


def _expire_old_votes(
    assessment: Assessment, *, now: datetime, valid_for: timedelta | None
) -> None:
    """Void decisions older than the policy allows, so they no longer count (and their
    approvers may decide again)."""
    for approval, vote in zip(rows.live_votes(assessment), rows.votes(assessment), strict=True):
        if domain.expired(vote, now=now, valid_for=valid_for):
            approval.invalidated_at = now
            approval.invalidated_because = f"expired: older than {valid_for}"


async def _freezes_over(session: AsyncSession, assessment: Assessment) -> list[str]:
    freezes = await FreezeRepository.from_session(session).covering(
        services=assessment.services,
        environment=assessment.environment,
        start=assessment.window_start_at,
        end=assessment.window_end_at,
    )
    return [str(freeze.id) for freeze in freezes]


def _check_pending(assessment: Assessment, *, action: str) -> None:
    if assessment.status != ReviewStatus.PENDING.value:
        raise InvalidTransition(
            f"The review is {assessment.status}; only a pending review can {action}.",
            current_status=assessment.status,
        )


def _found(assessment: Assessment | None, change_id: UUID) -> Assessment:
    if assessment is None:
        raise ReviewNotFound(f"Change {change_id} has not been assessed (yet).")
    return assessment
