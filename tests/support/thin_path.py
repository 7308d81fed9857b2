"""The walking skeleton's path, request to acceptance, asserted step by step.

Run against the in-process app and against real processes in both run modes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.support.clients import CHANGE_BODY, Tokens, eventually

THIN_PATH_EVENTS = [
    "change.requested",
    "change.assessed",
    "change.approval_recorded",
    "change.approved",
    "change.execution_started",
    "change.completed",
    "change.accepted",
]

# Maps a path to the URL of the service that serves it (one base URL in the all-in-one mode).
Router = Callable[[str], str]


async def walk_thin_path(client: httpx.AsyncClient, url: Router, tokens: Tokens) -> str:
    rita = tokens.headers("rita", "requester")
    mona = tokens.headers("mona", "change_manager")
    eddie = tokens.headers("eddie", "executor")
    audra = tokens.headers("audra", "auditor")

    async def status_of(change_id: str) -> str:
        response = await client.get(url(f"/v1/changes/{change_id}"), headers=audra)
        assert response.status_code == 200, response.text
        return str(response.json()["status"])

    async def wait_for_status(change_id: str, expected: str) -> None:
        await eventually(lambda: status_of(change_id), lambda status: status == expected)

    created = await client.post(url("/v1/changes"), json=CHANGE_BODY, headers=rita)
    assert created.status_code == 201, created.text
    change = created.json()
    change_id = change["id"]
    assert change["status"] == "draft"
    assert change["version"] == 1
    assert change["requester"] == "rita"
    assert created.headers["etag"] == '"1"'

    submitted = await client.post(url(f"/v1/changes/{change_id}/submit"), headers=rita)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "submitted"

    review = await eventually(
        lambda: client.get(url(f"/v1/reviews/{change_id}"), headers=mona),
        lambda response: response.status_code == 200,
    )
    assessment = review.json()
    assert assessment["change_id"] == change_id
    assert assessment["impact_level"] == "important"
    assert assessment["readiness"]["ready"] is True
    assert assessment["required_approvals"] == [{"role": "change_manager", "count": 1}]
    assert assessment["status"] == "pending"
    await wait_for_status(change_id, "assessed")

    early_start = await client.post(url(f"/v1/executions/{change_id}/start"), headers=eddie)
    assert early_start.status_code == 409, early_start.text

    approval = await client.post(
        url(f"/v1/reviews/{change_id}/approvals"),
        json={"decision": "approve", "comment": "ok"},
        headers=mona,
    )
    assert approval.status_code == 201, approval.text
    assert approval.json()["status"] == "approved"
    await wait_for_status(change_id, "approved")

    async def start() -> httpx.Response:
        return await client.post(url(f"/v1/executions/{change_id}/start"), headers=eddie)

    started = await eventually(start, lambda response: response.status_code == 200)
    assert started.json()["status"] == "in_progress"
    await wait_for_status(change_id, "in_progress")

    completed = await client.post(url(f"/v1/executions/{change_id}/complete"), headers=eddie)
    assert completed.status_code == 200, completed.text
    await wait_for_status(change_id, "completed")

    accepted = await client.post(
        url(f"/v1/executions/{change_id}/acceptance"),
        json={"outcome": "successful", "notes": "p99 240 ms, no 5xx"},
        headers=eddie,
    )
    assert accepted.status_code == 200, accepted.text
    await wait_for_status(change_id, "accepted")
    final = (await client.get(url(f"/v1/changes/{change_id}"), headers=audra)).json()
    assert final["outcome"] == "successful"
    assert final["impact_level"] == "important"

    async def timeline() -> dict[str, Any]:
        response = await client.get(url(f"/v1/audit/changes/{change_id}"), headers=audra)
        assert response.status_code == 200, response.text
        return dict(response.json())

    ledger = await eventually(timeline, lambda body: len(body["entries"]) >= len(THIN_PATH_EVENTS))
    entries = ledger["entries"]
    assert [entry["type"] for entry in entries] == THIN_PATH_EVENTS
    sequences = [entry["sequence"] for entry in entries]
    assert sequences == sorted(sequences)
    assert len({entry["event_id"] for entry in entries}) == len(entries)

    verified = await client.get(url("/v1/audit/verify"), headers=audra)
    assert verified.status_code == 200
    verdict = verified.json()
    assert verdict["ok"] is True
    assert verdict["entries"] >= len(THIN_PATH_EVENTS)
    assert len(verdict["head"]) == 64
    return str(change_id)
