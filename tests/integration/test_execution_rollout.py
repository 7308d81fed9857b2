"""Staged rollouts over HTTP: four stages passing, a failure at 10% rolled back, a freeze."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.integration.test_execution_support import (
    CHECKS,
    approved_change,
    declare_freeze,
    events_of,
    lift_freeze,
    passing_stage,
    quick_plan,
    read_model,
    replace_plan,
    unique_service,
)
from tests.support.clients import Tokens, eventually


async def test_an_application_change_gets_the_default_four_stage_plan(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    service = unique_service()
    change_id = await approved_change(api, tokens, database_url, service=service)
    execution = (
        await api.get(f"/v1/executions/{change_id}", headers=tokens.headers("a", "auditor"))
    ).json()
    assert execution["status"] == "ready"
    assert execution["plan_source"] == "default"
    assert [s["target_percent"] for s in execution["stages"]] == [1, 10, 50, 100]
    assert [s["name"] for s in execution["stages"]] == ["1%", "10%", "50%", "100%"]
    assert all(s["status"] == "pending" and s["bake_seconds"] > 0 for s in execution["stages"])
    assert [c["name"] for c in execution["stages"][0]["checks"]] == CHECKS
    assert [c["kind"] for c in execution["stages"][0]["checks"]] == [
        "metric_threshold",
        "smoke_test",
    ]


async def test_a_hardware_change_is_one_stage(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    change_id = await approved_change(
        api, tokens, database_url, service=unique_service(), category="hardware"
    )
    execution = (
        await api.get(f"/v1/executions/{change_id}", headers=tokens.headers("a", "auditor"))
    ).json()
    assert [s["target_percent"] for s in execution["stages"]] == [100]


async def test_a_four_stage_rollout_passes_and_is_accepted(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    eddie = tokens.headers("eddie", "executor")
    change_id = await approved_change(api, tokens, database_url, service=unique_service())
    planned = await replace_plan(api, change_id, quick_plan(1, 10, 50, 100), eddie)
    assert planned.status_code == 200, planned.text
    assert planned.json()["plan_source"] == "custom"

    for number in (1, 2, 3, 4):
        execution = await passing_stage(api, change_id, number, eddie)
        assert execution["status"] == "in_progress"
        assert execution["stages"][number - 1]["status"] == "completed"
        assert len(execution["stages"][number - 1]["verifications"]) == 2

    completed = await api.post(f"/v1/executions/{change_id}/complete", headers=eddie)
    assert completed.status_code == 200, completed.text
    assert completed.json()["status"] == "completed"
    locked = await replace_plan(api, change_id, quick_plan(100), eddie)
    assert locked.status_code == 409
    assert locked.json()["code"] == "plan-locked"

    assert await events_of(database_url, change_id) == [
        "change.execution_started",
        *["change.stage_started", "change.stage_completed"] * 4,
        "change.completed",
    ]
    await eventually(
        lambda: read_model(api, tokens, change_id), lambda c: c["status"] == "completed"
    )


async def test_a_stage_cannot_complete_before_its_bake_time_or_without_its_checks(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    eddie = tokens.headers("eddie", "executor")
    change_id = await approved_change(api, tokens, database_url, service=unique_service())
    await replace_plan(api, change_id, quick_plan(50, 100, bake_seconds=3600), eddie)
    started = await api.post(f"/v1/executions/{change_id}/stages/1/start", headers=eddie)
    assert started.status_code == 200, started.text
    assert started.json()["stages"][0]["bake_ends_at"] is not None

    unverified = await api.post(f"/v1/executions/{change_id}/stages/1/complete", headers=eddie)
    assert unverified.status_code == 409
    assert unverified.json()["code"] == "bake-time-not-elapsed"

    skipped = await api.post(f"/v1/executions/{change_id}/stages/2/start", headers=eddie)
    assert skipped.status_code == 409
    assert skipped.json()["code"] == "gate-denied"
    assert [r["code"] for r in skipped.json()["reasons"] if r["blocking"]] == [
        "previous_stage_not_verified"
    ]


async def test_checks_must_all_be_reported_before_a_stage_completes(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    eddie = tokens.headers("eddie", "executor")
    change_id = await approved_change(api, tokens, database_url, service=unique_service())
    await replace_plan(api, change_id, quick_plan(100), eddie)
    await api.post(f"/v1/executions/{change_id}/stages/1/start", headers=eddie)
    partial = await api.post(
        f"/v1/executions/{change_id}/stages/1/verifications",
        json={"results": [{"name": "5xx rate", "result": "warn", "measured": 0.09}]},
        headers=eddie,
    )
    assert partial.status_code == 201, partial.text
    refused = await api.post(f"/v1/executions/{change_id}/stages/1/complete", headers=eddie)
    assert refused.status_code == 409
    assert refused.json()["code"] == "checks-incomplete"
    assert refused.json()["missing_checks"] == ["checkout smoke"]

    unplanned = await api.post(
        f"/v1/executions/{change_id}/stages/1/verifications",
        json={"results": [{"name": "latency", "result": "pass"}]},
        headers=eddie,
    )
    assert unplanned.status_code == 422
    assert unplanned.json()["errors"][0]["loc"] == ["body", "results", 0, "kind"]


async def test_a_failed_check_at_10_percent_stops_the_rollout_and_rolls_back(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    eddie = tokens.headers("eddie", "executor")
    change_id = await approved_change(api, tokens, database_url, service=unique_service())
    await replace_plan(api, change_id, quick_plan(1, 10, 50, 100), eddie)
    await passing_stage(api, change_id, 1, eddie)
    await api.post(f"/v1/executions/{change_id}/stages/2/start", headers=eddie)
    failed = await api.post(
        f"/v1/executions/{change_id}/stages/2/verifications",
        json={"results": [{"name": "5xx rate", "result": "fail", "measured": 4.2}]},
        headers=eddie,
    )
    assert failed.status_code == 201, failed.text
    assert failed.json()["status"] == "failed"
    assert "5xx rate" in failed.json()["failure_reason"]

    execution = (await api.get(f"/v1/executions/{change_id}", headers=eddie)).json()
    assert execution["status"] == "rolling_back"
    assert [s["status"] for s in execution["stages"]] == [
        "completed",
        "failed",
        "skipped",
        "skipped",
    ]
    rollback = execution["rollback"]
    assert rollback["stage_reached"] == 2
    assert [step["name"] for step in rollback["steps"]] == ["Revert to 2.13", "Purge the CDN cache"]
    assert [step["status"] for step in rollback["steps"]] == ["running", "pending"]

    next_stage = await api.post(f"/v1/executions/{change_id}/stages/3/start", headers=eddie)
    assert next_stage.status_code == 409
    early = await api.post(
        f"/v1/executions/{change_id}/acceptance", json={"outcome": "rolled_back"}, headers=eddie
    )
    assert early.status_code == 409
    assert early.json()["code"] == "stage-running"

    out_of_order = await api.post(
        f"/v1/executions/{change_id}/rollback/steps/2/start", headers=eddie
    )
    assert out_of_order.status_code == 409
    done_1 = await api.post(f"/v1/executions/{change_id}/rollback/steps/1/complete", headers=eddie)
    assert done_1.status_code == 200, done_1.text
    start_2 = await api.post(f"/v1/executions/{change_id}/rollback/steps/2/start", headers=eddie)
    assert start_2.status_code == 200, start_2.text
    done_2 = await api.post(f"/v1/executions/{change_id}/rollback/steps/2/complete", headers=eddie)
    assert done_2.status_code == 200, done_2.text
    assert done_2.json()["status"] == "rolled_back"

    undo = await api.post(
        f"/v1/executions/{change_id}/rollback", json={"reason": "again"}, headers=eddie
    )
    assert undo.status_code == 409
    assert await events_of(database_url, change_id) == [
        "change.execution_started",
        "change.stage_started",
        "change.stage_completed",
        "change.stage_started",
        "change.stage_failed",
        "change.stage_started",
        "change.stage_completed",
        "change.stage_started",
        "change.stage_completed",
        "change.rolled_back",
    ]
    await eventually(
        lambda: read_model(api, tokens, change_id), lambda c: c["status"] == "rolled_back"
    )


async def test_without_automatic_rollback_a_failed_stage_fails_the_change(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    eddie = tokens.headers("eddie", "executor")
    change_id = await approved_change(api, tokens, database_url, service=unique_service())
    await replace_plan(api, change_id, quick_plan(10, 100, auto_rollback=False), eddie)
    await api.post(f"/v1/executions/{change_id}/stages/1/start", headers=eddie)
    await api.post(
        f"/v1/executions/{change_id}/stages/1/verifications",
        json={"results": [{"name": "checkout smoke", "result": "fail", "measured": "3/42 red"}]},
        headers=eddie,
    )
    execution = (await api.get(f"/v1/executions/{change_id}", headers=eddie)).json()
    assert execution["status"] == "failed"
    assert execution["rollback"] is None
    assert (await events_of(database_url, change_id))[-2:] == [
        "change.stage_failed",
        "change.failed",
    ]
    rollback = await api.post(
        f"/v1/executions/{change_id}/rollback",
        json={"reason": "Undo the 10% canary"},
        headers=eddie,
    )
    assert rollback.status_code == 200, rollback.text
    assert rollback.json()["rollback"]["stage_reached"] == 1


async def test_a_freeze_starting_mid_rollout_pauses_it_until_lifted(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    eddie = tokens.headers("eddie", "executor")
    service = unique_service()
    change_id = await approved_change(api, tokens, database_url, service=service)
    await replace_plan(api, change_id, quick_plan(1, 10, 50, 100), eddie)
    await passing_stage(api, change_id, 1, eddie)
    await api.post(f"/v1/executions/{change_id}/stages/2/start", headers=eddie)
    await api.post(
        f"/v1/executions/{change_id}/stages/2/verifications",
        json={
            "results": [
                {"name": "5xx rate", "result": "pass"},
                {"name": "checkout smoke", "result": "pass"},
            ]
        },
        headers=eddie,
    )

    now = datetime.now(UTC)
    freeze_end = now + timedelta(hours=2)
    freeze_id = await declare_freeze(database_url, service, start=now, end=freeze_end)

    paused = (await api.get(f"/v1/executions/{change_id}", headers=eddie)).json()
    assert paused["paused"] is True
    assert [r["code"] for r in paused["paused_by"]] == ["freeze_in_force"]
    held = await api.post(f"/v1/executions/{change_id}/stages/2/complete", headers=eddie)
    assert held.status_code == 409, held.text
    assert held.json()["code"] == "gate-denied"
    assert datetime.fromisoformat(held.json()["next_allowed_at"]) == freeze_end
    gate = (
        await api.get(
            "/v1/gate",
            params={"change_id": change_id, "service": service, "environment": "production"},
            headers=eddie,
        )
    ).json()
    assert gate["allow"] is False
    assert "freeze_in_force" in [r["code"] for r in gate["reasons"] if r["blocking"]]

    await lift_freeze(database_url, freeze_id)
    resumed = (await api.get(f"/v1/executions/{change_id}", headers=eddie)).json()
    assert resumed["paused"] is False
    completed = await api.post(f"/v1/executions/{change_id}/stages/2/complete", headers=eddie)
    assert completed.status_code == 200, completed.text
    for number in (3, 4):
        await passing_stage(api, change_id, number, eddie)
    done = await api.post(f"/v1/executions/{change_id}/complete", headers=eddie)
    assert done.status_code == 200, done.text
