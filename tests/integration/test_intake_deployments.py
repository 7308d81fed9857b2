"""CI/CD deployment reports in the generic format: stored, correlated, flagged, published."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support.clients import (
    CHANGE_BODY,
    WINDOW_END,
    WINDOW_START,
    Tokens,
    eventually,
    fetch,
    iso,
    scalar,
)


def _report(service: str, **fields: Any) -> dict[str, Any]:
    return {
        "service": service,
        "environment": "production",
        "version": "2.14.0",
        "status": "succeeded",
        "started_at": iso(WINDOW_START + timedelta(minutes=5)),
        "finished_at": iso(WINDOW_START + timedelta(minutes=9, seconds=30)),
        "pipeline_url": "https://ci.example.com/runs/4711",
        "commit": "9fceb02d0ae598e95dc970b74767f19372d61af8",
        **fields,
    }


async def _approved_change(api: httpx.AsyncClient, tokens: Tokens, service: str) -> str:
    rita = tokens.headers("rita", "requester")
    mona = tokens.headers("mona", "change_manager")
    created = await api.post(
        "/v1/changes", json={**CHANGE_BODY, "services": [service]}, headers=rita
    )
    change_id = str(created.json()["id"])
    assert (await api.post(f"/v1/changes/{change_id}/submit", headers=rita)).status_code == 200
    await eventually(
        lambda: api.get(f"/v1/reviews/{change_id}", headers=mona),
        lambda response: response.status_code == 200,
    )
    approval = await api.post(
        f"/v1/reviews/{change_id}/approvals", json={"decision": "approve"}, headers=mona
    )
    assert approval.status_code == 201, approval.text
    await eventually(
        lambda: api.get(f"/v1/changes/{change_id}", headers=rita),
        lambda response: response.json()["status"] == "approved",
    )
    return change_id


async def test_an_unapproved_production_deployment_is_stored_flagged_and_published(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    response = await api.post(
        "/v1/deployments", json=_report(service), headers=tokens.headers("ci", "executor")
    )
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["unauthorized"] is True
    assert report["correlation"] == "none"
    assert report["change_id"] is None
    assert report["provider"] == "generic"
    assert report["reported_by"] == "ci"
    assert response.headers["location"] == f"/v1/deployments/{report['id']}"

    rows = await fetch(
        database_url,
        "SELECT partition_key, payload::jsonb->'data' AS data FROM intake.outbox "
        "WHERE event_type = 'deployment.reported' AND payload::jsonb->>'subject' = $1",
        report["id"],
    )
    assert len(rows) == 1
    assert rows[0]["partition_key"] == service
    assert '"unauthorized": true' in rows[0]["data"]

    async def published() -> Any:
        return await scalar(
            database_url,
            "SELECT sent_at FROM intake.outbox WHERE payload::jsonb->>'subject' = $1",
            report["id"],
        )

    await eventually(published, lambda sent_at: sent_at is not None)
    audra = tokens.headers("audra", "auditor")
    flagged = await api.get(
        "/v1/deployments", params={"service": service, "unauthorized": "true"}, headers=audra
    )
    assert [item["id"] for item in flagged.json()["items"]] == [report["id"]]


async def test_a_deployment_is_tied_to_its_approved_change(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    change_id = await _approved_change(api, tokens, service)
    ci = tokens.headers("ci", "requester")

    explicit = await api.post(
        "/v1/deployments", json=_report(service, change_id=change_id), headers=ci
    )
    assert explicit.status_code == 201, explicit.text
    assert explicit.json()["correlation"] == "explicit"
    assert explicit.json()["unauthorized"] is False

    in_window = await api.post("/v1/deployments", json=_report(service), headers=ci)
    assert in_window.json()["correlation"] == "window"
    assert in_window.json()["change_id"] == change_id
    assert in_window.json()["unauthorized"] is False

    outside = _report(service, started_at=iso(WINDOW_END + timedelta(hours=2)), finished_at=None)
    late = await api.post("/v1/deployments", json=outside, headers=ci)
    assert late.json()["correlation"] == "none"
    assert late.json()["unauthorized"] is True

    listed = await api.get(
        "/v1/deployments", params={"change_id": change_id}, headers=tokens.headers("a", "auditor")
    )
    assert {item["id"] for item in listed.json()["items"]} == {
        explicit.json()["id"],
        in_window.json()["id"],
    }


async def test_a_deployment_outside_production_is_never_unauthorized(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await api.post(
        "/v1/deployments",
        json=_report(f"svc-{uuid.uuid4().hex[:8]}", environment="staging"),
        headers=tokens.headers("ci", "executor"),
    )
    assert response.json()["unauthorized"] is False


async def test_a_repeated_delivery_is_stored_once_and_a_new_status_is_new(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    ci = tokens.headers("ci", "executor")
    running = _report(service, status="in_progress", external_id="run-1", finished_at=None)
    first = await api.post("/v1/deployments", json=running, headers=ci)
    again = await api.post("/v1/deployments", json=running, headers=ci)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    done = await api.post("/v1/deployments", json={**running, "status": "succeeded"}, headers=ci)
    assert done.status_code == 201
    assert done.json()["id"] != first.json()["id"]
    count = await scalar(
        database_url, "SELECT count(*) FROM intake.deployment_report WHERE service = $1", service
    )
    assert count == 2


async def test_reporting_needs_a_reporter_token(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    anonymous = await api.post("/v1/deployments", json=_report(service))
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "unauthenticated"
    auditor = await api.post(
        "/v1/deployments", json=_report(service), headers=tokens.headers("a", "auditor")
    )
    assert auditor.status_code == 403
    invalid = await api.post(
        "/v1/deployments",
        json=_report(service, status="exploded"),
        headers=tokens.headers("ci", "executor"),
    )
    assert invalid.status_code == 422
    assert ["body", "status"] in [error["loc"] for error in invalid.json()["errors"]]
    count = await scalar(
        database_url, "SELECT count(*) FROM intake.deployment_report WHERE service = $1", service
    )
    assert count == 0


async def test_deployments_are_paginated_newest_first(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    ci = tokens.headers("ci", "executor")
    start = datetime(2026, 12, 1, tzinfo=UTC)
    ids = []
    for minute in range(7):
        at = (start + timedelta(minutes=minute)).isoformat()
        response = await api.post(
            "/v1/deployments", json=_report(service, started_at=at, environment="dev"), headers=ci
        )
        ids.append(response.json()["id"])
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"service": service, "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/v1/deployments", params=params, headers=ci)).json()
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
