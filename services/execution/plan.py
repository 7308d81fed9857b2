"""The rollout plan of an execution: its stages, their checks, and its rollback steps. No I/O."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.change_details import Text
from shared.change_evidence import CheckKind as PlanCheckKind
from shared.contracts import Category, Plans
from shared.wire import Boolean, Integer, Number

# Application and traffic changes can be rolled out gradually; the others happen at once.
GRADUAL_CATEGORIES = frozenset({Category.APPLICATION, Category.TRAFFIC})
# (target share in %, bake time in seconds) of the default gradual rollout.
DEFAULT_GRADUAL_STAGES = ((1.0, 600), (10.0, 900), (50.0, 1800), (100.0, 1800))
DEFAULT_ROLLBACK_STEP = "Undo the change as the emergency plan says"
MAX_BAKE_SECONDS = 7 * 24 * 3600


class CheckKind(StrEnum):
    METRIC_THRESHOLD = "metric_threshold"
    SMOKE_TEST = "smoke_test"
    MANUAL = "manual"


# How the change's verification plan maps onto what a stage runs.
_FROM_PLAN_KIND = {
    PlanCheckKind.METRIC: CheckKind.METRIC_THRESHOLD,
    PlanCheckKind.LOG: CheckKind.METRIC_THRESHOLD,
    PlanCheckKind.SYNTHETIC: CheckKind.SMOKE_TEST,
    PlanCheckKind.FUNCTIONAL: CheckKind.SMOKE_TEST,
    PlanCheckKind.MANUAL: CheckKind.MANUAL,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlannedCheck(_Strict):
    """A check to run after a stage, with what counts as passing."""

    name: Text
    kind: CheckKind
    expected: Text = Field(description="E.g. `error rate < 0.1%` or `checkout smoke suite green`.")


class PlannedStage(_Strict):
    name: Text | None = Field(default=None, description="Defaults to the target share, e.g. `10%`.")
    target_percent: Number = Field(gt=0, le=100, description="Share of traffic or fleet reached.")
    bake_seconds: Integer = Field(
        default=0, ge=0, le=MAX_BAKE_SECONDS, description="Minimum time between start and complete."
    )
    checks: list[PlannedCheck] = Field(default_factory=list, max_length=50)

    @property
    def label(self) -> str:
        return self.name or f"{self.target_percent:g}%"


class RolloutPlan(_Strict):
    """The stages in order, the rollback steps, and whether a failed stage rolls back by itself."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "stages": [
                        {
                            "target_percent": 5,
                            "bake_seconds": 600,
                            "checks": [
                                {
                                    "name": "5xx rate",
                                    "kind": "metric_threshold",
                                    "expected": "< 0.1%",
                                }
                            ],
                        },
                        {"target_percent": 100, "bake_seconds": 1800},
                    ],
                    "rollback_steps": ["Revert the deployment", "Purge the CDN cache"],
                    "auto_rollback": True,
                }
            ]
        },
    )

    stages: list[PlannedStage] = Field(min_length=1, max_length=20)
    rollback_steps: list[Text] = Field(default_factory=list, max_length=50)
    auto_rollback: Boolean = Field(
        default=True, description="A failed stage starts the rollback without waiting for anyone."
    )

    @model_validator(mode="after")
    def _shares_increase(self) -> RolloutPlan:
        shares = [stage.target_percent for stage in self.stages]
        if any(later <= earlier for earlier, later in zip(shares, shares[1:], strict=False)):
            raise ValueError("each stage's target_percent must be above the one before")
        if shares[-1] != 100:
            raise ValueError("the last stage must reach target_percent 100")
        return self


def default_plan(category: Category | None, plans: Plans | None) -> RolloutPlan:
    """The plan an approved change starts with: from its category and its plans."""
    checks = [
        PlannedCheck(name=check.name, kind=_FROM_PLAN_KIND[check.kind], expected=check.expected)
        for check in (plans.verification_checks if plans else [])
    ]
    if category in GRADUAL_CATEGORIES:
        stages = [
            PlannedStage(target_percent=share, bake_seconds=bake, checks=checks)
            for share, bake in DEFAULT_GRADUAL_STAGES
        ]
    else:
        stages = [PlannedStage(target_percent=100, checks=checks)]
    return RolloutPlan(stages=stages, rollback_steps=rollback_steps_of(plans))


_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)]|step\s+\d+[:.)]?)\s*", re.IGNORECASE)


def rollback_steps_of(plans: Plans | None) -> list[str]:
    """The emergency plan's steps: one per non-blank line, bullets and numbering removed."""
    text = (plans.rollback if plans else None) or ""
    steps = [_BULLET.sub("", line).strip() for line in text.splitlines()]
    steps = [step[:500] for step in steps if step]
    return steps or [DEFAULT_ROLLBACK_STEP]
