"""The built-in risk policy over a table of changes: impact level and the rules that fire."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from services.review.approval_policy import DEFAULT_APPROVAL_POLICY
from services.review.assessing import Policies, assess
from services.review.catalog import EMPTY_CATALOG
from services.review.risk import engine
from services.review.risk.defaults import DEFAULT_RISK_POLICY
from services.review.risk.facts import Context
from shared.contracts import ChangeSnapshot, ImpactLevel, Plans, Window

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
POLICIES = Policies(
    risk=DEFAULT_RISK_POLICY,
    risk_version=0,
    approvals=DEFAULT_APPROVAL_POLICY,
    catalog=EMPTY_CATALOG,
)
PASSING = [{"suite": "e2e", "passed": 120, "failed": 0}]
FAILING = [{"suite": "e2e", "passed": 118, "failed": 2}]


def pods() -> dict[str, Any]:
    return {"kind": "pod_count_change", "assets": ["web"]}


def config(target: str, *, restart: bool = False, key: str = "max_connections") -> dict[str, Any]:
    return {"target": target, "keys": [{"key": key, "new_value": "1"}], "requires_restart": restart}


def app(kind: str, rollout: str = "canary", *, migration: bool = False) -> dict[str, Any]:
    return {
        "kind": kind,
        "repository": "github.com/acme/web",
        "version_to": "v2",
        "rollout_strategy": rollout,
        "includes_schema_migration": migration,
    }


def data(kind: str, rows: int, *, reversible: bool, throttled: bool = True) -> dict[str, Any]:
    details: dict[str, Any] = {
        "kind": kind,
        "datasets": ["orders"],
        "estimated_rows": rows,
        "reversible": reversible,
    }
    if throttled:
        details["load_protection"] = {"batch_size": 1000}
    return details


def traffic(kind: str, share: float | None = None, rps: float | None = None) -> dict[str, Any]:
    return {"kind": kind, "traffic_share_percent": share, "expected_peak_rps": rps}


@dataclass(frozen=True)
class Case:
    name: str
    category: str
    environment: str
    details: dict[str, Any] | None
    level: ImpactLevel
    rules: frozenset[str]
    evidence: list[dict[str, Any]] = field(default_factory=list)
    emergency: bool = False
    standard: bool = False
    services: int = 1
    hours_to_window: float = 24 * 10
    window_hours: float = 1
    context: dict[str, Any] = field(default_factory=dict)


def rules(*names: str) -> frozenset[str]:
    return frozenset(names)


IMP, STD, URG, CRIT = (
    ImpactLevel.IMPORTANT,
    ImpactLevel.STANDARD,
    ImpactLevel.URGENT,
    ImpactLevel.CRITICAL,
)

CASES = [
    # hardware
    Case("pods in production", "hardware", "production", pods(), IMP, rules("production")),
    Case("pods in staging", "hardware", "staging", pods(), STD, rules()),
    Case("no details in production", "hardware", "production", None, IMP,
         rules("production", "details-missing")),
    Case("network device swap", "hardware", "production",
         {"kind": "network_device_replacement", "assets": ["sw1"]}, IMP,
         rules("production", "network-device")),
    Case("firmware on a tier-1 path", "hardware", "production",
         {"kind": "network_firmware_update", "assets": ["sw1"]}, CRIT,
         rules("production", "tier-1-service", "network-device"), context={"top_tier": 1}),
    Case("resize in dev", "hardware", "dev",
         {"kind": "cloud_instance_resize", "assets": ["vm"]}, STD, rules()),
    Case("emergency RAM upgrade", "hardware", "production",
         {"kind": "ram_upgrade", "assets": ["db1"]}, URG, rules("production"), emergency=True),
    Case("template pods", "hardware", "production", pods(), STD, rules("production"),
         standard=True),
    Case("template pods on tier 2", "hardware", "production", pods(), IMP,
         rules("production", "tier-2-service"), standard=True, context={"top_tier": 2}),
    Case("four services", "hardware", "production", pods(), IMP,
         rules("production", "several-services"), services=4),
    Case("six services", "hardware", "production", pods(), IMP,
         rules("production", "several-services", "many-services"), services=6),
    Case("overlapping at short notice", "hardware", "production", pods(), IMP,
         rules("production", "overlapping-changes", "short-notice"), hours_to_window=6,
         context={"conflicts": 1}),
    Case("long window", "hardware", "production", pods(), IMP,
         rules("production", "long-window"), window_hours=12),
    # software configuration
    Case("os tuning untested", "software_config", "production", config("os"), IMP,
         rules("production", "no-test-evidence")),
    Case("database restart", "software_config", "production", config("database", restart=True),
         IMP, rules("production", "database-config", "restart-required"), evidence=PASSING),
    Case("security group", "software_config", "production", config("cloud_security_rule"), IMP,
         rules("production", "security-rule"), evidence=PASSING),
    Case("queue password in staging", "software_config", "staging",
         config("middleware", key="broker_password"), STD, rules("credentials-change"),
         evidence=PASSING),
    Case("tier-1 database restart", "software_config", "production",
         config("database", restart=True), CRIT,
         rules("production", "tier-1-service", "database-config", "restart-required"),
         evidence=PASSING, context={"top_tier": 1}),
    Case("network rule in staging untested", "software_config", "staging",
         config("cloud_network_rule"), STD, rules("no-test-evidence")),
    # application
    Case("canary bug fix", "application", "production", app("bug_fix"), IMP, rules("production"),
         evidence=PASSING),
    Case("feature all at once", "application", "production", app("feature", "all_at_once"), IMP,
         rules("production", "all-at-once-rollout"), evidence=PASSING),
    Case("feature in staging untested", "application", "staging", app("feature", "rolling"), STD,
         rules("no-test-evidence")),
    Case("tier-1 schema migration", "application", "production",
         app("feature", migration=True), CRIT,
         rules("production", "tier-1-service", "schema-migration"), evidence=PASSING,
         context={"top_tier": 1}),
    Case("failing tests", "application", "production", app("bug_fix"), IMP,
         rules("production", "failing-tests"), evidence=FAILING),
    Case("failing big bang upgrade", "application", "production",
         app("dependency_upgrade", "all_at_once"), CRIT,
         rules("production", "failing-tests", "all-at-once-rollout"), evidence=FAILING),
    Case("emergency hot config", "application", "production", app("config_hot_update"), URG,
         rules("production", "no-test-evidence"), emergency=True),
    Case("tool upgrade in dev", "application", "dev", app("devops_tool_upgrade"), STD, rules(),
         evidence=PASSING),
    Case("fix during a freeze, flaky service", "application", "production", app("bug_fix"), CRIT,
         rules("production", "during-freeze", "high-failure-rate"), evidence=PASSING,
         context={"in_freeze": True, "failure_rate": 40.0}),
    Case("fix on a service with a good record", "application", "prod", app("bug_fix"), IMP,
         rules("production"), evidence=PASSING, context={"failure_rate": 10.0}),
    # data
    Case("reversible cleanup", "data", "production", data("cleanup", 10_000, reversible=True), IMP,
         rules("production"), evidence=PASSING),
    Case("irreversible cleanup", "data", "production",
         data("cleanup", 10_000, reversible=False), IMP,
         rules("production", "irreversible-data"), evidence=PASSING),
    Case("irreversible unthrottled migration", "data", "production",
         data("migration", 2_000_000, reversible=False, throttled=False), CRIT,
         rules("production", "irreversible-data", "data-migration", "large-data-volume",
               "unthrottled-data-change"), evidence=PASSING),
    Case("huge bulk update in staging", "data", "staging",
         data("bulk_update", 500_000_000, reversible=True), IMP,
         rules("large-data-volume", "huge-data-volume"), evidence=PASSING),
    Case("small migration in staging untested", "data", "staging",
         data("migration", 100, reversible=True), STD, rules("data-migration", "no-test-evidence")),
    # traffic
    Case("small load balancer shift", "traffic", "production",
         traffic("load_balancer_rule", share=10), IMP, rules("production")),
    Case("majority routing shift", "traffic", "production", traffic("routing_rule", share=60), IMP,
         rules("production", "large-traffic-shift")),
    Case("all tier-1 traffic", "traffic", "production", traffic("routing_rule", share=100), CRIT,
         rules("production", "tier-1-service", "large-traffic-shift", "full-traffic-shift"),
         context={"top_tier": 1}),
    Case("sale spike", "traffic", "production", traffic("expected_spike", rps=50_000), IMP,
         rules("production", "expected-spike")),
    Case("full shift in staging", "traffic", "staging",
         traffic("load_balancer_rule", share=100), IMP,
         rules("large-traffic-shift", "full-traffic-shift")),
    Case("routing in qa", "traffic", "qa", traffic("routing_rule", share=30), STD, rules()),
]  # fmt: skip


def snapshot(case: Case) -> ChangeSnapshot:
    start = NOW + timedelta(hours=case.hours_to_window)
    return ChangeSnapshot.model_validate(
        {
            "change_id": uuid4(),
            "title": case.name,
            "category": case.category,
            "services": [f"svc-{n}" for n in range(case.services)],
            "environment": case.environment,
            "window": Window(start=start, end=start + timedelta(hours=case.window_hours)),
            "plans": Plans(
                implementation="apply through the pipeline",
                rollback="re-apply the previous version",
                verification="dashboards green for 15 minutes",
            ),
            "requester": "rita",
            "emergency": case.emergency,
            "version": 1,
            "details": case.details,
            "test_evidence": case.evidence,
            "standard": case.standard,
        }
    )


def test_the_table_covers_every_category_and_level() -> None:
    assert len(CASES) >= 30
    assert {case.category for case in CASES} == {
        "hardware",
        "software_config",
        "application",
        "data",
        "traffic",
    }
    assert {case.level for case in CASES} == set(ImpactLevel)
    assert len({case.environment for case in CASES}) >= 4


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_impact_level_and_rules_fired(case: Case) -> None:
    context = Context(
        **{
            "now": NOW,
            "production_environments": DEFAULT_RISK_POLICY.environments(),
            "top_tier": DEFAULT_RISK_POLICY.default_tier,
            **case.context,
        }
    )
    outcome = assess(snapshot(case), POLICIES, context)

    fired = {rule.rule for rule in outcome.risk.rules_fired}
    assert fired == case.rules
    assert outcome.level is case.level
    breakdown = outcome.risk.breakdown.model_dump()
    assert sum(breakdown.values()) == sum(rule.points for rule in outcome.risk.rules_fired)
    assert outcome.risk.score == min(100, sum(breakdown.values()))
    assert all(
        rule.reason.startswith(rule.reason.split(":")[0]) for rule in outcome.risk.rules_fired
    )


@pytest.mark.parametrize(
    ("score", "emergency", "standard", "expected"),
    [
        (0, False, False, ImpactLevel.STANDARD),
        (24, False, False, ImpactLevel.STANDARD),
        (25, False, False, ImpactLevel.IMPORTANT),
        (59, False, False, ImpactLevel.IMPORTANT),
        (60, False, False, ImpactLevel.CRITICAL),
        (30, False, True, ImpactLevel.STANDARD),
        (31, False, True, ImpactLevel.IMPORTANT),
        (60, False, True, ImpactLevel.CRITICAL),
        (0, True, False, ImpactLevel.URGENT),
        (100, True, False, ImpactLevel.URGENT),
    ],
)
def test_impact_level_thresholds(
    score: int, emergency: bool, standard: bool, expected: ImpactLevel
) -> None:
    level = engine.impact_level(
        DEFAULT_RISK_POLICY, risk_score=score, emergency=emergency, standard=standard
    )

    assert level is expected


def test_the_score_is_capped_at_100_but_the_breakdown_is_not() -> None:
    case = Case(
        "everything at once",
        "data",
        "production",
        data("migration", 500_000_000, reversible=False, throttled=False),
        CRIT,
        rules(),
        evidence=FAILING,
        services=7,
        hours_to_window=2,
        context={"top_tier": 1, "conflicts": 2, "in_freeze": True, "failure_rate": 80.0},
    )
    context = Context(now=NOW, production_environments=frozenset({"production"}), **case.context)
    outcome = assess(snapshot(case), POLICIES, context)

    assert outcome.risk.score == 100
    assert sum(outcome.risk.breakdown.model_dump().values()) > 100
    assert outcome.level is ImpactLevel.CRITICAL
