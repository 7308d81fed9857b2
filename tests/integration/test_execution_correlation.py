"""Deployment correlation: every provider's report attached to its stage; failures and the
unauthorized recorded."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import httpx

from services.intake.providers import ProviderSecrets
from tests.fixtures.deployments import document, sample
from tests.integration.test_execution_support import (
    approved_change,
    events_of,
    passing_stage,
    quick_plan,
    replace_plan,
    unique_service,
)
from tests.support.clients import Tokens, eventually, fetch


def _generic(service: str, change_id: str | None, status: str = "succeeded") -> dict[str, Any]:
    body: dict[str, Any] = {
        "service": service,
        "environment": "production",
        "status": status,
        "version": "2.14.0",
        "started_at": datetime.now(UTC).isoformat(),
        "external_id": f"run-{random.randrange(10**12)}",
    }
    if change_id is not None:
        body["change_id"] = change_id
    return body


def _provider_deliveries(service: str, change_id: str) -> dict[str, tuple[bytes, dict[str, str]]]:
    """GitHub, GitLab and Argo CD deliveries naming `service` and `change_id`."""
    secrets = ProviderSecrets()
    github = document("github-deployment-status")
    github["deployment"]["id"] = random.randrange(10**9, 10**12)
    github["deployment"]["payload"]["changeward"] = {"service": service, "change_id": change_id}
    gitlab = document("gitlab-deployment")
    gitlab["deployment_id"] = random.randrange(10**6, 10**9)
    gitlab["project"]["path_with_namespace"] = f"acme/{service}"
    gitlab["commit_title"] = f"Release 2.14 (changeward:{change_id})"
    argocd = document("argocd-notification")
    argocd["labels"]["changeward.dev/service"] = service
    argocd["annotations"]["changeward.dev/change-id"] = change_id
    argocd["revision"] = f"{random.randrange(16**40):040x}"
    argocd["started_at"] = datetime.now(UTC).isoformat()
    deliveries = {}
    for name, body in (
        ("github", ("github-deployment-status", github)),
        ("gitlab", ("gitlab-deployment", gitlab)),
        ("argocd", ("argocd-notification", argocd)),
    ):
        delivery = sample(body[0], secrets).with_body(body[1], secrets)
        deliveries[name] = (delivery.body, delivery.headers)
    return deliveries


async def _attached(
    api: httpx.AsyncClient, tokens: Tokens, change_id: str, count: int
) -> list[dict[str, Any]]:
    response = await eventually(
        lambda: api.get(
            f"/v1/executions/{change_id}/deployments", headers=tokens.headers("a", "auditor")
        ),
        lambda r: r.status_code == 200 and len(r.json()) >= count,
    )
    attached: list[dict[str, Any]] = response.json()
    return attached


async def test_deployments_of_every_provider_attach_to_the_running_stage(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    eddie = tokens.headers("eddie", "executor")
    service = unique_service()
    change_id = await approved_change(api, tokens, database_url, service=service)
    await replace_plan(api, change_id, quick_plan(10, 100), eddie)
    await passing_stage(api, change_id, 1, eddie)
    await api.post(f"/v1/executions/{change_id}/stages/2/start", headers=eddie)

    generic = await api.post("/v1/deployments", json=_generic(service, change_id), headers=eddie)
    assert generic.status_code == 201, generic.text
    for provider, (body, headers) in _provider_deliveries(service, change_id).items():
        posted = await api.post("/v1/deployments", content=body, headers={**headers, **eddie})
        assert posted.status_code == 201, (provider, posted.text)
        assert posted.json()["provider"] == provider

    attached = await _attached(api, tokens, change_id, 4)
    assert sorted(d["provider"] for d in attached) == ["argocd", "generic", "github", "gitlab"]
    assert {d["stage"] for d in attached} == {2}
    assert {d["correlation"] for d in attached} == {"change"}
    assert not any(d["unauthorized"] for d in attached)


async def test_a_pipeline_reported_failure_fails_the_stage_and_rolls_back(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    eddie = tokens.headers("eddie", "executor")
    service = unique_service()
    change_id = await approved_change(api, tokens, database_url, service=service)
    await replace_plan(api, change_id, quick_plan(10, 100), eddie)
    await api.post(f"/v1/executions/{change_id}/stages/1/start", headers=eddie)
    # Named by no change id: found as the change in progress on the service.
    failed = await api.post(
        "/v1/deployments", json=_generic(service, None, status="failed"), headers=eddie
    )
    assert failed.status_code == 201, failed.text

    execution = await eventually(
        lambda: api.get(f"/v1/executions/{change_id}", headers=eddie),
        lambda r: r.json()["status"] == "rolling_back",
    )
    stage = execution.json()["stages"][0]
    assert stage["status"] == "failed"
    assert failed.json()["id"] in stage["failure_reason"]
    assert "change.stage_failed" in await events_of(database_url, change_id)
    payload = (
        await fetch(
            database_url,
            "SELECT payload::jsonb -> 'data' ->> 'deployment_id' AS id FROM execution.outbox "
            "WHERE partition_key = $1 AND event_type = 'change.stage_failed'",
            change_id,
        )
    )[0]["id"]
    assert payload == failed.json()["id"]


async def test_production_deployments_without_a_change_in_progress_are_unauthorized(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    ci = tokens.headers("ci", "executor")
    rogue_service = unique_service()
    rogue = await api.post("/v1/deployments", json=_generic(rogue_service, None), headers=ci)
    assert rogue.status_code == 201
    assert rogue.json()["unauthorized"] is True  # intake flags and publishes it

    # Approved but never started: intake sees an approved change, execution sees no rollout.
    service = unique_service()
    change_id = await approved_change(api, tokens, database_url, service=service)
    early = await api.post("/v1/deployments", json=_generic(service, change_id), headers=ci)
    assert early.status_code == 201
    assert early.json()["unauthorized"] is False

    async def unauthorized_ids() -> set[str]:
        response = await api.get(
            "/v1/executions/deployments",
            params={"unauthorized": "true", "limit": 500},
            headers=tokens.headers("a", "auditor"),
        )
        assert response.status_code == 200, response.text
        return {d["id"] for d in response.json()}

    await eventually(unauthorized_ids, lambda ids: {rogue.json()["id"], early.json()["id"]} <= ids)
    published = await fetch(
        database_url,
        "SELECT payload::jsonb -> 'data' ->> 'unauthorized' AS flag FROM intake.outbox "
        "WHERE event_type = 'deployment.reported' AND payload::jsonb ->> 'subject' = $1",
        rogue.json()["id"],
    )
    assert [row["flag"] for row in published] == ["true"]
    attached = await _attached(api, tokens, change_id, 1)
    assert attached[0]["stage"] is None
