"""Property: over HTTP, every move the state machines forbid answers 409 and writes nothing."""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.execution.domain import Action, ExecutionStatus, allowed_from
from tests.integration.test_execution_support import (
    approved_change,
    quick_plan,
    replace_plan,
    unique_service,
)
from tests.support.clients import Tokens, fetch

PASSING = {
    "results": [
        {"name": "5xx rate", "result": "pass"},
        {"name": "checkout smoke", "result": "pass"},
    ]
}
OUTCOME_AFTER = {"completed": "successful", "failed": "failed", "rolled_back": "rolled_back"}

# Each action: method path (relative to the execution) and body; `None` body = no body.
ACTIONS: dict[str, tuple[str, dict[str, Any] | None]] = {
    "start": ("start", None),
    "stage1_start": ("stages/1/start", None),
    "stage1_verify": ("stages/1/verifications", PASSING),
    "stage1_fail": (
        "stages/1/verifications",
        {"results": [{"name": "5xx rate", "result": "fail"}]},
    ),
    "stage1_complete": ("stages/1/complete", None),
    "stage2_start": ("stages/2/start", None),
    "stage2_verify": ("stages/2/verifications", PASSING),
    "stage2_complete": ("stages/2/complete", None),
    "complete": ("complete", None),
    "rollback": ("rollback", {"reason": "Property test"}),
    "step1_start": ("rollback/steps/1/start", None),
    "step1_complete": ("rollback/steps/1/complete", None),
    "accept": ("acceptance", {}),
}
# The execution-level state machine's name for the HTTP actions that are its transitions.
DOMAIN_ACTION = {
    "start": Action.START,
    "complete": Action.COMPLETE,
    "rollback": Action.ROLLBACK,
    "accept": Action.ACCEPT,
}


async def _snapshot(database_url: str, change_id: str) -> tuple[Any, ...]:
    execution = await fetch(
        database_url,
        "SELECT status, version FROM execution.execution WHERE change_id = $1::uuid",
        change_id,
    )
    stages = await fetch(
        database_url,
        "SELECT phase, number, status FROM execution.execution_stage "
        "WHERE change_id = $1::uuid ORDER BY phase, number",
        change_id,
    )
    counts = await fetch(
        database_url,
        "SELECT (SELECT count(*) FROM execution.verification WHERE change_id = $1::uuid), "
        "(SELECT count(*) FROM execution.outbox WHERE partition_key = $1::text)",
        change_id,
    )
    return (
        tuple(execution[0]),
        tuple(tuple(row) for row in stages),
        tuple(counts[0]),
    )


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    actions=st.lists(st.sampled_from(sorted(ACTIONS)), min_size=3, max_size=10),
    auto_rollback=st.booleans(),
)
async def test_every_forbidden_transition_is_a_409_that_writes_nothing(
    api: httpx.AsyncClient,
    tokens: Tokens,
    database_url: str,
    actions: list[str],
    auto_rollback: bool,
) -> None:
    eddie = tokens.headers("eddie", "executor")
    change_id = await approved_change(api, tokens, database_url, service=unique_service())
    plan = {**quick_plan(10, 100, auto_rollback=auto_rollback), "rollback_steps": ["Revert"]}
    planned = await replace_plan(api, change_id, plan, eddie)
    assert planned.status_code == 200, planned.text
    for name in actions:
        before = await _snapshot(database_url, change_id)
        status = ExecutionStatus(before[0][0])
        path, body = ACTIONS[name]
        if name == "accept":
            body = {"outcome": OUTCOME_AFTER.get(status.value, "successful")}
        url = f"/v1/executions/{change_id}/{path}"
        response = await (
            api.post(url, headers=eddie)
            if body is None
            else api.post(url, json=body, headers=eddie)
        )
        after = await _snapshot(database_url, change_id)
        assert response.status_code in (200, 201, 409), (name, response.text)
        if response.status_code == 409:
            assert response.headers["content-type"] == "application/problem+json"
            assert after == before, (name, response.json())
        else:
            assert after != before, name
        domain_action = DOMAIN_ACTION.get(name)
        if domain_action is not None and status not in allowed_from(domain_action):
            assert response.status_code == 409, (name, status, response.text)
