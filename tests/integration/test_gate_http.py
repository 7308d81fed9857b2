"""The deploy gate over HTTP: reasons from real facts, recorded checks, the emergency path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx

from tests.integration.test_execution_support import (
    approved_change,
    events_of,
    quick_plan,
    read_model,
    replace_plan,
    unique_service,
)
from tests.support.clients import Tokens, eventually, fetch, scalar


def _gate_params(change_id: str, service: str, **extra: object) -> dict[str, object]:
    return {"change_id": change_id, "service": service, "environment": "production", **extra}


async def _ask(
    api: httpx.AsyncClient, tokens: Tokens, change_id: str, service: str, **extra: object
) -> dict[str, object]:
    response = await api.get(
        "/v1/gate",
        params=_gate_params(change_id, service, **extra),
        headers=tokens.headers("ci", "executor"),
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _blocking(answer: dict[str, object]) -> list[str]:
    reasons = answer["reasons"]
    assert isinstance(reasons, list)
    return [reason["code"] for reason in reasons if reason["blocking"]]


async def test_an_unknown_change_is_not_approved(api: httpx.AsyncClient, tokens: Tokens) -> None:
    answer = await _ask(api, tokens, str(uuid4()), "checkout")
    assert answer["allow"] is False
    assert _blocking(answer) == ["not_approved"]
    assert answer["next_allowed_at"] is None


async def test_an_approved_change_in_its_window_may_deploy_stage_1(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    service = unique_service()
    change_id = await approved_change(api, tokens, database_url, service=service)
    answer = await _ask(api, tokens, change_id, service, stage=1)
    assert answer["allow"] is True
    assert [r["code"] for r in answer["reasons"]] == ["approved"]  # type: ignore[attr-defined]
    later = await _ask(api, tokens, change_id, service, stage=2)
    assert _blocking(later) == ["previous_stage_not_verified"]


async def test_a_window_not_yet_open_says_when_it_opens(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    service = unique_service()
    opens = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    window = {"start": opens.isoformat(), "end": (opens + timedelta(hours=1)).isoformat()}
    change_id = await approved_change(api, tokens, database_url, service=service, window=window)
    answer = await _ask(api, tokens, change_id, service)
    assert _blocking(answer) == ["outside_window"]
    assert datetime.fromisoformat(str(answer["next_allowed_at"])) == opens
    refused = await api.post(
        f"/v1/executions/{change_id}/stages/1/start", headers=tokens.headers("e", "executor")
    )
    assert refused.status_code == 409
    assert refused.json()["next_allowed_at"] == opens.isoformat()


async def test_an_expired_approval_and_a_conflicting_change_are_both_reasons(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    eddie = tokens.headers("eddie", "executor")
    service = unique_service()
    first = await approved_change(api, tokens, database_url, service=service)
    await replace_plan(api, first, quick_plan(10, 100), eddie)
    started = await api.post(f"/v1/executions/{first}/stages/1/start", headers=eddie)
    assert started.status_code == 200, started.text

    expired = datetime.now(UTC) - timedelta(minutes=5)
    second = await approved_change(
        api, tokens, database_url, service=service, approval_expires_at=expired
    )
    answer = await _ask(api, tokens, second, service)
    assert _blocking(answer) == ["conflicting_change", "approval_expired"]
    assert first in str(answer["reasons"])
    assert answer["next_allowed_at"] is None


async def test_a_gate_check_is_recorded_published_and_listed(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    ci = tokens.headers("ci-bot", "executor")
    service = unique_service()
    change_id = await approved_change(api, tokens, database_url, service=service)
    body = {
        "change_id": change_id,
        "service": service,
        "environment": "production",
        "stage": 1,
        "pipeline_url": "https://ci.example.com/runs/1",
    }
    created = await api.post("/v1/gate/checks", json=body, headers=ci)
    assert created.status_code == 201, created.text
    check = created.json()
    assert check["allow"] is True
    assert check["asked_by"] == "ci-bot"
    assert await events_of(database_url, change_id) == ["change.gate_checked"]
    event = (
        await fetch(
            database_url,
            "SELECT payload::jsonb -> 'data' AS data FROM execution.outbox "
            "WHERE partition_key = $1",
            change_id,
        )
    )[0]["data"]
    assert '"allow": true' in event
    listed = await api.get("/v1/gate/checks", params={"change_id": change_id}, headers=ci)
    assert [c["id"] for c in listed.json()] == [check["id"]]


async def test_a_bad_gate_check_names_its_fields_and_records_nothing(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    service = unique_service()
    refused = await api.post(
        "/v1/gate/checks",
        json={"change_id": "nope", "service": service, "stage": 0},
        headers=tokens.headers("ci", "executor"),
    )
    assert refused.status_code == 422
    fields = {tuple(error["loc"]) for error in refused.json()["errors"]}
    assert fields == {("body", "change_id"), ("body", "environment"), ("body", "stage")}
    auditor = await api.post(
        "/v1/gate/checks",
        json={"change_id": str(uuid4()), "service": service, "environment": "production"},
        headers=tokens.headers("audra", "auditor"),
    )
    assert auditor.status_code == 403
    stored = await scalar(
        database_url, "SELECT count(*) FROM execution.gate_check WHERE service = $1", service
    )
    assert stored == 0


async def test_an_emergency_change_starts_before_its_review_completes(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    """Approved by one change manager with `emergency`, outside its window, under a conflict."""
    eddie = tokens.headers("eddie", "executor")
    service = unique_service()
    other = await approved_change(api, tokens, database_url, service=service)
    await api.post(f"/v1/executions/{other}/start", headers=eddie)
    await api.post(f"/v1/executions/{other}/stages/1/start", headers=eddie)
    opens = datetime.now(UTC) + timedelta(hours=6)
    window = {"start": opens.isoformat(), "end": (opens + timedelta(hours=1)).isoformat()}
    change_id = await approved_change(
        api, tokens, database_url, service=service, window=window, emergency=True
    )
    review = await api.get(f"/v1/reviews/{change_id}", headers=tokens.headers("m", "auditor"))
    assert review.status_code == 200
    assert review.json()["status"] != "approved"

    answer = await _ask(api, tokens, change_id, service)
    assert answer["allow"] is True
    codes = [r["code"] for r in answer["reasons"]]  # type: ignore[attr-defined]
    assert "emergency" in codes
    assert {"outside_window", "conflicting_change"} <= set(codes)

    started = await api.post(f"/v1/executions/{change_id}/stages/1/start", headers=eddie)
    assert started.status_code == 200, started.text
    execution = started.json()
    assert execution["emergency"] is True
    assert execution["retrospective_required"] is True
    stage_event = (
        await fetch(
            database_url,
            "SELECT payload::jsonb -> 'data' AS data FROM execution.outbox "
            "WHERE partition_key = $1 AND event_type = 'change.stage_started'",
            change_id,
        )
    )[0]["data"]
    assert '"emergency": true' in stage_event
    await eventually(
        lambda: read_model(api, tokens, change_id), lambda c: c["status"] == "in_progress"
    )
