"""Change requests of every category: details validated per category, stored, published."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.support.clients import CHANGE_BODY, Tokens, eventually, fetch, scalar

PROBLEM = "application/problem+json"

VALID_DETAILS: dict[str, dict[str, Any]] = {
    "hardware": {
        "kind": "pod_count_change",
        "assets": ["checkout"],
        "capacity_from": "6 pods",
        "capacity_to": "12 pods",
    },
    "software_config": {
        "target": "database",
        "component": "orders-postgres",
        "keys": [{"key": "max_connections", "old_value": "200", "new_value": "400"}],
    },
    "application": {
        "kind": "feature",
        "repository": "github.com/acme/checkout",
        "version_from": "2.13.0",
        "version_to": "2.14.0",
        "rollout_strategy": "canary",
    },
    "data": {
        "kind": "cleanup",
        "datasets": ["orders.expired_carts"],
        "estimated_rows": 1_200_000,
        "reversible": False,
        "load_protection": {"batch_size": 5000, "max_batches_per_second": 2},
    },
    "traffic": {"kind": "expected_spike", "expected_peak_rps": 25000},
}

# One broken field per category, and the path the problem must name.
INVALID_DETAILS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "hardware": ({"kind": "gpu_upgrade", "assets": ["checkout"]}, ["details", "kind"]),
    "software_config": ({"target": "database", "keys": []}, ["details", "keys"]),
    "application": (
        {**VALID_DETAILS["application"], "rollout_strategy": "yolo"},
        ["details", "rollout_strategy"],
    ),
    "data": ({**VALID_DETAILS["data"], "estimated_rows": -1}, ["details", "estimated_rows"]),
    "traffic": ({"kind": "expected_spike"}, ["details", "expected_peak_rps"]),
}


async def _change_count(database_url: str) -> int:
    return int(await scalar(database_url, "SELECT count(*) FROM intake.change_request"))


def _body(category: str, details: dict[str, Any]) -> dict[str, Any]:
    return {
        **CHANGE_BODY,
        "title": f"{category} change {uuid.uuid4().hex[:8]}",
        "category": category,
        "details": details,
        "business_justification": "Black Friday capacity",
        "contacts": [{"name": "Checkout team", "role": "on-call", "chat": "#checkout"}],
        "test_evidence": [
            {
                "suite": "checkout-e2e",
                "passed": 412,
                "failed": 0,
                "link": "https://ci.example.com/runs/1",
            }
        ],
    }


@pytest.mark.parametrize("category", sorted(VALID_DETAILS))
async def test_valid_details_are_stored_returned_and_published(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str, category: str
) -> None:
    headers = tokens.headers("rita", "requester")
    created = await api.post(
        "/v1/changes", json=_body(category, VALID_DETAILS[category]), headers=headers
    )
    assert created.status_code == 201, created.text
    change = created.json()
    assert change["category"] == category
    for name, value in VALID_DETAILS[category].items():
        if name != "keys":
            assert change["details"][name] == value
    assert change["test_evidence"][0]["passed"] == 412
    assert change["contacts"][0]["chat"] == "#checkout"
    assert change["standard"] is False

    fetched = (await api.get(f"/v1/changes/{change['id']}", headers=headers)).json()
    assert fetched["details"] == change["details"]

    submitted = await api.post(f"/v1/changes/{change['id']}/submit", headers=headers)
    assert submitted.status_code == 200, submitted.text
    rows = await fetch(
        database_url,
        "SELECT payload::jsonb AS event FROM intake.outbox "
        "WHERE payload::jsonb->>'subject' = $1 AND event_type = 'change.requested'",
        change["id"],
    )
    assert len(rows) == 1
    assert '"business_justification": "Black Friday capacity"' in rows[0]["event"]
    assert f'"category": "{category}"' in rows[0]["event"]


@pytest.mark.parametrize("category", sorted(INVALID_DETAILS))
async def test_invalid_details_are_a_422_naming_the_field(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str, category: str
) -> None:
    details, path = INVALID_DETAILS[category]
    before = await _change_count(database_url)
    response = await api.post(
        "/v1/changes", json=_body(category, details), headers=tokens.headers("rita", "requester")
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["code"] == "validation-error"
    assert ["body", *path] in [error["loc"] for error in problem["errors"]]
    assert ".".join(path) in problem["detail"]
    assert await _change_count(database_url) == before


async def test_details_of_another_category_are_rejected(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await api.post(
        "/v1/changes",
        json=_body("hardware", VALID_DETAILS["application"]),
        headers=tokens.headers("rita", "requester"),
    )
    assert response.status_code == 422, response.text
    locs = [error["loc"] for error in response.json()["errors"]]
    assert ["body", "details", "assets"] in locs
    assert ["body", "details", "repository"] in locs


async def test_secret_config_values_are_redacted_when_stored_and_returned(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    details = {
        "target": "middleware",
        "keys": [
            {"key": "redis.password", "old_value": "hunter2", "new_value": "correct-horse"},
            {"key": "cache.endpoint", "old_value": "a", "new_value": "b", "secret": True},
            {"key": "cache.ttl", "old_value": "60", "new_value": "120"},
        ],
    }
    created = await api.post(
        "/v1/changes",
        json=_body("software_config", details),
        headers=tokens.headers("rita", "requester"),
    )
    assert created.status_code == 201, created.text
    keys = created.json()["details"]["keys"]
    assert [k["new_value"] for k in keys] == ["[redacted]", "[redacted]", "120"]
    assert [k["secret"] for k in keys] == [True, True, False]
    stored = await scalar(
        database_url,
        "SELECT details::text FROM intake.change_request WHERE id = $1",
        uuid.UUID(created.json()["id"]),
    )
    assert "hunter2" not in stored
    assert "correct-horse" not in stored


async def test_structured_plans_count_as_plans(api: httpx.AsyncClient, tokens: Tokens) -> None:
    headers = tokens.headers("rita", "requester")
    body = {
        **CHANGE_BODY,
        "plans": {
            "implementation_steps": [
                {"description": "kubectl scale deploy/checkout --replicas=12", "automated": True}
            ],
            "rollback": "Scale back to 6",
            "verification_checks": [
                {"name": "p99 latency", "kind": "metric", "expected": "< 300 ms for 15 min"}
            ],
        },
    }
    created = (await api.post("/v1/changes", json=body, headers=headers)).json()
    assert created["plans"]["implementation_steps"][0]["automated"] is True
    submitted = await api.post(f"/v1/changes/{created['id']}/submit", headers=headers)
    assert submitted.status_code == 200, submitted.text
    review = await eventually(
        lambda: api.get(f"/v1/reviews/{created['id']}", headers=headers),
        lambda response: response.status_code == 200,
    )
    assert review.json()["readiness"]["ready"] is True
