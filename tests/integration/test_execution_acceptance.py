"""Acceptance: refused mid-stage, accepted with each outcome, shown by intake's read model."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.test_execution_support import (
    approved_change,
    passing_stage,
    quick_plan,
    read_model,
    replace_plan,
    unique_service,
)
from tests.support.clients import Tokens, eventually, scalar

EVIDENCE: dict[str, Any] = {
    "functional_acceptance": {"passed": True, "notes": "Orders placed end to end"},
    "regression": [{"suite": "checkout-e2e", "passed": 212, "failed": 0}],
    "monitoring": [
        {"signal": "logs", "window_minutes": 60, "verdict": "ok"},
        {"signal": "metrics", "window_minutes": 60, "verdict": "ok"},
        {"signal": "load", "window_minutes": 30, "verdict": "degraded", "notes": "cpu 70%"},
    ],
}


async def _rolled_out(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str, *, auto_rollback: bool = True
) -> str:
    eddie = tokens.headers("eddie", "executor")
    change_id = await approved_change(api, tokens, database_url, service=unique_service())
    plan = quick_plan(10, 100, auto_rollback=auto_rollback)
    await replace_plan(api, change_id, plan, eddie)
    await passing_stage(api, change_id, 1, eddie)
    return change_id


async def _ending(api: httpx.AsyncClient, tokens: Tokens, database_url: str, outcome: str) -> str:
    """An execution that ended as `outcome` says: completed, failed or rolled back."""
    eddie = tokens.headers("eddie", "executor")
    change_id = await _rolled_out(api, tokens, database_url, auto_rollback=False)
    base = f"/v1/executions/{change_id}"
    if outcome == "successful":
        await passing_stage(api, change_id, 2, eddie)
        assert (await api.post(f"{base}/complete", headers=eddie)).status_code == 200
    elif outcome == "failed":
        await api.post(f"{base}/stages/2/start", headers=eddie)
        await api.post(
            f"{base}/stages/2/verifications",
            json={"results": [{"name": "5xx rate", "result": "fail", "measured": 3.1}]},
            headers=eddie,
        )
    else:
        await api.post(f"{base}/stages/2/start", headers=eddie)
        rollback = await api.post(
            f"{base}/rollback", json={"reason": "Latency up 40%"}, headers=eddie
        )
        assert rollback.status_code == 200, rollback.text
        assert rollback.json()["stages"][1]["status"] == "aborted"
        assert rollback.json()["rollback"]["stage_reached"] == 2
        for step in (1, 2):
            if step > 1:
                await api.post(f"{base}/rollback/steps/{step}/start", headers=eddie)
            await api.post(f"{base}/rollback/steps/{step}/complete", headers=eddie)
    return change_id


async def test_acceptance_is_refused_while_a_stage_runs_and_changes_nothing(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    eddie = tokens.headers("eddie", "executor")
    change_id = await _rolled_out(api, tokens, database_url)
    await api.post(f"/v1/executions/{change_id}/stages/2/start", headers=eddie)
    before = (await api.get(f"/v1/executions/{change_id}", headers=eddie)).json()
    refused = await api.post(
        f"/v1/executions/{change_id}/acceptance",
        json={"outcome": "successful", **EVIDENCE},
        headers=eddie,
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "stage-running"
    assert refused.headers["content-type"] == "application/problem+json"
    after = (await api.get(f"/v1/executions/{change_id}", headers=eddie)).json()
    assert after == before


@pytest.mark.parametrize("outcome", ["successful", "failed", "rolled_back"])
async def test_an_ended_execution_is_accepted_with_its_outcome(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str, outcome: str
) -> None:
    eddie = tokens.headers("eddie", "executor")
    change_id = await _ending(api, tokens, database_url, outcome)
    evidence = EVIDENCE if outcome == "successful" else {**EVIDENCE, "regression": []}
    accepted = await api.post(
        f"/v1/executions/{change_id}/acceptance",
        json={"outcome": outcome, "notes": "Reviewed", **evidence},
        headers=eddie,
    )
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["status"] == "accepted"
    assert body["outcome"] == outcome
    monitoring = body["acceptance"]["monitoring"]
    assert [(m["signal"], m["window_minutes"], m["verdict"]) for m in monitoring] == [
        ("logs", 60, "ok"),
        ("metrics", 60, "ok"),
        ("load", 30, "degraded"),
    ]
    change = await eventually(
        lambda: read_model(api, tokens, change_id), lambda c: c["status"] == "accepted"
    )
    assert change["outcome"] == outcome


async def test_an_outcome_must_match_how_the_execution_ended(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    eddie = tokens.headers("eddie", "executor")
    change_id = await _ending(api, tokens, database_url, "rolled_back")
    refused = await api.post(
        f"/v1/executions/{change_id}/acceptance", json={"outcome": "successful"}, headers=eddie
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "outcome-contradicts-execution"
    assert refused.json()["allowed_outcomes"] == ["rolled_back"]


async def test_a_successful_outcome_with_failed_evidence_is_a_422(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    eddie = tokens.headers("eddie", "executor")
    change_id = await _ending(api, tokens, database_url, "successful")
    refused = await api.post(
        f"/v1/executions/{change_id}/acceptance",
        json={
            "outcome": "successful",
            "regression": [{"suite": "checkout-e2e", "passed": 200, "failed": 12}],
            "monitoring": [{"signal": "logs", "window_minutes": 0, "verdict": "ok"}],
        },
        headers=eddie,
    )
    assert refused.status_code == 422
    locations = [error["loc"] for error in refused.json()["errors"]]
    assert ["body", "monitoring", 0, "window_minutes"] in locations
    status = await scalar(
        database_url,
        "SELECT status FROM execution.execution WHERE change_id = $1::uuid",
        change_id,
    )
    assert status == "completed"
