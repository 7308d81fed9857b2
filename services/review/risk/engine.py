"""Scores a change against the risk policy and derives its impact level; no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from services.review.risk.facts import FactValue
from services.review.risk.policy import RiskPolicy, RiskRule
from shared.contracts import ImpactLevel, RiskBreakdown, RiskDimension, RuleFired

MAX_SCORE = 100

# How far each level is from standard; an override may only move up this order.
LEVEL_RANK: dict[ImpactLevel, int] = {
    ImpactLevel.STANDARD: 0,
    ImpactLevel.IMPORTANT: 1,
    ImpactLevel.URGENT: 2,
    ImpactLevel.CRITICAL: 3,
}


@dataclass(frozen=True)
class RiskResult:
    score: int
    breakdown: RiskBreakdown
    rules_fired: tuple[RuleFired, ...]


def score(policy: RiskPolicy, facts: dict[str, FactValue]) -> RiskResult:
    """Every enabled rule whose conditions all hold adds its points to its dimension."""
    fired = tuple(_fired(rule, facts) for rule in policy.rules if rule.matches(facts))
    per_dimension = dict.fromkeys((d.value for d in RiskDimension), 0)
    for rule in fired:
        per_dimension[rule.dimension.value] += rule.points
    return RiskResult(
        score=min(MAX_SCORE, sum(per_dimension.values())),
        breakdown=RiskBreakdown(**per_dimension),
        rules_fired=fired,
    )


def _fired(rule: RiskRule, facts: dict[str, FactValue]) -> RuleFired:
    matched = ", ".join(
        f"{fact} = {facts.get(fact)} ({condition.describe()})"
        for fact, condition in rule.when.items()
    )
    return RuleFired(
        rule=rule.id,
        dimension=rule.dimension,
        points=rule.points,
        reason=f"{rule.description}: {matched}",
    )


def impact_level(
    policy: RiskPolicy, *, risk_score: int, emergency: bool, standard: bool
) -> ImpactLevel:
    """Urgent is the emergency flag; otherwise the score decides, and a standard-change
    template keeps a low-scoring change standard even above the `important` threshold."""
    if emergency:
        return ImpactLevel.URGENT
    thresholds = policy.thresholds
    if risk_score >= thresholds.critical:
        return ImpactLevel.CRITICAL
    if standard and risk_score <= thresholds.standard_template_max:
        return ImpactLevel.STANDARD
    if risk_score >= thresholds.important:
        return ImpactLevel.IMPORTANT
    return ImpactLevel.STANDARD


def raises(level: ImpactLevel, above: ImpactLevel) -> bool:
    return LEVEL_RANK[level] > LEVEL_RANK[above]
