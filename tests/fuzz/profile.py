"""How hard to fuzz: a short, deterministic run in `make test`, the full one in `make fuzz`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

# `make fuzz` sets it; anything else gets the short run.
PROFILE_VARIABLE = "FUZZ_PROFILE"
SEED = 20260908

# What valid data may be answered, beyond Schemathesis's defaults (2xx, 3xx, 401, 403, 404,
# 409, 429, 5xx; a 5xx still fails `not_a_server_error`): 412, because an `If-Match` the
# fuzzer makes up names a version the resource is not at (RFC 9110 §13.1.1).
VALID_DATA_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx"]
# Beyond the defaults: 428, the answer to a missing `If-Match` (RFC 6585 §3).
MISSING_HEADER_STATUSES = ["400", "401", "403", "406", "415", "422", "428"]
# Operations with rules JSON Schema cannot say (fields that must agree with each other or
# name what exists); valid data that breaks one is rightly a 422. Every other answer of
# theirs is still checked, and every other check still runs on them.
CROSS_FIELD_RULES = {
    "POST /v1/changes": "the window ends after it starts; `template_id` names a template; "
    "`details` are those of the `category`",
    "PATCH /v1/changes/{change_id}": "as for POST /v1/changes",
    "GET /v1/changes": "`window_to` is after `window_from`",
    "POST /v1/templates": "`details` are those of the `category`",
    "PUT /v1/policies/risk": "each condition has exactly one operator, on a known fact",
    "PUT /v1/policies/approvals": "only roles that may approve are required",
    "PUT /v1/policies/services": "change hours end after they start",
    "POST /v1/freeze-windows": "the window ends after it starts",
    "PUT /v1/executions/{change_id}/plan": "stages grow, and the last reaches 100%",
    "POST /v1/executions/{change_id}/acceptance": "`outcome` agrees with the results reported",
    "GET /v1/audit/entries": "`to` is after `from`",
    "GET /v1/audit/export": "`to` is after `from`",
    "GET /v1/audit/proofs/inclusion": "`entry` is at most `size`",
    "GET /v1/audit/proofs/consistency": "`from` is at most `to`",
    "GET /v1/reports/stability": "`window_to` is after `window_from`, at most 366 days",
    "POST /v1/incidents": "`resolved_at` is not before `started_at`",
    "POST /v1/incidents/{incident_id}/links": "a `reason` unless the change is a suggested one",
    "POST /v1/subscriptions": "`reminder_lead_seconds` comes with `change.upcoming`",
}


@dataclass(frozen=True)
class FuzzProfile:
    name: str
    examples_per_operation: int
    stateful_scenarios: int
    stateful_steps: int
    # The short run must not flake: same cases every time. The full run explores afresh.
    deterministic: bool
    # Schemathesis's coverage phase: every boundary and type violation of every parameter,
    # hundreds of requests per operation whatever the examples asked for.
    coverage: bool

    def schemathesis_config(self) -> dict[str, Any]:
        """Schemathesis settings (its `schemathesis.toml` keys); every check stays enabled."""
        return {
            "seed": SEED,
            # This 2-core machine is shared; slowness is the machine's, not the API's.
            "suppress-health-check": ["too_slow", "data_too_large", "filter_too_much"],
            "generation": {
                "max-examples": self.examples_per_operation,
                "deterministic": self.deterministic,
                "database": "none",
                # PostgreSQL text cannot hold NUL: such a value is refused with 422
                # `unstorable-value` (tested in tests/integration/test_bad_input.py), though
                # the schemas' strings allow it.
                "allow-x00": False,
            },
            "phases": {
                "coverage": {"enabled": self.coverage},
                "stateful": {"max-steps": self.stateful_steps},
            },
            "checks": {
                "positive_data_acceptance": {"expected-statuses": VALID_DATA_STATUSES},
                "missing_required_header": {"expected-statuses": MISSING_HEADER_STATUSES},
            },
            "operations": [
                {
                    # DELETE lifts a freeze window; the window stays readable, lifted, as the
                    # record of what was frozen when (the route says so). Reading it after
                    # its DELETE is no use after free.
                    "include-name": "GET /v1/freeze-windows/{freeze_id}",
                    "checks": {"use_after_free": {"enabled": False}},
                },
                {
                    "include-name": sorted(CROSS_FIELD_RULES),
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": [*VALID_DATA_STATUSES, "422"]
                        }
                    },
                },
            ],
        }


SHORT = FuzzProfile(
    "short",
    examples_per_operation=12,
    stateful_scenarios=20,
    stateful_steps=10,
    deterministic=True,
    coverage=False,
)
FULL = FuzzProfile(
    "full",
    examples_per_operation=1000,
    stateful_scenarios=300,
    stateful_steps=25,
    deterministic=False,
    coverage=True,
)


def current_profile() -> FuzzProfile:
    return FULL if os.environ.get(PROFILE_VARIABLE) == FULL.name else SHORT
