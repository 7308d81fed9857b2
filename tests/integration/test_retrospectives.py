"""Post-change reviews: recorded for a change, action items tracked to closure, overdue reported."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support.clients import Tokens, eventually, fetch
from tests.support.ledger_feed import feed_ledger, ledger_event

YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)
NEXT_MONTH = datetime.now(UTC).date() + timedelta(days=30)


@pytest.fixture
def manager(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("mona", "change_manager")


async def an_emergency_change(app: FastAPI, service: str) -> str:
    change_id = str(uuid.uuid4())
    at = datetime.now(UTC) - timedelta(hours=6)
    snapshot = {"services": [service], "environment": "production", "title": "hotfix"}
    approval = {
        **snapshot,
        "impact_level": "urgent",
        "approvers": ["mona"],
        "emergency": True,
        "retrospective_required": True,
    }
    await feed_ledger(
        app,
        [
            ledger_event("change.requested", change_id, at, {**snapshot, "emergency": True}),
            ledger_event("change.approved", change_id, at + timedelta(minutes=5), approval),
        ],
    )
    return change_id


def review_body(change_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "change_id": change_id,
        "findings": "The hotfix skipped the canary; the cache stampeded at 100%.",
        "process_gaps": ["urgent changes may skip the 1% stage", "no cache warm-up check"],
        "action_items": [
            {"title": "Make the canary mandatory", "owner": "olga", "due_on": str(YESTERDAY)},
            {"title": "Add a warm-up check", "owner": "omar", "due_on": str(NEXT_MONTH)},
        ],
        **overrides,
    }


async def stability(api: httpx.AsyncClient, tokens: Tokens, service: str) -> dict[str, Any]:
    response = await api.get(
        "/v1/reports/stability",
        params={"service": service},
        headers=tokens.headers("ava", "auditor"),
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_an_emergency_change_awaits_its_review_until_one_is_recorded(
    app: FastAPI, api: httpx.AsyncClient, tokens: Tokens, manager: dict[str, str]
) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    change_id = await an_emergency_change(app, service)
    before = await stability(api, tokens, service)
    awaiting = before["emergency_changes_awaiting_retrospective"]
    assert [item["change_id"] for item in awaiting["items"]] == [change_id]
    assert before["overdue_action_items"]["count"] == 0

    created = await api.post("/v1/retrospectives", json=review_body(change_id), headers=manager)
    assert created.status_code == 201, created.text
    review = created.json()
    assert created.headers["location"] == f"/v1/retrospectives/{review['id']}"
    assert review["services"] == [service]
    assert review["recorded_by"] == "mona"
    assert [(i["title"], i["status"], i["overdue"]) for i in review["action_items"]] == [
        ("Make the canary mandatory", "open", True),
        ("Add a warm-up check", "open", False),
    ]

    after = await stability(api, tokens, service)
    assert after["emergency_changes_awaiting_retrospective"] == {"count": 0, "items": []}
    overdue = after["overdue_action_items"]
    assert overdue["count"] == 1
    assert overdue["items"][0]["title"] == "Make the canary mandatory"
    assert overdue["items"][0]["change_id"] == change_id

    fetched = await api.get(
        f"/v1/retrospectives/{review['id']}", headers=tokens.headers("rita", "requester")
    )
    assert fetched.status_code == 200
    assert fetched.json() == review

    async def timeline() -> list[str]:
        response = await api.get(
            f"/v1/audit/changes/{change_id}", headers=tokens.headers("a", "auditor")
        )
        return [entry["type"] for entry in response.json()["entries"]]

    await eventually(timeline, lambda types: "retrospective.recorded" in types)


async def test_action_items_move_on_with_if_match_until_closed(
    app: FastAPI, api: httpx.AsyncClient, tokens: Tokens, manager: dict[str, str]
) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    change_id = await an_emergency_change(app, service)
    created = await api.post("/v1/retrospectives", json=review_body(change_id), headers=manager)
    item = created.json()["action_items"][0]
    path = f"/v1/retrospectives/action-items/{item['id']}"

    overdue = await api.get(
        "/v1/retrospectives/action-items",
        params={"overdue": "true", "service": service},
        headers=tokens.headers("rita", "requester"),
    )
    assert [i["id"] for i in overdue.json()["items"]] == [item["id"]]

    missing = await api.patch(path, json={"status": "in_progress"}, headers=manager)
    assert missing.status_code == 428
    assert missing.json()["code"] == "if-match-required"
    started = await api.patch(
        path, json={"status": "in_progress"}, headers={**manager, "If-Match": '"1"'}
    )
    assert started.status_code == 200, started.text
    assert started.headers["etag"] == '"2"'
    assert started.json()["status"] == "in_progress"
    stale = await api.patch(path, json={"status": "done"}, headers={**manager, "If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json()["code"] == "version-mismatch"
    assert stale.json()["current_version"] == 2

    dropped = await api.patch(
        path, json={"status": "wont_do"}, headers={**manager, "If-Match": '"2"'}
    )
    assert dropped.status_code == 422
    assert dropped.json()["errors"][0]["loc"] == ["body", "note"]
    done = await api.patch(path, json={"status": "done"}, headers={**manager, "If-Match": '"2"'})
    assert done.status_code == 200, done.text
    assert done.json()["closed_at"] is not None
    assert done.json()["overdue"] is False
    backwards = await api.patch(
        path, json={"status": "in_progress"}, headers={**manager, "If-Match": '"3"'}
    )
    assert backwards.status_code == 409
    assert backwards.json()["code"] == "invalid-transition"

    now = await api.get(path, headers=manager)
    assert now.json()["status"] == "done"
    assert now.json()["version"] == 3
    report = await stability(api, tokens, service)
    assert report["overdue_action_items"]["count"] == 0

    reopened = await api.patch(
        path, json={"status": "open"}, headers={**manager, "If-Match": '"3"'}
    )
    assert reopened.status_code == 200
    assert reopened.json()["closed_at"] is None

    async def timeline() -> list[dict[str, Any]]:
        response = await api.get(
            f"/v1/audit/changes/{change_id}", headers=tokens.headers("a", "auditor")
        )
        return [e for e in response.json()["entries"] if e["type"] == "action_item.updated"]

    updates = await eventually(timeline, lambda found: len(found) == 3)
    assert [u["data"]["status"] for u in updates] == ["in_progress", "done", "open"]


async def test_a_review_is_recorded_once_for_a_known_change_by_its_owners(
    app: FastAPI, api: httpx.AsyncClient, tokens: Tokens, manager: dict[str, str], database_url: str
) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    change_id = await an_emergency_change(app, service)
    requester = await api.post(
        "/v1/retrospectives",
        json=review_body(change_id),
        headers=tokens.headers("rita", "requester"),
    )
    assert requester.status_code == 403
    unknown = await api.post(
        "/v1/retrospectives", json=review_body(str(uuid.uuid4())), headers=manager
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "change-not-found"
    blank = await api.post(
        "/v1/retrospectives",
        json=review_body(change_id, findings="  ", action_items=[{"title": "x", "owner": "o"}]),
        headers=manager,
    )
    assert blank.status_code == 422
    assert {tuple(e["loc"]) for e in blank.json()["errors"]} == {
        ("body", "findings"),
        ("body", "action_items", 0, "due_on"),
    }
    rows = await fetch(
        database_url, "SELECT 1 FROM audit.retrospective WHERE change_id = $1", uuid.UUID(change_id)
    )
    assert rows == []

    first = await api.post(
        "/v1/retrospectives",
        json=review_body(change_id),
        headers={**tokens.headers("lee", "change_lead"), "Idempotency-Key": "r-1"},
    )
    assert first.status_code == 201
    second = await api.post("/v1/retrospectives", json=review_body(change_id), headers=manager)
    assert second.status_code == 409
    assert second.json()["code"] == "retrospective-exists"
    assert second.json()["retrospective_id"] == first.json()["id"]

    listed = await api.get("/v1/retrospectives", params={"change_id": change_id}, headers=manager)
    assert [r["id"] for r in listed.json()["items"]] == [first.json()["id"]]
