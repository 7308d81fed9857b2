"""The facts risk rules look at, derived from a change snapshot and what review knows.

Each fact has a kind (so a policy can be checked before it is stored) and, for text
facts, the values it can take. A fact that does not apply to a change (the traffic
share of a data change) is None, and no condition on it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.change_details import (
    ApplicationChangeKind,
    ApplicationDetails,
    ConfigTarget,
    DataChangeKind,
    DataDetails,
    HardwareChangeKind,
    RolloutStrategy,
    SoftwareConfigDetails,
    TrafficChangeKind,
    TrafficDetails,
)
from shared.contracts import Category, ChangeSnapshot

FactValue = bool | int | float | str | None


class FactKind(StrEnum):
    BOOL = "bool"
    NUMBER = "number"
    TEXT = "text"


@dataclass(frozen=True)
class FactSpec:
    kind: FactKind
    description: str
    choices: frozenset[str] | None = None


def _values(*enums: type[StrEnum]) -> frozenset[str]:
    return frozenset(member.value for enum in enums for member in enum)


SUB_KINDS = _values(
    HardwareChangeKind, ConfigTarget, ApplicationChangeKind, DataChangeKind, TrafficChangeKind
)

FACTS: dict[str, FactSpec] = {
    "category": FactSpec(FactKind.TEXT, "The change category.", _values(Category)),
    "kind": FactSpec(
        FactKind.TEXT,
        "The sub-kind: details.kind, or details.target for software_config.",
        SUB_KINDS,
    ),
    "environment": FactSpec(FactKind.TEXT, "The environment, lower case."),
    "production": FactSpec(FactKind.BOOL, "The environment is a production one."),
    "emergency": FactSpec(FactKind.BOOL, "Requested as an emergency (urgent) change."),
    "standard": FactSpec(FactKind.BOOL, "Created from a standard-change template."),
    "has_details": FactSpec(FactKind.BOOL, "The requester gave the category's details."),
    "services_count": FactSpec(FactKind.NUMBER, "How many services the change touches."),
    "top_tier": FactSpec(
        FactKind.NUMBER, "The most critical tier among the services (1 is the most critical)."
    ),
    "failure_rate": FactSpec(
        FactKind.NUMBER,
        "The highest recent change failure rate, in %, among the services with enough history.",
    ),
    "hours_to_window": FactSpec(
        FactKind.NUMBER, "Hours from the assessment to the window's start (negative: started)."
    ),
    "window_hours": FactSpec(FactKind.NUMBER, "The window's length in hours."),
    "conflicts": FactSpec(FactKind.NUMBER, "Open changes overlapping on a service."),
    "in_freeze": FactSpec(FactKind.BOOL, "The window overlaps a freeze window."),
    "test_evidence": FactSpec(
        FactKind.TEXT, "`none`, `failing` or `passing`.", frozenset({"none", "failing", "passing"})
    ),
    "data_reversible": FactSpec(FactKind.BOOL, "Data changes: the data can be restored."),
    "data_rows": FactSpec(FactKind.NUMBER, "Data changes: rows expected to change."),
    "data_throttled": FactSpec(FactKind.BOOL, "Data changes: batched with load protection."),
    "traffic_share_percent": FactSpec(FactKind.NUMBER, "Traffic changes: share of traffic moved."),
    "expected_peak_rps": FactSpec(FactKind.NUMBER, "Traffic changes: expected peak load."),
    "schema_migration": FactSpec(FactKind.BOOL, "Application changes: migrates a schema."),
    "rollout_strategy": FactSpec(
        FactKind.TEXT, "Application changes: how the release rolls out.", _values(RolloutStrategy)
    ),
    "requires_restart": FactSpec(FactKind.BOOL, "Config changes: applying restarts."),
    "config_keys": FactSpec(FactKind.NUMBER, "Config changes: how many keys change."),
    "secret_keys": FactSpec(FactKind.BOOL, "Config changes: credentials change."),
    "automated": FactSpec(FactKind.BOOL, "Every implementation step is automated."),
}


@dataclass(frozen=True)
class Context:
    """What review knows beyond the change itself, at the moment of assessment."""

    now: datetime
    production_environments: frozenset[str]
    top_tier: int
    failure_rate: float | None = None
    conflicts: int = 0
    in_freeze: bool = False


def sub_kind(change: ChangeSnapshot) -> str | None:
    details = change.details
    if isinstance(details, SoftwareConfigDetails):
        return details.target.value
    kind = getattr(details, "kind", None)
    return None if kind is None else str(kind.value)


def test_evidence_state(change: ChangeSnapshot) -> str:
    if not change.test_evidence:
        return "none"
    return "failing" if any(run.failed > 0 for run in change.test_evidence) else "passing"


def derive(change: ChangeSnapshot, context: Context) -> dict[str, FactValue]:
    """Every fact of `FACTS` for `change`."""
    environment = change.environment.strip().lower()
    steps = change.plans.implementation_steps
    facts: dict[str, FactValue] = {
        "category": change.category.value,
        "kind": sub_kind(change),
        "environment": environment,
        "production": environment in context.production_environments,
        "emergency": change.emergency,
        "standard": change.standard,
        "has_details": change.details is not None,
        "services_count": len(set(change.services)),
        "top_tier": context.top_tier,
        "failure_rate": context.failure_rate,
        "hours_to_window": round((change.window.start - context.now).total_seconds() / 3600, 2),
        "window_hours": round((change.window.end - change.window.start).total_seconds() / 3600, 2),
        "conflicts": context.conflicts,
        "in_freeze": context.in_freeze,
        "test_evidence": test_evidence_state(change),
        "automated": bool(steps) and all(step.automated for step in steps),
    }
    facts.update(_detail_facts(change.details))
    return facts


def _detail_facts(details: Any) -> dict[str, FactValue]:
    facts: dict[str, FactValue] = dict.fromkeys(
        (name for name in FACTS if name not in _GENERAL), None
    )
    if isinstance(details, DataDetails):
        facts["data_reversible"] = details.reversible
        facts["data_rows"] = details.estimated_rows
        facts["data_throttled"] = details.load_protection is not None
    elif isinstance(details, TrafficDetails):
        facts["traffic_share_percent"] = details.traffic_share_percent
        facts["expected_peak_rps"] = details.expected_peak_rps
    elif isinstance(details, ApplicationDetails):
        facts["schema_migration"] = details.includes_schema_migration
        facts["rollout_strategy"] = details.rollout_strategy.value
    elif isinstance(details, SoftwareConfigDetails):
        facts["requires_restart"] = details.requires_restart
        facts["config_keys"] = len(details.keys)
        facts["secret_keys"] = any(key.secret for key in details.keys)
    return facts


_GENERAL = frozenset(
    {
        "category",
        "kind",
        "environment",
        "production",
        "emergency",
        "standard",
        "has_details",
        "services_count",
        "top_tier",
        "failure_rate",
        "hours_to_window",
        "window_hours",
        "conflicts",
        "in_freeze",
        "test_evidence",
        "automated",
    }
)
