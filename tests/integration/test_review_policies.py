"""Policies: read by anyone, replaced by a change_lead, validated, versioned and audited."""

from __future__ import annotations

import copy
from typing import Any

import httpx

from tests.integration.test_review_support import (
    change_body,
    outbox,
    policy,
    review,
    submit,
    unique_service,
)
from tests.support.clients import Tokens


async def test_an_invalid_rule_is_rejected_and_the_previous_policy_stays(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    lead = tokens.headers("lena", "change_lead")
    read = await api.get("/v1/policies/risk", headers=lead)
    before = read.json()
    broken = copy.deepcopy(before["document"])
    broken["rules"].append(
        {
            "id": "friday-deploys",
            "description": "Deploys on a Friday",
            "dimension": "business",
            "points": 10,
            "when": {"weekday": "fri"},
        }
    )

    response = await api.put(
        "/v1/policies/risk", json=broken, headers={**lead, "If-Match": read.headers["etag"]}
    )

    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "invalid-policy"
    [error] = problem["errors"]
    assert error["rule"] == "friday-deploys"
    assert error["loc"][:3] == ["body", "rules", len(broken["rules"]) - 1]
    assert "weekday" in error["msg"]
    assert "friday-deploys" in problem["detail"]
    after = await api.get("/v1/policies/risk", headers=lead)
    assert after.json()["version"] == before["version"]
    assert after.json()["document"] == before["document"]


async def test_a_rule_comparing_text_with_a_number_names_the_field(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    lead = tokens.headers("lena", "change_lead")
    read = await api.get("/v1/policies/risk", headers=lead)
    document = read.json()["document"]
    document["rules"][0]["when"] = {"category": {"gte": 3}}
    document["rules"][1]["points"] = 0

    response = await api.put(
        "/v1/policies/risk", json=document, headers={**lead, "If-Match": read.headers["etag"]}
    )

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {error["rule"] for error in errors} == {
        document["rules"][0]["id"],
        document["rules"][1]["id"],
    }
    assert ["body", "rules", 1, "points"] in [error["loc"] for error in errors]


async def test_a_new_version_applies_to_new_assessments_and_is_audited(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    service = unique_service()

    def extra_rule(document: dict[str, Any]) -> None:
        document["rules"] = [
            *document["rules"],
            {
                "id": f"watch-{service}",
                "description": "A service under watch",
                "dimension": "business",
                "points": 40,
                "when": {"services_count": {"gte": 1}, "environment": "production"},
                "enabled": True,
            },
        ]

    async with policy(api, tokens, "risk", extra_rule) as stored:
        change_id = await submit(api, tokens, change_body(services=[service]))
        body = await review(api, tokens, change_id)
        versions = await api.get(
            "/v1/policies/risk/versions", headers=tokens.headers("audra", "auditor")
        )

    assert body["impact_level"] == "critical"
    assert body["risk"]["policy_version"] == stored["version"]
    assert f"watch-{service}" in {rule["rule"] for rule in body["risk"]["rules_fired"]}
    assert versions.json()["items"][0]["version"] == stored["version"]
    assert versions.json()["items"][0]["created_by"] == "lena"
    events = await outbox(database_url, "policy:risk", "policy.updated")
    assert stored["version"] in [event["data"]["version"] for event in events]


async def test_only_a_change_lead_replaces_a_policy_and_if_match_guards_it(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    current = await api.get("/v1/policies/approvals", headers=tokens.headers("carl", "cab_member"))
    assert current.status_code == 200
    document = current.json()["document"]
    lead = tokens.headers("lena", "change_lead")

    as_manager = await api.put(
        "/v1/policies/approvals",
        json=document,
        headers={**tokens.headers("mona", "change_manager"), "If-Match": current.headers["etag"]},
    )
    unconditional = await api.put("/v1/policies/approvals", json=document, headers=lead)
    stale = await api.put(
        "/v1/policies/approvals", json=document, headers={**lead, "If-Match": '"999999"'}
    )
    requester_approves = copy.deepcopy(document)
    requester_approves["important"]["required"] = [{"role": "requester", "count": 1}]
    invalid = await api.put(
        "/v1/policies/approvals",
        json=requester_approves,
        headers={**lead, "If-Match": current.headers["etag"]},
    )

    assert as_manager.status_code == 403
    assert unconditional.status_code == 428
    assert unconditional.headers["content-type"] == "application/problem+json"
    assert unconditional.json()["code"] == "if-match-required"
    assert unconditional.json()["current_version"] == current.json()["version"]
    assert stale.status_code == 412
    assert stale.json()["code"] == "version-mismatch"
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["loc"][:3] == ["body", "important", "required"]
    unchanged = await api.get(
        "/v1/policies/approvals", headers=tokens.headers("carl", "cab_member")
    )
    assert unchanged.json()["version"] == current.json()["version"]


async def test_the_service_catalog_sets_criticality(api: httpx.AsyncClient, tokens: Tokens) -> None:
    service = unique_service()

    def tier_one(document: dict[str, Any]) -> None:
        document["services"] = [*document["services"], {"name": service, "tier": 1}]

    async with policy(api, tokens, "services", tier_one):
        change_id = await submit(api, tokens, change_body(services=[service]))
        body = await review(api, tokens, change_id)

    assert "tier-1-service" in {rule["rule"] for rule in body["risk"]["rules_fired"]}
    assert body["risk"]["breakdown"]["business"] == 45


async def test_a_stray_document_without_if_match_replaces_nothing(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    lead = tokens.headers("lena", "change_lead")
    before = await api.get("/v1/policies/services", headers=lead)

    stray = await api.put("/v1/policies/services", json={}, headers=lead)

    assert stray.status_code == 428, stray.text
    assert stray.json()["code"] == "if-match-required"
    after = await api.get("/v1/policies/services", headers=lead)
    assert after.json() == before.json()
    assert after.headers["etag"] == f'"{before.json()["version"]}"'
