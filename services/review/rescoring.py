"""Scoring a change again into its pending assessment, and what that does to decisions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.review import domain, rows
from services.review.assessing import Outcome, Policies, assess
from services.review.domain import ReviewStatus
from services.review.models import Assessment
from services.review.publishing import REVIEW_ACTOR, approve, publish_assessed
from services.review.repository import OutcomeRepository
from services.review.repository_policies import FreezeRepository
from services.review.risk import engine
from services.review.risk.facts import Context
from shared.contracts import ChangeSnapshot, ImpactLevel


async def rescore(
    session: AsyncSession,
    assessment: Assessment,
    change: ChangeSnapshot,
    in_force: Policies,
    *,
    conflicts: list[UUID],
    now: datetime,
    invalidate_because: str | None = None,
    actor: str = REVIEW_ACTOR,
    quiet_if_unchanged: bool = False,
) -> bool:
    """Assess `change` again into its pending `assessment` and publish the result.

    Decisions are voided when `invalidate_because` says so or the impact level rises;
    those still standing approve the change when they now satisfy the policy. With
    `quiet_if_unchanged`, an outcome equal to the one published that approves nothing
    leaves the assessment as it was and publishes nothing. True when it published.
    """
    context = await context_for(session, change, in_force, conflicts, now)
    waivers = {w.item: w.reason for w in assessment.waivers if w.change_version == change.version}
    outcome = assess(change, in_force, context, override=rows.override(assessment), waivers=waivers)
    level_policy = in_force.approvals.of(outcome.level)
    frozen = context.in_freeze and not level_policy.emergency
    if (
        quiet_if_unchanged
        and not invalidate_because
        and unchanged(assessment, outcome, conflicts)
        and not approves(assessment, outcome, emergency=level_policy.emergency, frozen=frozen)
    ):
        return False
    previous = ImpactLevel(assessment.impact_level)
    if engine.raises(outcome.level, previous):
        invalidate_because = invalidate_because or (
            f"the impact level rose from {previous.value} to {outcome.level.value}"
        )
    if invalidate_because:
        invalidate_votes(assessment, now=now, because=invalidate_because)
    if outcome.level is outcome.rule_level:
        assessment.impact_override = None
    apply_outcome(assessment, change, outcome, conflicts, in_force, now)
    assessment.version += 1
    await publish_assessed(session, assessment, actor=actor)
    if approves(assessment, outcome, emergency=level_policy.emergency, frozen=frozen):
        await approve(session, assessment, level_policy, now=now, actor=REVIEW_ACTOR)
    return True


def approves(assessment: Assessment, outcome: Outcome, *, emergency: bool, frozen: bool) -> bool:
    """Whether `outcome` approves the change: pre-approved, or its live decisions now
    satisfy the policy (outside a freeze, and ready unless an emergency)."""
    standing = domain.status_after(rows.votes(assessment), outcome.required_approvals)
    return outcome.pre_approved or (
        bool(rows.live_votes(assessment))
        and standing is ReviewStatus.APPROVED
        and not frozen
        and (outcome.ready or emergency)
    )


def unchanged(assessment: Assessment, outcome: Outcome, conflicts: list[UUID]) -> bool:
    """Whether `outcome` is what `assessment` already says (which policy version gave it
    aside), so publishing it again would tell no one anything."""
    if assessment.impact_override is not None and outcome.level is outcome.rule_level:
        return False
    return all(
        getattr(assessment, column) == value
        for column, value in outcome_columns(outcome, conflicts).items()
    )


def invalidate_votes(assessment: Assessment, *, now: datetime, because: str) -> None:
    for approval in rows.live_votes(assessment):
        approval.invalidated_at = now
        approval.invalidated_because = because


async def context_for(
    session: AsyncSession,
    change: ChangeSnapshot,
    in_force: Policies,
    conflicts: list[UUID],
    now: datetime,
) -> Context:
    risk = in_force.risk
    freezes = await FreezeRepository.from_session(session).covering(
        services=change.services,
        environment=change.environment,
        start=change.window.start,
        end=change.window.end,
    )
    failure_rate = await OutcomeRepository.from_session(session).failure_rate(
        change.services,
        since=now - timedelta(days=risk.failure_rate_lookback_days),
        min_changes=risk.failure_rate_min_changes,
    )
    return Context(
        now=now,
        production_environments=risk.environments(),
        top_tier=in_force.catalog.top_tier(change.services, risk.default_tier),
        failure_rate=failure_rate,
        conflicts=len(conflicts),
        in_freeze=bool(freezes),
    )


def material_change(before: ChangeSnapshot | None, after: ChangeSnapshot) -> str | None:
    """Why decisions on `before` do not hold for `after`, if they do not."""
    if before is None:
        return None
    if before.plans != after.plans:
        return "the plans changed"
    for name in ("services", "environment", "window", "category", "details", "emergency"):
        if getattr(before, name) != getattr(after, name):
            return f"the change's {name} changed"
    return None


def apply_outcome(
    assessment: Assessment,
    change: ChangeSnapshot,
    outcome: Outcome,
    conflicts: list[UUID],
    in_force: Policies,
    now: datetime,
) -> None:
    assessment.requester = change.requester
    assessment.title = change.title
    assessment.category = change.category.value
    assessment.services = change.services
    assessment.environment = change.environment
    assessment.window_start_at = change.window.start
    assessment.window_end_at = change.window.end
    assessment.emergency = change.emergency
    assessment.standard = change.standard
    assessment.snapshot = change.model_dump(mode="json")
    assessment.assessed_version = change.version
    for column, value in outcome_columns(outcome, conflicts).items():
        setattr(assessment, column, value)
    assessment.risk_policy_version = in_force.risk_version
    assessment.assessed_at = now


def outcome_columns(outcome: Outcome, conflicts: list[UUID]) -> dict[str, Any]:
    """The assessment's columns `outcome` sets, as stored."""
    return {
        "impact_level": outcome.level.value,
        "rule_impact_level": outcome.rule_level.value,
        "ready": outcome.ready,
        "readiness": [item.model_dump(mode="json") for item in outcome.readiness],
        "required_approvals": [need.model_dump(mode="json") for need in outcome.required_approvals],
        "risk_score": outcome.risk.score,
        "risk_breakdown": outcome.risk.breakdown.model_dump(mode="json"),
        "rules_fired": [rule.model_dump(mode="json") for rule in outcome.risk.rules_fired],
        "conflicts": list(conflicts),
        "pre_approved": outcome.pre_approved,
    }
