"""The risk policy document: rules over facts, impact thresholds and readiness settings.

A `change_lead` edits it as JSON (`PUT /v1/policies/risk`); validation names the rule
and the field that is wrong, so a bad policy never replaces the one in force.
"""

from __future__ import annotations

import operator
import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_serializer,
    model_validator,
)

from services.review.risk.facts import FACTS, FactKind, FactValue
from shared.contracts import Category, ImpactLevel, RiskDimension
from shared.wire import NOT_BLANK

_COMPARISONS = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


Scalar = bool | int | float | str


class Condition(_Strict):
    """One test of one fact. Exactly one operator; a bare value means `eq`, a list `in`."""

    eq: Scalar | None = None
    ne: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in", min_length=1)
    not_in: list[Scalar] | None = Field(default=None, min_length=1)
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, list):
            return {"in": data}
        if isinstance(data, bool | int | float | str):
            return {"eq": data}
        return data

    @model_validator(mode="after")
    def _one_operator(self) -> Condition:
        given = self.operators()
        if len(given) != 1:
            raise ValueError(
                "a condition needs exactly one of eq, ne, in, not_in, gt, gte, lt, lte; "
                f"got {sorted(given) or 'none'}"
            )
        return self

    def operators(self) -> dict[str, Any]:
        """The operators given, by their JSON names."""
        return {
            (info.alias or name): value
            for name, info in type(self).model_fields.items()
            if (value := getattr(self, name)) is not None
        }

    @model_serializer
    def _as_written(self) -> dict[str, Any]:
        return self.operators()

    def holds(self, value: FactValue) -> bool:
        if value is None:
            return False
        ((op, expected),) = self.operators().items()
        if op == "eq":
            return bool(value == expected)
        if op == "ne":
            return bool(value != expected)
        if op == "in":
            return bool(value in expected)
        if op == "not_in":
            return bool(value not in expected)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return bool(_COMPARISONS[op](value, expected))

    def describe(self) -> str:
        ((op, expected),) = self.operators().items()
        symbol = {"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}
        if op in symbol:
            return f"{symbol[op]} {expected}"
        return f"{op.replace('_', ' ')} {expected}"


def _check_against_fact(fact: str, condition: Condition) -> None:
    spec = FACTS.get(fact)
    if spec is None:
        raise ValueError(f"unknown fact {fact!r}; known facts: {', '.join(sorted(FACTS))}")
    ((op, expected),) = condition.operators().items()
    values = expected if isinstance(expected, list) else [expected]
    if spec.kind is FactKind.NUMBER:
        if op in {"in", "not_in", "eq", "ne"} and not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values
        ):
            raise ValueError(f"fact {fact!r} is a number; compare it with numbers")
        return
    if op in {"gt", "gte", "lt", "lte"}:
        raise ValueError(f"fact {fact!r} is {spec.kind.value}; use eq, ne, in or not_in")
    if spec.kind is FactKind.BOOL and not all(isinstance(v, bool) for v in values):
        raise ValueError(f"fact {fact!r} is true or false")
    if spec.kind is FactKind.TEXT:
        if not all(isinstance(v, str) for v in values):
            raise ValueError(f"fact {fact!r} is text")
        if spec.choices is not None and (unknown := sorted(set(values) - spec.choices)):
            raise ValueError(
                f"fact {fact!r} is never {unknown}; its values are {sorted(spec.choices)}"
            )


def _rule_id(value: str) -> str:
    if not _RULE_ID.match(value):
        raise ValueError("use 1-64 lower-case letters, digits, '.', '_' or '-'")
    return value


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


class RiskRule(_Strict):
    """When every condition holds, the rule adds `points` to its dimension."""

    id: Annotated[str, AfterValidator(_rule_id)]
    description: Annotated[
        str, AfterValidator(_non_blank), Field(max_length=300, json_schema_extra=NOT_BLANK)
    ]
    dimension: RiskDimension
    points: int = Field(ge=1, le=100)
    when: dict[str, Condition] = Field(
        min_length=1, description="Fact name -> condition; all must hold."
    )
    enabled: bool = True

    @field_validator("when")
    @classmethod
    def _facts_exist_and_fit(cls, when: dict[str, Condition]) -> dict[str, Condition]:
        for fact, condition in when.items():
            _check_against_fact(fact, condition)
        return when

    def matches(self, facts: dict[str, FactValue]) -> bool:
        return self.enabled and all(
            condition.holds(facts.get(fact)) for fact, condition in self.when.items()
        )


class Thresholds(_Strict):
    """Score boundaries of the impact levels."""

    important: int = Field(default=25, ge=1, le=100, description="From this score: important.")
    critical: int = Field(default=60, ge=1, le=100, description="From this score: critical.")
    standard_template_max: int = Field(
        default=30,
        ge=0,
        le=100,
        description="A change from a standard-change template up to this score stays standard.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.critical <= self.important:
            raise ValueError("critical must be above important")
        return self


class ReadinessSettings(_Strict):
    """What the readiness checklist demands."""

    min_plan_length: int = Field(
        default=10, ge=1, le=2000, description="Characters a plan needs to count as a plan."
    )
    test_evidence_required_for: list[Category] = Field(
        default_factory=lambda: [Category.APPLICATION, Category.SOFTWARE_CONFIG, Category.DATA]
    )
    contacts_required_for: list[ImpactLevel] = Field(
        default_factory=lambda: [ImpactLevel.URGENT, ImpactLevel.CRITICAL],
        description="Levels at which the change must name contacts (else the requester is one).",
    )


class RiskPolicy(_Strict):
    production_environments: list[
        Annotated[str, AfterValidator(_non_blank), Field(json_schema_extra=NOT_BLANK)]
    ] = Field(default_factory=lambda: ["production", "prod"], min_length=1)
    failure_rate_lookback_days: int = Field(default=30, ge=1, le=365)
    failure_rate_min_changes: int = Field(
        default=3, ge=1, le=1000, description="Fewer outcomes than this: no failure rate yet."
    )
    default_tier: int = Field(
        default=3, ge=1, le=4, description="The tier of a service missing from the catalog."
    )
    thresholds: Thresholds = Field(default_factory=Thresholds)
    readiness: ReadinessSettings = Field(default_factory=ReadinessSettings)
    rules: list[RiskRule] = Field(min_length=1, max_length=500)

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules: list[RiskRule]) -> list[RiskRule]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} appears twice")
            seen.add(rule.id)
        return rules

    def environments(self) -> frozenset[str]:
        return frozenset(name.strip().lower() for name in self.production_environments)
