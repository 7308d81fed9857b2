"""Editing with If-Match, cancelling, templates, and the 409s the state machine demands."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.support.clients import CHANGE_BODY, Tokens, eventually, fetch

PROBLEM = "application/problem+json"


async def _create(api: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = await api.post("/v1/changes", json={**CHANGE_BODY, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _events(database_url: str, change_id: str) -> list[str]:
    rows = await fetch(
        database_url,
        "SELECT event_type FROM intake.outbox WHERE payload::jsonb->>'subject' = $1 ORDER BY id",
        change_id,
    )
    return [row["event_type"] for row in rows]


def _problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["code"] == code


async def test_two_editors_the_second_gets_412_and_nothing_is_overwritten(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    rita = tokens.headers("rita", "requester")
    change = await _create(api, rita)
    etag = (await api.get(f"/v1/changes/{change['id']}", headers=rita)).headers["etag"]

    first = await api.patch(
        f"/v1/changes/{change['id']}",
        json={"title": "First editor wins"},
        headers={**rita, "If-Match": etag},
    )
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 2
    assert first.headers["etag"] == '"2"'

    second = await api.patch(
        f"/v1/changes/{change['id']}",
        json={"title": "Second editor loses", "environment": "staging"},
        headers={**rita, "If-Match": etag},
    )
    _problem(second, 412, "version-mismatch")
    after = (await api.get(f"/v1/changes/{change['id']}", headers=rita)).json()
    assert after["title"] == "First editor wins"
    assert after["environment"] == "production"
    assert after["version"] == 2
    assert await _events(database_url, change["id"]) == []  # a draft's edits are not published


async def test_an_edit_without_if_match_is_a_428(api: httpx.AsyncClient, tokens: Tokens) -> None:
    rita = tokens.headers("rita", "requester")
    change = await _create(api, rita)
    response = await api.patch(f"/v1/changes/{change['id']}", json={"title": "x"}, headers=rita)
    _problem(response, 428, "if-match-required")
    assert (await api.get(f"/v1/changes/{change['id']}", headers=rita)).json()["title"] == change[
        "title"
    ]


async def test_a_merge_patch_keeps_what_it_does_not_name(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    rita = tokens.headers("rita", "requester")
    change = await _create(api, rita)
    response = await api.patch(
        f"/v1/changes/{change['id']}",
        json={"plans": {"rollback": "Scale back to 6 pods, then drain"}},
        headers={**rita, "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    plans = response.json()["plans"]
    assert plans["rollback"] == "Scale back to 6 pods, then drain"
    assert plans["implementation"] == CHANGE_BODY["plans"]["implementation"]


async def test_an_invalid_edit_is_a_422_and_changes_nothing(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    rita = tokens.headers("rita", "requester")
    change = await _create(api, rita)
    response = await api.patch(
        f"/v1/changes/{change['id']}",
        json={"category": "data", "details": {"kind": "cleanup"}},
        headers={**rita, "If-Match": '"1"'},
    )
    assert response.status_code == 422, response.text
    locs = [error["loc"] for error in response.json()["errors"]]
    assert ["body", "details", "datasets"] in locs
    after = (await api.get(f"/v1/changes/{change['id']}", headers=rita)).json()
    assert after["category"] == "hardware"
    assert after["version"] == 1


async def test_editing_a_submitted_change_publishes_change_updated(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    rita = tokens.headers("rita", "requester")
    change = await _create(api, rita)
    submitted = await api.post(f"/v1/changes/{change['id']}/submit", headers=rita)
    version = submitted.json()["version"]
    edited = await api.patch(
        f"/v1/changes/{change['id']}",
        json={"window": {"start": "2026-12-02T02:00:00Z", "end": "2026-12-02T03:00:00Z"}},
        headers={**rita, "If-Match": f'"{version}"'},
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["status"] == "submitted"
    events = await _events(database_url, change["id"])
    assert events[0] == "change.requested"
    assert "change.updated" in events


async def test_only_the_requester_edits(api: httpx.AsyncClient, tokens: Tokens) -> None:
    change = await _create(api, tokens.headers("rita", "requester"))
    response = await api.patch(
        f"/v1/changes/{change['id']}",
        json={"title": "hijacked"},
        headers={**tokens.headers("ravi", "requester"), "If-Match": '"1"'},
    )
    _problem(response, 403, "not-your-change")


async def test_cancel_publishes_and_closes_the_change(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    rita = tokens.headers("rita", "requester")
    change = await _create(api, rita)
    await api.post(f"/v1/changes/{change['id']}/submit", headers=rita)
    cancelled = await api.post(
        f"/v1/changes/{change['id']}/cancel",
        json={"reason": "sale postponed"},
        headers=tokens.headers("mona", "change_manager"),
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancel_reason"] == "sale postponed"
    assert "change.cancelled" in await _events(database_url, change["id"])

    for attempt in (
        api.post(f"/v1/changes/{change['id']}/cancel", headers=rita),
        api.post(f"/v1/changes/{change['id']}/submit", headers=rita),
        api.patch(
            f"/v1/changes/{change['id']}",
            json={"title": "too late"},
            headers={**rita, "If-Match": cancelled.headers["etag"]},
        ),
    ):
        _problem(await attempt, 409, "invalid-transition")


async def test_someone_else_cannot_cancel(api: httpx.AsyncClient, tokens: Tokens) -> None:
    change = await _create(api, tokens.headers("rita", "requester"))
    response = await api.post(
        f"/v1/changes/{change['id']}/cancel", headers=tokens.headers("ravi", "requester")
    )
    _problem(response, 403, "not-your-change")


async def test_cancel_after_execution_started_is_a_409(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    rita = tokens.headers("rita", "requester")
    mona = tokens.headers("mona", "change_manager")
    eddie = tokens.headers("eddie", "executor")
    change = await _create(api, rita, title=f"started {uuid.uuid4().hex[:6]}")
    change_id = change["id"]
    await api.post(f"/v1/changes/{change_id}/submit", headers=rita)
    await eventually(
        lambda: api.get(f"/v1/reviews/{change_id}", headers=mona),
        lambda response: response.status_code == 200,
    )
    approved = await api.post(
        f"/v1/reviews/{change_id}/approvals", json={"decision": "approve"}, headers=mona
    )
    assert approved.status_code == 201, approved.text
    await eventually(
        lambda: api.post(f"/v1/executions/{change_id}/start", headers=eddie),
        lambda response: response.status_code == 200,
    )

    async def read() -> dict[str, Any]:
        return dict((await api.get(f"/v1/changes/{change_id}", headers=rita)).json())

    status = await eventually(read, lambda body: body["status"] == "in_progress")
    assert status["approvals"][0]["approver"] == "mona"
    assert status["approvals"][0]["decision"] == "approve"
    assert status["execution"]["executor"] == "eddie"
    assert status["impact_level"] == "important"
    _problem(
        await api.post(f"/v1/changes/{change_id}/cancel", headers=rita), 409, "invalid-transition"
    )
    edited = await api.patch(
        f"/v1/changes/{change_id}",
        json={"title": "x"},
        headers={**rita, "If-Match": f'"{status["version"]}"'},
    )
    _problem(edited, 409, "invalid-transition")


async def test_a_change_from_a_template_inherits_it_and_is_standard(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    lead = tokens.headers("lena", "change_lead")
    rita = tokens.headers("rita", "requester")
    name = f"scale-out-{uuid.uuid4().hex[:8]}"
    template_body = {
        "name": name,
        "title": "Scale out checkout",
        "category": "hardware",
        "details": {"kind": "pod_count_change", "assets": ["checkout"]},
        "services": ["checkout"],
        "environment": "production",
        "plans": CHANGE_BODY["plans"],
        "contacts": [{"name": "SRE", "chat": "#sre"}],
    }
    denied = await api.post("/v1/templates", json=template_body, headers=rita)
    _problem(denied, 403, "missing-role")
    created = await api.post("/v1/templates", json=template_body, headers=lead)
    assert created.status_code == 201, created.text
    template = created.json()
    _problem(
        await api.post("/v1/templates", json=template_body, headers=lead),
        409,
        "template-name-taken",
    )
    assert (await api.get(f"/v1/templates/{template['id']}", headers=rita)).json()["name"] == name
    listed = (await api.get("/v1/templates", params={"limit": 200}, headers=rita)).json()
    assert template["id"] in [item["id"] for item in listed["items"]]

    change = await api.post(
        "/v1/changes",
        json={
            "template_id": template["id"],
            "window": CHANGE_BODY["window"],
            "environment": "staging",
        },
        headers=rita,
    )
    assert change.status_code == 201, change.text
    body = change.json()
    assert body["standard"] is True
    assert body["template_id"] == template["id"]
    assert body["title"] == "Scale out checkout"
    assert body["details"]["kind"] == "pod_count_change"
    assert body["environment"] == "staging"  # the request wins
    assert body["plans"]["rollback"] == CHANGE_BODY["plans"]["rollback"]
    assert (await api.post(f"/v1/changes/{body['id']}/submit", headers=rita)).status_code == 200
    rows = await fetch(
        database_url,
        "SELECT payload::jsonb->'data' AS data FROM intake.outbox "
        "WHERE payload::jsonb->>'subject' = $1",
        body["id"],
    )
    assert '"standard": true' in rows[0]["data"]


async def test_an_unknown_template_or_missing_fields_are_a_422(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await api.post(
        "/v1/changes",
        json={"template_id": str(uuid.uuid4()), "window": CHANGE_BODY["window"]},
        headers=tokens.headers("rita", "requester"),
    )
    _problem(response, 422, "unknown-template")
    missing = await api.post(
        "/v1/changes", json={"title": "no window"}, headers=tokens.headers("rita", "requester")
    )
    assert missing.status_code == 422
    locs = [error["loc"] for error in missing.json()["errors"]]
    assert ["body", "window"] in locs
    assert ["body", "category"] in locs
