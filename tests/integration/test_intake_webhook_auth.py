"""Who may post a provider webhook: a configured secret stands in for the bearer token."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import httpx
import pytest

from changeward.allinone import create_app
from services.intake.providers import ProviderSecrets
from shared.settings import Settings
from tests.fixtures.deployments import document, sample
from tests.support.clients import Tokens, scalar

SECRETS = ProviderSecrets(github_webhook_secret="whsec-test")


@pytest.fixture
async def signed_api(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The all-in-one app configured with a GitHub webhook secret."""
    app = create_app(
        settings.model_copy(update={"github_webhook_secret": "whsec-test"}), database_url
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://changeward") as client:
            yield client


def _fresh_delivery(service: str) -> tuple[bytes, dict[str, str]]:
    """The GitHub sample, as a deployment no other test has reported."""
    body = document("github-deployment-status")
    body["deployment"]["id"] = random.randrange(10**9, 10**12)
    body["deployment"]["payload"]["changeward"] = {"service": service}
    delivery = sample("github-deployment-status", SECRETS).with_body(body, SECRETS)
    return delivery.body, delivery.headers


async def _stored(database_url: str, service: str) -> int:
    return int(
        await scalar(
            database_url,
            "SELECT count(*) FROM intake.deployment_report WHERE service = $1",
            service,
        )
    )


async def test_a_signed_webhook_needs_no_token(
    signed_api: httpx.AsyncClient, database_url: str
) -> None:
    service = f"web-{random.randrange(10**9)}"
    body, headers = _fresh_delivery(service)
    response = await signed_api.post("/v1/deployments", content=body, headers=headers)
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["provider"] == "github"
    assert report["reported_by"] == "webhook:github"
    assert report["service"] == service
    assert await _stored(database_url, service) == 1


async def test_a_bad_signature_is_401_and_stores_nothing(
    signed_api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    service = f"web-{random.randrange(10**9)}"
    body, headers = _fresh_delivery(service)
    forged = {**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}
    for extra in ({}, tokens.headers("ci", "executor")):
        response = await signed_api.post(
            "/v1/deployments", content=body, headers={**forged, **extra}
        )
        assert response.status_code == 401, response.text
    assert await _stored(database_url, service) == 0


async def test_without_a_configured_secret_a_webhook_needs_a_token(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    service = f"web-{random.randrange(10**9)}"
    body, headers = _fresh_delivery(service)
    anonymous = await api.post("/v1/deployments", content=body, headers=headers)
    assert anonymous.status_code == 401
    assert await _stored(database_url, service) == 0
    with_token = await api.post(
        "/v1/deployments", content=body, headers={**headers, **tokens.headers("ci", "executor")}
    )
    assert with_token.status_code == 201, with_token.text
    assert with_token.json()["reported_by"] == "ci"
