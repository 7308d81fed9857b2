"""Helpers of the execution tests (no tests here): approved changes, review's events, stages.

Review's own endpoints for emergency approvals and freeze windows are built in parallel;
until then these helpers write review's events into review's outbox in the in-process
app, exactly as review will, and its relay delivers them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
from pydantic import BaseModel

from services.review.models import tables as review_tables
from shared.contracts import (
    ChangeApproved,
    EventType,
    FreezeWindowDeclared,
    FreezeWindowLifted,
    ImpactLevel,
    Window,
)
from shared.db import Database
from shared.outbox import record_event
from tests.support.clients import Tokens, eventually, scalar

PLANS: dict[str, Any] = {
    "implementation": "Deploy 2.14 through the canary pipeline",
    "rollback": "1. Revert to 2.13\n2. Purge the CDN cache",
    "verification": "Error rate and smoke tests at each stage",
    "verification_checks": [
        {"name": "5xx rate", "kind": "metric", "expected": "< 0.1%"},
        {"name": "checkout smoke", "kind": "synthetic", "expected": "green"},
    ],
}
CHECKS = ["5xx rate", "checkout smoke"]


def unique_service() -> str:
    return f"svc-{uuid4().hex[:12]}"


def window_around_now(before: timedelta = timedelta(hours=1)) -> dict[str, str]:
    now = datetime.now(UTC)
    return {"start": (now - before).isoformat(), "end": (now + timedelta(hours=4)).isoformat()}


async def publish_as_review(
    database_url: str, event_type: EventType, *, subject: str, data: BaseModel
) -> None:
    database = Database(database_url, pool_size=1)
    try:
        async with database.sessionmaker() as session, session.begin():
            await record_event(
                session, review_tables, event_type, subject=subject, data=data, actor="mona"
            )
    finally:
        await database.dispose()


async def declare_freeze(
    database_url: str,
    service: str,
    *,
    start: datetime,
    end: datetime,
    environment: str | None = "production",
) -> UUID:
    freeze_id = uuid4()
    await publish_as_review(
        database_url,
        EventType.FREEZE_WINDOW_DECLARED,
        subject=str(freeze_id),
        data=FreezeWindowDeclared(
            freeze_window_id=freeze_id,
            services=[service],
            environment=environment,
            start=start,
            end=end,
            reason="Year-end sales",
            declared_by="lena",
        ),
    )
    await eventually(
        lambda: scalar(
            database_url, "SELECT count(*) FROM execution.freeze_window WHERE id = $1", freeze_id
        ),
        lambda count: count == 1,
    )
    return freeze_id


async def lift_freeze(database_url: str, freeze_id: UUID) -> None:
    await publish_as_review(
        database_url,
        EventType.FREEZE_WINDOW_LIFTED,
        subject=str(freeze_id),
        data=FreezeWindowLifted(freeze_window_id=freeze_id, lifted_by="lena"),
    )
    await eventually(
        lambda: scalar(
            database_url,
            "SELECT lifted_at IS NOT NULL FROM execution.freeze_window WHERE id = $1",
            freeze_id,
        ),
        lambda lifted: lifted is True,
    )


async def approved_change(
    api: httpx.AsyncClient,
    tokens: Tokens,
    database_url: str,
    *,
    service: str,
    category: str = "application",
    environment: str = "production",
    window: dict[str, str] | None = None,
    emergency: bool = False,
    approval_expires_at: datetime | None = None,
    plans: dict[str, Any] | None = None,
) -> str:
    """A change requested through intake, approved by review's event; its execution ready."""
    rita = tokens.headers("rita", "requester")
    body = {
        "title": f"Roll out {service} 2.14",
        "category": category,
        "services": [service],
        "environment": environment,
        "window": window or window_around_now(),
        "plans": plans or PLANS,
        "emergency": emergency,
    }
    created = await api.post("/v1/changes", json=body, headers=rita)
    assert created.status_code == 201, created.text
    change_id = str(created.json()["id"])
    submitted = await api.post(f"/v1/changes/{change_id}/submit", headers=rita)
    assert submitted.status_code == 200, submitted.text
    await eventually(
        lambda: scalar(
            database_url,
            "SELECT count(*) FROM execution.planned_change WHERE change_id = $1",
            UUID(change_id),
        ),
        lambda count: count == 1,
    )
    approval = ChangeApproved(
        impact_level=ImpactLevel.URGENT if emergency else ImpactLevel.IMPORTANT,
        approvers=["mona"],
        services=[service],
        environment=environment,
        window=Window.model_validate(body["window"]),
        emergency=emergency,
        retrospective_required=emergency,
        approval_expires_at=approval_expires_at,
    )
    await publish_as_review(
        database_url, EventType.CHANGE_APPROVED, subject=change_id, data=approval
    )
    auditor = tokens.headers("audra", "auditor")
    await eventually(
        lambda: api.get(f"/v1/executions/{change_id}", headers=auditor),
        lambda response: response.status_code == 200 and bool(response.json()["stages"]),
    )
    return change_id


def quick_plan(*shares: float, auto_rollback: bool = True, bake_seconds: int = 0) -> dict[str, Any]:
    """A plan with no bake time (tests cannot wait ten minutes) and the change's checks."""
    checks = [
        {"name": "5xx rate", "kind": "metric_threshold", "expected": "< 0.1%"},
        {"name": "checkout smoke", "kind": "smoke_test", "expected": "green"},
    ]
    return {
        "stages": [
            {"target_percent": share, "bake_seconds": bake_seconds, "checks": checks}
            for share in shares
        ],
        "rollback_steps": ["Revert to 2.13", "Purge the CDN cache"],
        "auto_rollback": auto_rollback,
    }


async def replace_plan(
    api: httpx.AsyncClient,
    change_id: str,
    plan: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """PUT a rollout plan as an editor does: If-Match the ETag of the execution just read."""
    read = await api.get(f"/v1/executions/{change_id}", headers=headers)
    assert read.status_code == 200, read.text
    return await api.put(
        f"/v1/executions/{change_id}/plan",
        json=plan,
        headers={**(headers or {}), "If-Match": read.headers["etag"]},
    )


async def passing_stage(
    api: httpx.AsyncClient, change_id: str, number: int, executor: dict[str, str]
) -> dict[str, Any]:
    """Start stage `number`, report every check passing, complete it; the execution after."""
    started = await api.post(f"/v1/executions/{change_id}/stages/{number}/start", headers=executor)
    assert started.status_code == 200, started.text
    verified = await api.post(
        f"/v1/executions/{change_id}/stages/{number}/verifications",
        json={
            "results": [
                {"name": "5xx rate", "result": "pass", "measured": 0.01},
                {"name": "checkout smoke", "result": "pass", "measured": "42/42 green"},
            ]
        },
        headers=executor,
    )
    assert verified.status_code == 201, verified.text
    completed = await api.post(
        f"/v1/executions/{change_id}/stages/{number}/complete", headers=executor
    )
    assert completed.status_code == 200, completed.text
    body: dict[str, Any] = completed.json()
    return body


async def events_of(database_url: str, change_id: str) -> list[str]:
    """The event types execution has published about a change, in order."""
    from tests.support.clients import fetch

    rows = await fetch(
        database_url,
        "SELECT event_type FROM execution.outbox WHERE partition_key = $1 ORDER BY id",
        change_id,
    )
    return [str(row["event_type"]) for row in rows]


async def read_model(api: httpx.AsyncClient, tokens: Tokens, change_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/changes/{change_id}", headers=tokens.headers("a", "auditor"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
