"""Helpers the review tests share (this module holds no tests).

Every change gets its own service name, so reviews of one test never conflict with
another's; a test that edits a global policy puts the previous document back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support.clients import Tokens, eventually, fetch

PLANS = {
    "implementation": "Scale the deployment through the pipeline",
    "rollback": "Scale back to the previous replica count",
    "verification": "p99 under 300 ms and no 5xx for 15 minutes",
}
CONTACTS = [{"name": "Checkout on-call", "role": "on-call", "chat": "#checkout"}]
PASSING = [{"suite": "e2e", "passed": 120, "failed": 0}]


def unique_service() -> str:
    return f"svc-{uuid.uuid4().hex[:10]}"


def window(*, days: float = 3, hours: float = 1) -> dict[str, str]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    return {"start": start.isoformat(), "end": (start + timedelta(hours=hours)).isoformat()}


def change_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Scale out for the sale",
        "category": "hardware",
        "services": [unique_service()],
        "environment": "production",
        "window": window(),
        "details": {"kind": "pod_count_change", "assets": ["web"]},
        "plans": PLANS,
        "contacts": CONTACTS,
    }
    body.update(overrides)
    return body


async def submit(
    api: httpx.AsyncClient, tokens: Tokens, body: dict[str, Any], *, requester: str = "rita"
) -> str:
    headers = tokens.headers(requester, "requester")
    created = await api.post("/v1/changes", json=body, headers=headers)
    assert created.status_code == 201, created.text
    change_id = str(created.json()["id"])
    submitted = await api.post(f"/v1/changes/{change_id}/submit", headers=headers)
    assert submitted.status_code == 200, submitted.text
    return change_id


async def review(
    api: httpx.AsyncClient,
    tokens: Tokens,
    change_id: str,
    until: Callable[[dict[str, Any]], bool] = lambda body: True,
) -> dict[str, Any]:
    """The review once it exists and satisfies `until`."""
    auditor = tokens.headers("audra", "auditor")

    async def probe() -> httpx.Response:
        return await api.get(f"/v1/reviews/{change_id}", headers=auditor)

    response = await eventually(
        probe, lambda r: r.status_code == 200 and until(r.json()), timeout=15
    )
    return dict(response.json())


async def decide(
    api: httpx.AsyncClient,
    tokens: Tokens,
    change_id: str,
    who: str,
    *roles: str,
    decision: str = "approve",
    **extra: Any,
) -> httpx.Response:
    return await api.post(
        f"/v1/reviews/{change_id}/approvals",
        json={"decision": decision, **extra},
        headers=tokens.headers(who, *(roles or ("change_manager",))),
    )


async def outbox(database_url: str, subject: str, event_type: str) -> list[dict[str, Any]]:
    """The review service's events of `event_type` about `subject`, in order."""
    rows = await fetch(
        database_url,
        "SELECT payload FROM review.outbox WHERE partition_key = $1 AND event_type = $2 "
        "ORDER BY id",
        subject,
        event_type,
    )
    return [json.loads(row["payload"]) for row in rows]


async def ledger(api: httpx.AsyncClient, tokens: Tokens, subject: str) -> list[dict[str, Any]]:
    response = await api.get(
        f"/v1/audit/changes/{subject}", headers=tokens.headers("audra", "auditor")
    )
    assert response.status_code == 200, response.text
    return list(response.json()["entries"])


@asynccontextmanager
async def policy(
    api: httpx.AsyncClient, tokens: Tokens, name: str, edit: Callable[[dict[str, Any]], None]
) -> AsyncIterator[dict[str, Any]]:
    """Apply `edit` to the `name` policy for the block, then store the previous one again."""
    lead = tokens.headers("lena", "change_lead")
    before = await api.get(f"/v1/policies/{name}", headers=lead)
    document = before.json()["document"]
    edited = {**document}
    edit(edited)
    stored = await api.put(
        f"/v1/policies/{name}", json=edited, headers={**lead, "If-Match": before.headers["etag"]}
    )
    assert stored.status_code == 200, stored.text
    try:
        yield dict(stored.json())
    finally:
        restored = await api.put(
            f"/v1/policies/{name}",
            json=document,
            headers={**lead, "If-Match": stored.headers["etag"]},
        )
        assert restored.status_code == 200, restored.text
