"""Freeze windows: declared and lifted by a change_lead; they block approval unless urgent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.integration.test_review_support import (
    PASSING,
    change_body,
    decide,
    ledger,
    outbox,
    review,
    submit,
    unique_service,
)
from tests.support.clients import Tokens, eventually


def freeze_body(service: str, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "services": [service],
        "environment": "production",
        "start": now.isoformat(),
        "end": (now + timedelta(days=10)).isoformat(),
        "reason": "Holiday peak",
        **overrides,
    }


async def declare(api: httpx.AsyncClient, tokens: Tokens, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(
        "/v1/freeze-windows", json=body, headers=tokens.headers("lena", "change_lead")
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_declare_list_read_and_lift_a_freeze_window(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    service = unique_service()
    lead, auditor = tokens.headers("lena", "change_lead"), tokens.headers("audra", "auditor")
    refused = await api.post(
        "/v1/freeze-windows",
        json=freeze_body(service),
        headers=tokens.headers("mona", "change_manager"),
    )
    assert refused.status_code == 403
    backwards = freeze_body(service, end=datetime(2020, 1, 1, tzinfo=UTC).isoformat())
    invalid = await api.post("/v1/freeze-windows", json=backwards, headers=lead)
    assert invalid.status_code == 422

    freeze = await declare(api, tokens, freeze_body(service))

    listed = await api.get(
        "/v1/freeze-windows",
        params={"service": service, "active_at": datetime.now(UTC).isoformat()},
        headers=auditor,
    )
    assert [item["id"] for item in listed.json()["items"]] == [freeze["id"]]
    elsewhere = await api.get(
        "/v1/freeze-windows", params={"service": service, "environment": "staging"}, headers=auditor
    )
    assert elsewhere.json()["items"] == []
    read = await api.get(f"/v1/freeze-windows/{freeze['id']}", headers=auditor)
    assert read.json()["reason"] == "Holiday peak"
    [declared] = await outbox(database_url, freeze["id"], "freeze_window.declared")
    assert declared["data"]["services"] == [service]
    assert declared["subject"] == freeze["id"]

    lifted = await api.delete(f"/v1/freeze-windows/{freeze['id']}", headers=lead)
    assert lifted.status_code == 200
    assert lifted.json()["lifted_by"] == "lena"
    again = await api.delete(f"/v1/freeze-windows/{freeze['id']}", headers=lead)
    assert again.status_code == 409
    assert len(await outbox(database_url, freeze["id"], "freeze_window.lifted")) == 1
    after = await api.get("/v1/freeze-windows", params={"service": service}, headers=auditor)
    assert after.json()["items"] == []


async def test_a_freeze_blocks_approval_until_it_is_lifted(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    service = unique_service()
    freeze = await declare(api, tokens, freeze_body(service))
    change_id = await submit(api, tokens, change_body(services=[service]))
    body = await review(api, tokens, change_id)
    assert "during-freeze" in {rule["rule"] for rule in body["risk"]["rules_fired"]}

    blocked = await decide(api, tokens, change_id, "mona")

    assert blocked.status_code == 409
    assert blocked.json()["code"] == "change-frozen"
    assert blocked.json()["freeze_windows"] == [freeze["id"]]
    assert await outbox(database_url, change_id, "change.approval_recorded") == []
    await api.delete(
        f"/v1/freeze-windows/{freeze['id']}", headers=tokens.headers("lena", "change_lead")
    )
    assert (await decide(api, tokens, change_id, "mona")).status_code == 201


async def test_an_urgent_change_overrides_a_freeze_with_a_recorded_reason(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    # Every service of an environment of this test's own, so no other test is frozen.
    environment = f"eu-{unique_service()}"
    await declare(api, tokens, freeze_body("", services=[], environment=environment))
    change_id = await submit(
        api,
        tokens,
        change_body(environment=environment, emergency=True, test_evidence=PASSING),
    )
    await review(api, tokens, change_id)

    without_reason = await decide(api, tokens, change_id, "mona")
    assert without_reason.status_code == 422
    assert without_reason.json()["errors"][0]["loc"] == ["body", "freeze_override_reason"]
    approved = await decide(
        api, tokens, change_id, "mona", freeze_override_reason="checkout is down; fix now"
    )

    assert approved.status_code == 201, approved.text
    assert approved.json()["freeze_override"] == "checkout is down; fix now"
    entries = await eventually(
        lambda: ledger(api, tokens, change_id),
        lambda found: any(entry["type"] == "change.approved" for entry in found),
    )
    [entry] = [entry for entry in entries if entry["type"] == "change.approved"]
    assert entry["data"]["freeze_override"] == "checkout is down; fix now"
    assert entry["data"]["emergency"] is True
    assert entry["data"]["retrospective_required"] is True
