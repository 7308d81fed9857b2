"""The built-in risk policy (version 0), in force until a change_lead stores another.

Calibrated so that, on a 0-100 scale: a routine non-production change stays standard
(under 25), a routine production change is important (25-59), and a production change
with a second serious risk (a tier-1 service, irreversible data, a schema migration,
an overlapping change) is critical (60 and up).
"""

from __future__ import annotations

from typing import Any

from services.review.risk.policy import RiskPolicy


def _rule(
    rule_id: str, dimension: str, points: int, description: str, **when: Any
) -> dict[str, Any]:
    return {
        "id": rule_id,
        "dimension": dimension,
        "points": points,
        "description": description,
        "when": when,
    }


DEFAULT_RULES: list[dict[str, Any]] = [
    # Where: production and the criticality of what is touched.
    _rule("production", "business", 25, "Changes production", production=True),
    _rule("tier-1-service", "business", 20, "Touches a tier-1 service", top_tier={"lte": 1}),
    _rule("tier-2-service", "business", 10, "Touches a tier-2 service", top_tier=2),
    _rule(
        "several-services",
        "architecture",
        10,
        "Touches 3 or more services",
        services_count={"gte": 3},
    ),
    _rule(
        "many-services", "architecture", 15, "Touches 6 or more services", services_count={"gte": 6}
    ),
    # What is known about it.
    _rule(
        "details-missing", "compliance", 5, "The category's details are missing", has_details=False
    ),
    _rule(
        "no-test-evidence",
        "compliance",
        10,
        "No test evidence for a tested category",
        test_evidence="none",
        category=["application", "software_config", "data"],
    ),
    _rule(
        "failing-tests", "compliance", 25, "Test evidence shows failures", test_evidence="failing"
    ),
    # Data.
    _rule(
        "irreversible-data",
        "architecture",
        30,
        "The data change cannot be undone",
        data_reversible=False,
    ),
    _rule("data-migration", "architecture", 10, "Migrates data", category="data", kind="migration"),
    _rule(
        "large-data-volume",
        "performance",
        15,
        "Changes a million rows or more",
        data_rows={"gte": 1_000_000},
    ),
    _rule(
        "huge-data-volume",
        "performance",
        15,
        "Changes 100 million rows or more",
        data_rows={"gte": 100_000_000},
    ),
    _rule(
        "unthrottled-data-change",
        "performance",
        10,
        "Data changed without load protection",
        data_throttled=False,
    ),
    # Traffic.
    _rule(
        "large-traffic-shift",
        "performance",
        15,
        "Moves half the traffic or more",
        traffic_share_percent={"gte": 50},
    ),
    _rule(
        "full-traffic-shift",
        "performance",
        10,
        "Moves all the traffic",
        traffic_share_percent={"gte": 100},
    ),
    _rule(
        "expected-spike", "performance", 15, "Prepares for a traffic spike", kind="expected_spike"
    ),
    # Applications and configuration.
    _rule(
        "schema-migration",
        "architecture",
        15,
        "The release migrates a schema",
        schema_migration=True,
    ),
    _rule(
        "all-at-once-rollout",
        "performance",
        10,
        "Released all at once, not gradually",
        rollout_strategy="all_at_once",
    ),
    _rule(
        "restart-required",
        "performance",
        10,
        "Applying the configuration restarts",
        requires_restart=True,
    ),
    _rule("database-config", "architecture", 10, "Reconfigures a database", kind="database"),
    _rule(
        "security-rule",
        "compliance",
        15,
        "Changes a cloud security rule",
        kind="cloud_security_rule",
    ),
    _rule("credentials-change", "compliance", 10, "Changes credentials", secret_keys=True),
    _rule(
        "network-device",
        "architecture",
        15,
        "Replaces or reflashes network gear",
        kind=["network_device_replacement", "network_firmware_update"],
    ),
    # History and timing.
    _rule(
        "high-failure-rate",
        "business",
        15,
        "The service's recent changes often fail",
        failure_rate={"gte": 30},
    ),
    _rule(
        "short-notice",
        "business",
        10,
        "The window starts within 24 hours",
        hours_to_window={"lt": 24},
    ),
    _rule(
        "long-window", "performance", 5, "The window is longer than 8 hours", window_hours={"gt": 8}
    ),
    _rule(
        "overlapping-changes",
        "architecture",
        15,
        "Overlaps another open change",
        conflicts={"gte": 1},
    ),
    _rule("during-freeze", "compliance", 20, "The window overlaps a freeze window", in_freeze=True),
]

DEFAULT_RISK_POLICY = RiskPolicy.model_validate({"rules": DEFAULT_RULES})
