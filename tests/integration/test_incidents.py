"""Incidents: recorded by API or PagerDuty webhook, resolved, linked to the changes causing them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from changeward.allinone import create_service_app
from shared.settings import Settings
from tests.fixtures.incidents import delivery
from tests.support.clients import Tokens, eventually, fetch
from tests.support.ledger_feed import feed_ledger, ledger_event


def unique_service() -> str:
    return f"checkout-{uuid.uuid4().hex[:8]}"


async def a_change(app: FastAPI, service: str, *, at: datetime) -> str:
    """A change the ledger knows: requested at `at`."""
    change_id = str(uuid.uuid4())
    snapshot = {"services": [service], "environment": "production", "title": "t", "version": 1}
    await feed_ledger(app, [ledger_event("change.requested", change_id, at, snapshot)])
    return change_id


def incident_body(service: str, **overrides: Any) -> dict[str, Any]:
    return {
        "service": service,
        "environment": "production",
        "severity": "sev2",
        "title": "checkout p99 above 800 ms",
        "started_at": datetime.now(UTC).isoformat(),
        "external_url": "https://acme.pagerduty.com/incidents/Q1",
        **overrides,
    }


@pytest.fixture
def sre(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("sam", "executor")


async def test_an_incident_names_its_cause_explicitly(
    app: FastAPI, api: httpx.AsyncClient, sre: dict[str, str], tokens: Tokens
) -> None:
    service = unique_service()
    change_id = await a_change(app, service, at=datetime.now(UTC) - timedelta(hours=3))
    created = await api.post(
        "/v1/incidents", json=incident_body(service, change_id=change_id), headers=sre
    )
    assert created.status_code == 201, created.text
    incident = created.json()
    assert created.headers["location"] == f"/v1/incidents/{incident['id']}"
    assert created.headers["etag"] == '"1"'
    assert incident["source"] == "api"
    assert [(link["change_id"], link["origin"]) for link in incident["links"]] == [
        (change_id, "explicit")
    ]

    listed = await api.get(
        "/v1/incidents", params={"change_id": change_id}, headers=tokens.headers("a", "auditor")
    )
    assert [i["id"] for i in listed.json()["items"]] == [incident["id"]]
    assert listed.json()["items"][0]["suggested_links"] is None

    again = await api.post(
        f"/v1/incidents/{incident['id']}/links",
        json={"change_id": change_id, "reason": "again"},
        headers=sre,
    )
    assert again.status_code == 409
    assert again.json()["code"] == "incident-already-linked"

    async def timeline() -> list[str]:
        response = await api.get(
            f"/v1/audit/changes/{change_id}", headers=tokens.headers("a", "auditor")
        )
        return [entry["type"] for entry in response.json()["entries"]]

    await eventually(timeline, lambda types: "incident.linked" in types)


async def test_an_explicit_link_needs_a_known_change_and_a_reason(
    app: FastAPI, api: httpx.AsyncClient, sre: dict[str, str]
) -> None:
    service = unique_service()
    created = await api.post("/v1/incidents", json=incident_body(service), headers=sre)
    incident_id = created.json()["id"]
    unknown = await api.post(
        f"/v1/incidents/{incident_id}/links",
        json={"change_id": str(uuid.uuid4()), "reason": "it looked guilty"},
        headers=sre,
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "change-not-found"
    change_id = await a_change(app, service, at=datetime.now(UTC) - timedelta(days=2))
    reasonless = await api.post(
        f"/v1/incidents/{incident_id}/links", json={"change_id": change_id}, headers=sre
    )
    assert reasonless.status_code == 422
    assert reasonless.json()["errors"][0]["loc"] == ["body", "reason"]
    linked = await api.post(
        f"/v1/incidents/{incident_id}/links",
        json={"change_id": change_id, "reason": "the schema migration locked orders"},
        headers=sre,
    )
    assert linked.status_code == 201, linked.text
    assert linked.json()["origin"] == "explicit"
    assert linked.json()["reason"] == "the schema migration locked orders"


async def test_recent_rollouts_on_the_service_are_suggested_with_a_reason(
    app: FastAPI, api: httpx.AsyncClient, sre: dict[str, str]
) -> None:
    service = unique_service()
    started_at = datetime.now(UTC).replace(microsecond=0)
    executed, deployed, too_old, elsewhere = (str(uuid.uuid4()) for _ in range(4))
    rollout = {"services": [service], "environment": "production", "executor": "eddie"}
    deployment_id = str(uuid.uuid4())
    deployment = {
        "deployment_id": deployment_id,
        "service": service,
        "environment": "production",
        "status": "succeeded",
        "change_id": deployed,
        "unauthorized": False,
    }
    await feed_ledger(
        app,
        [
            ledger_event(
                "change.execution_started", executed, started_at - timedelta(minutes=12), rollout
            ),
            ledger_event(
                "deployment.reported",
                deployment_id,
                started_at - timedelta(minutes=40),
                deployment,
            ),
            ledger_event(
                "change.execution_started", too_old, started_at - timedelta(hours=5), rollout
            ),
            ledger_event(
                "change.execution_started",
                elsewhere,
                started_at - timedelta(minutes=5),
                {**rollout, "environment": "staging"},
            ),
        ],
    )
    created = await api.post(
        "/v1/incidents",
        json=incident_body(service, started_at=started_at.isoformat()),
        headers=sre,
    )
    assert created.status_code == 201, created.text
    suggestions = created.json()["suggested_links"]
    assert [s["change_id"] for s in suggestions] == [executed, deployed]
    assert suggestions[0]["reason"] == (
        f"started executing on {service} in production 12 minutes before the incident"
    )
    assert suggestions[1]["reason"] == (
        f"deployed to {service} in production 40 minutes before the incident"
    )

    incident_id = created.json()["id"]
    confirmed = await api.post(
        f"/v1/incidents/{incident_id}/links", json={"change_id": executed}, headers=sre
    )
    assert confirmed.status_code == 201, confirmed.text
    assert confirmed.json()["origin"] == "suggested"
    assert confirmed.json()["reason"] == suggestions[0]["reason"]
    now = (await api.get(f"/v1/incidents/{incident_id}", headers=sre)).json()
    assert [link["change_id"] for link in now["links"]] == [executed]
    assert [s["change_id"] for s in now["suggested_links"]] == [deployed]


async def test_resolving_an_incident_once(api: httpx.AsyncClient, sre: dict[str, str]) -> None:
    started_at = datetime.now(UTC) - timedelta(hours=1)
    created = await api.post(
        "/v1/incidents",
        json=incident_body(unique_service(), started_at=started_at.isoformat()),
        headers=sre,
    )
    incident_id = created.json()["id"]
    too_early = await api.patch(
        f"/v1/incidents/{incident_id}",
        json={"resolved_at": (started_at - timedelta(minutes=1)).isoformat()},
        headers=sre,
    )
    assert too_early.status_code == 422
    assert too_early.json()["errors"][0]["loc"] == ["body", "resolved_at"]
    stale = await api.patch(
        f"/v1/incidents/{incident_id}", json={}, headers={**sre, "If-Match": '"7"'}
    )
    assert stale.status_code == 412
    resolved = await api.patch(
        f"/v1/incidents/{incident_id}", json={}, headers={**sre, "If-Match": '"1"'}
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["resolved_at"] is not None
    assert resolved.headers["etag"] == '"2"'
    twice = await api.patch(f"/v1/incidents/{incident_id}", json={}, headers=sre)
    assert twice.status_code == 409
    assert twice.json()["code"] == "incident-already-resolved"


async def test_bad_input_and_roles_change_nothing(
    api: httpx.AsyncClient, sre: dict[str, str], tokens: Tokens, database_url: str
) -> None:
    service = unique_service()
    requester = await api.post(
        "/v1/incidents", json=incident_body(service), headers=tokens.headers("rita", "requester")
    )
    assert requester.status_code == 403
    bad = await api.post(
        "/v1/incidents",
        json=incident_body(service, severity="sev9", started_at="2026-01-01T00:00:00"),
        headers=sre,
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert {tuple(e["loc"]) for e in bad.json()["errors"]} == {
        ("body", "severity"),
        ("body", "started_at"),
    }
    anonymous = await api.post("/v1/incidents", json=incident_body(service))
    assert anonymous.status_code == 401
    rows = await fetch(database_url, "SELECT 1 FROM audit.incident WHERE service = $1", service)
    assert rows == []


async def test_an_incident_retry_with_an_idempotency_key_acts_once(
    api: httpx.AsyncClient, sre: dict[str, str], database_url: str
) -> None:
    service = unique_service()
    headers = {**sre, "Idempotency-Key": uuid.uuid4().hex}
    body = incident_body(service)
    first = await api.post("/v1/incidents", json=body, headers=headers)
    second = await api.post("/v1/incidents", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json()["id"] == first.json()["id"]
    count = await fetch(
        database_url, "SELECT count(*) FROM audit.incident WHERE service = $1", service
    )
    assert count[0][0] == 1


async def test_the_ledger_writer_role_cannot_touch_incidents(database_url: str) -> None:
    rows = await fetch(
        database_url,
        "SELECT t, has_table_privilege('changeward_audit_writer', 'audit.' || t, 'INSERT') "
        "FROM unnest(ARRAY['incident', 'incident_link', 'retrospective', 'action_item']) t",
    )
    assert [(row[0], row[1]) for row in rows] == [
        ("incident", False),
        ("incident_link", False),
        ("retrospective", False),
        ("action_item", False),
    ]


# --- PagerDuty V3 webhooks ---


async def test_pagerduty_opens_repeats_ignores_and_resolves(
    api: httpx.AsyncClient, sre: dict[str, str], tokens: Tokens
) -> None:
    service = unique_service()
    pd_id = f"Q{uuid.uuid4().hex[:12].upper()}"
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    body, headers = delivery(
        "pagerduty-incident-triggered", service=service, incident_id=pd_id, created_at=started
    )
    opened = await api.post("/v1/incidents", content=body, headers={**headers, **sre})
    assert opened.status_code == 201, opened.text
    incident = opened.json()
    assert incident["source"] == "pagerduty"
    assert incident["external_id"] == pd_id
    assert incident["service"] == service
    assert incident["environment"] == "production"
    assert incident["severity"] == "sev2"
    assert incident["title"] == "checkout p99 latency above 800 ms"
    assert incident["external_url"] == "https://acme.pagerduty.com/incidents/Q2LN0KSM4QVH7B"
    assert datetime.fromisoformat(incident["started_at"]) == started
    assert incident["resolved_at"] is None

    repeat = await api.post("/v1/incidents", content=body, headers={**headers, **sre})
    assert repeat.status_code == 200
    assert repeat.json()["id"] == incident["id"]

    body, headers = delivery("pagerduty-incident-acknowledged", service=service, incident_id=pd_id)
    acknowledged = await api.post("/v1/incidents", content=body, headers={**headers, **sre})
    assert acknowledged.status_code == 202
    assert acknowledged.json()["code"] == "webhook-ignored"

    resolved_at = started + timedelta(minutes=25)
    body, headers = delivery(
        "pagerduty-incident-resolved",
        service=service,
        incident_id=pd_id,
        created_at=started,
        occurred_at=resolved_at,
    )
    resolved = await api.post("/v1/incidents", content=body, headers={**headers, **sre})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["id"] == incident["id"]
    assert datetime.fromisoformat(resolved.json()["resolved_at"]) == resolved_at

    listed = await api.get(
        "/v1/incidents", params={"service": service}, headers=tokens.headers("a", "auditor")
    )
    assert len(listed.json()["items"]) == 1


async def test_pagerduty_unsigned_and_malformed_deliveries_are_refused(
    api: httpx.AsyncClient, sre: dict[str, str]
) -> None:
    body, headers = delivery("pagerduty-incident-triggered")
    anonymous = await api.post("/v1/incidents", content=body, headers=headers)
    assert anonymous.status_code == 401
    malformed = await api.post(
        "/v1/incidents",
        content=b'{"event": {"event_type": "incident.triggered"}}',
        headers={**headers, **sre},
    )
    assert malformed.status_code == 422
    assert malformed.json()["code"] == "unsupported-webhook-payload"
    assert malformed.json()["errors"][0]["loc"] == ["body", "event", "data"]


@pytest.fixture
async def signed_hooks(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An audit app whose PagerDuty hook is signed with a secret."""
    configured = settings.model_copy(update={"pagerduty_webhook_secret": "pd-s3cret"})
    app = create_service_app("audit", configured, database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://audit") as client:
            yield client


async def test_a_signed_pagerduty_delivery_needs_no_token(
    signed_hooks: httpx.AsyncClient,
) -> None:
    service = unique_service()
    body, headers = delivery(
        "pagerduty-incident-triggered",
        secret="pd-s3cret",
        service=service,
        incident_id=f"Q{uuid.uuid4().hex[:12].upper()}",
    )
    accepted = await signed_hooks.post("/v1/incidents", content=body, headers=headers)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["recorded_by"] == "webhook:pagerduty"
    forged = {**headers, "X-PagerDuty-Signature": "v1=" + "0" * 64}
    refused = await signed_hooks.post("/v1/incidents", content=body, headers=forged)
    assert refused.status_code == 401
    assert refused.json()["code"] == "invalid-webhook-signature"
