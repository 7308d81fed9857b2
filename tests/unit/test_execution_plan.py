"""The rollout plan derived from a change: gradual for application and traffic, else one stage."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.execution.plan import (
    DEFAULT_ROLLBACK_STEP,
    CheckKind,
    RolloutPlan,
    default_plan,
    rollback_steps_of,
)
from shared.contracts import Category, Plans

PLANS = Plans.model_validate(
    {
        "implementation": "Deploy 2.14 with the canary pipeline",
        "rollback": "1. Revert to 2.13\n2) Purge the CDN cache\n\n- Tell #checkout",
        "verification": "p99 and 5xx",
        "verification_checks": [
            {"name": "5xx rate", "kind": "metric", "expected": "< 0.1%"},
            {"name": "checkout smoke", "kind": "synthetic", "expected": "green"},
            {"name": "finance sign-off", "kind": "manual", "expected": "signed"},
        ],
    }
)


@pytest.mark.parametrize("category", [Category.APPLICATION, Category.TRAFFIC])
def test_application_and_traffic_changes_roll_out_in_four_stages(category: Category) -> None:
    plan = default_plan(category, PLANS)
    assert [stage.target_percent for stage in plan.stages] == [1, 10, 50, 100]
    assert [stage.label for stage in plan.stages] == ["1%", "10%", "50%", "100%"]
    assert all(stage.bake_seconds > 0 for stage in plan.stages)
    assert [(c.name, c.kind) for c in plan.stages[1].checks] == [
        ("5xx rate", CheckKind.METRIC_THRESHOLD),
        ("checkout smoke", CheckKind.SMOKE_TEST),
        ("finance sign-off", CheckKind.MANUAL),
    ]
    assert plan.auto_rollback is True


@pytest.mark.parametrize(
    "category", [Category.HARDWARE, Category.SOFTWARE_CONFIG, Category.DATA, None]
)
def test_other_changes_happen_in_one_stage(category: Category | None) -> None:
    plan = default_plan(category, PLANS)
    assert [stage.target_percent for stage in plan.stages] == [100]
    assert plan.stages[0].bake_seconds == 0
    assert len(plan.stages[0].checks) == 3


def test_rollback_steps_are_the_emergency_plan_lines_without_numbering() -> None:
    assert rollback_steps_of(PLANS) == ["Revert to 2.13", "Purge the CDN cache", "Tell #checkout"]
    assert rollback_steps_of(None) == [DEFAULT_ROLLBACK_STEP]
    assert rollback_steps_of(Plans(rollback="   \n")) == [DEFAULT_ROLLBACK_STEP]


@pytest.mark.parametrize(
    ("shares", "message"),
    [
        ([10, 10, 100], "above the one before"),
        ([50, 10, 100], "above the one before"),
        ([1, 10], "must reach target_percent 100"),
    ],
)
def test_a_custom_plan_must_grow_to_100_percent(shares: list[float], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RolloutPlan.model_validate({"stages": [{"target_percent": s} for s in shares]})


def test_a_custom_plan_refuses_unknown_fields_and_bad_kinds() -> None:
    with pytest.raises(ValidationError) as raised:
        RolloutPlan.model_validate(
            {
                "stages": [
                    {
                        "target_percent": 100,
                        "speed": "fast",
                        "checks": [{"name": "x", "kind": "vibes", "expected": "y"}],
                    }
                ]
            }
        )
    locations = {tuple(error["loc"]) for error in raised.value.errors()}
    assert ("stages", 0, "speed") in locations
    assert ("stages", 0, "checks", 0, "kind") in locations
