"""Puts the pieces together: facts, risk score, impact level, readiness, approvals; no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.review.approval_policy import ApprovalPolicy
from services.review.catalog import ServiceCatalog
from services.review.readiness import checklist, is_ready, with_waivers
from services.review.risk import engine
from services.review.risk.facts import Context, derive
from services.review.risk.policy import RiskPolicy
from shared.contracts import (
    ChangeSnapshot,
    ImpactLevel,
    ImpactOverride,
    ReadinessItem,
    RequiredApproval,
)


@dataclass(frozen=True)
class Policies:
    """The policies in force, with the risk policy's version."""

    risk: RiskPolicy
    risk_version: int
    approvals: ApprovalPolicy
    catalog: ServiceCatalog


@dataclass(frozen=True)
class Outcome:
    """What review concludes about one version of a change."""

    risk: engine.RiskResult
    rule_level: ImpactLevel
    level: ImpactLevel
    readiness: tuple[ReadinessItem, ...]
    required_approvals: tuple[RequiredApproval, ...]
    pre_approved: bool

    @property
    def ready(self) -> bool:
        return is_ready(list(self.readiness))


def assess(
    change: ChangeSnapshot,
    policies: Policies,
    context: Context,
    *,
    override: ImpactOverride | None = None,
    waivers: Mapping[str, str] | None = None,
) -> Outcome:
    """Score `change`; an override counts only while it stays above the rules' level."""
    risk = engine.score(policies.risk, derive(change, context))
    rule_level = engine.impact_level(
        policies.risk, risk_score=risk.score, emergency=change.emergency, standard=change.standard
    )
    level = (
        override.level
        if override is not None and engine.raises(override.level, rule_level)
        else rule_level
    )
    items = with_waivers(
        checklist(change, level=level, settings=policies.risk.readiness, catalog=policies.catalog),
        waivers or {},
    )
    level_policy = policies.approvals.of(level)
    pre_approved = (
        level is ImpactLevel.STANDARD
        and change.standard
        and level_policy.pre_approved_from_template
        and is_ready(items)
        and not context.in_freeze
        and context.conflicts == 0
    )
    return Outcome(
        risk=risk,
        rule_level=rule_level,
        level=level,
        readiness=tuple(items),
        required_approvals=tuple(level_policy.required),
        pre_approved=pre_approved,
    )
