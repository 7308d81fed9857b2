"""Validation of the policy documents, and what a rule condition means."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.review.approval_policy import DEFAULT_APPROVAL_POLICY, ApprovalPolicy
from services.review.catalog import ChangeHours, ServiceCatalog
from services.review.policies import InvalidPolicy, PolicyName, validate
from services.review.risk.defaults import DEFAULT_RISK_POLICY
from services.review.risk.policy import Condition


def risk_document(**rule: Any) -> dict[str, Any]:
    document = DEFAULT_RISK_POLICY.model_dump(mode="json", by_alias=True)
    document["rules"].append(
        {"id": "new", "description": "New", "dimension": "business", "points": 5, **rule}
    )
    return document


def invalid(name: PolicyName, document: dict[str, Any]) -> InvalidPolicy:
    with pytest.raises(InvalidPolicy) as raised:
        validate(name, document)
    return raised.value


def test_the_built_in_policies_survive_a_round_trip() -> None:
    risk = DEFAULT_RISK_POLICY.model_dump(mode="json", by_alias=True)
    approvals = DEFAULT_APPROVAL_POLICY.model_dump(mode="json")

    assert validate(PolicyName.RISK, risk) == DEFAULT_RISK_POLICY
    assert validate(PolicyName.APPROVALS, approvals) == DEFAULT_APPROVAL_POLICY


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ({"weekday": "fri"}, "unknown fact"),
        ({"category": {"gte": 2}}, "use eq, ne, in or not_in"),
        ({"category": "hardwar"}, "is never"),
        ({"production": "yes"}, "true or false"),
        ({"data_rows": {"in": ["many"]}}, "compare it with numbers"),
        ({"data_rows": {"gte": 1, "lte": 5}}, "exactly one"),
        ({}, "at least 1"),
    ],
)
def test_a_bad_condition_names_the_rule_and_the_field(when: dict[str, Any], message: str) -> None:
    error = invalid(PolicyName.RISK, risk_document(when=when))

    [detail] = error.extensions["errors"]
    assert detail["rule"] == "new"
    assert detail["loc"][:4] == ["body", "rules", len(DEFAULT_RISK_POLICY.rules), "when"]
    assert message in detail["msg"]


def test_duplicate_rule_ids_and_disordered_thresholds_are_refused() -> None:
    document = risk_document(id="production", when={"production": True})
    document["thresholds"] = {"important": 70, "critical": 60}

    error = invalid(PolicyName.RISK, document)

    messages = " ".join(detail["msg"] for detail in error.extensions["errors"])
    assert "appears twice" in messages
    assert "critical must be above important" in messages


def test_an_approval_policy_needs_approver_roles_once_each() -> None:
    document = DEFAULT_APPROVAL_POLICY.model_dump(mode="json")
    document["critical"]["required"] = [
        {"role": "cab_member", "count": 1},
        {"role": "cab_member", "count": 2},
    ]
    document["urgent"]["vote_valid_for"] = "-PT1H"

    error = invalid(PolicyName.APPROVALS, document)

    locs = [detail["loc"] for detail in error.extensions["errors"]]
    assert ["body", "critical", "required"] in locs
    assert ["body", "urgent", "vote_valid_for"] in locs


def test_pre_approval_is_only_for_standard_changes() -> None:
    document = DEFAULT_APPROVAL_POLICY.model_dump(mode="json")
    document["important"]["pre_approved_from_template"] = True

    with pytest.raises(ValidationError):
        ApprovalPolicy.model_validate(document)


@pytest.mark.parametrize(
    ("services", "message"),
    [
        ([{"name": "web", "tier": 1}, {"name": "web", "tier": 2}], "appears twice"),
        ([{"name": "db", "tier": 1, "change_hours": {"timezone": "Mars/Olympus"}}], "time zone"),
        ([{"name": "db", "tier": 5}], "less than or equal to 4"),
    ],
)
def test_the_catalog_refuses_bad_entries(services: list[dict[str, Any]], message: str) -> None:
    error = invalid(PolicyName.SERVICES, {"services": services})

    assert message in " ".join(detail["msg"] for detail in error.extensions["errors"])


def test_change_hours_are_in_the_services_time_zone() -> None:
    hours = ChangeHours(timezone="Europe/Berlin", days=["mon", "tue", "wed", "thu", "fri"])
    # Tuesday 08:30-09:30 UTC is 09:30-10:30 in Berlin (winter time).
    inside = (datetime(2026, 12, 1, 8, 30, tzinfo=UTC), datetime(2026, 12, 1, 9, 30, tzinfo=UTC))
    early = (datetime(2026, 12, 1, 7, 0, tzinfo=UTC), datetime(2026, 12, 1, 7, 30, tzinfo=UTC))
    saturday = (datetime(2026, 12, 5, 10, tzinfo=UTC), datetime(2026, 12, 5, 11, tzinfo=UTC))

    assert hours.contains(*inside)
    assert not hours.contains(*early)
    assert not hours.contains(*saturday)


def test_the_catalog_gives_the_most_critical_tier() -> None:
    catalog = ServiceCatalog.model_validate({"services": [{"name": "web", "tier": 2}]})

    assert catalog.top_tier(["web", "unknown"], default_tier=3) == 2
    assert catalog.top_tier(["unknown"], default_tier=3) == 3


numbers = st.integers(min_value=-1000, max_value=1000)


@given(numbers, numbers)
def test_comparisons_mean_what_they_say(value: int, bound: int) -> None:
    assert Condition.model_validate({"gte": bound}).holds(value) is (value >= bound)
    assert Condition.model_validate({"lt": bound}).holds(value) is (value < bound)
    assert Condition.model_validate({"gt": bound}).holds(value) is (value > bound)
    assert Condition.model_validate({"lte": bound}).holds(value) is (value <= bound)


@given(st.sampled_from(["a", "b", "c"]), st.lists(st.sampled_from(["a", "b", "c"]), min_size=1))
def test_membership_and_shorthands(value: str, choices: list[str]) -> None:
    assert Condition.model_validate(choices).holds(value) is (value in choices)
    assert Condition.model_validate({"not_in": choices}).holds(value) is (value not in choices)
    assert Condition.model_validate(value).holds(value)


@given(st.sampled_from([{"eq": 1}, {"gte": 0}, {"in": [1]}, {"ne": 2}, {"not_in": [3]}]))
def test_no_condition_holds_for_a_fact_that_does_not_apply(operator: dict[str, Any]) -> None:
    assert not Condition.model_validate(operator).holds(None)
