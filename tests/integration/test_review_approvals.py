"""Every approval policy path, through the all-in-one app on real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx

from tests.integration.test_review_support import (
    PASSING,
    change_body,
    decide,
    outbox,
    policy,
    review,
    submit,
    unique_service,
    window,
)
from tests.support.clients import Tokens


def _critical(document: dict[str, Any], service: str) -> None:
    document["services"] = [*document["services"], {"name": service, "tier": 1}]


def critical_body(service: str) -> dict[str, Any]:
    """Production (25) + a tier-1 service (20) + a schema migration (15): critical (60)."""
    return change_body(
        services=[service],
        category="application",
        details={
            "kind": "feature",
            "repository": "github.com/acme/web",
            "version_to": "v3.0.0",
            "rollout_strategy": "canary",
            "includes_schema_migration": True,
        },
        test_evidence=PASSING,
    )


async def test_a_standard_change_from_a_template_is_pre_approved(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    service = unique_service()
    template = await api.post(
        "/v1/templates",
        json={
            "name": f"scale-{service}",
            "category": "hardware",
            "details": {"kind": "pod_count_change", "assets": [service]},
            "services": [service],
            "environment": "production",
            "plans": change_body()["plans"],
        },
        headers=tokens.headers("lena", "change_lead"),
    )
    assert template.status_code == 201, template.text
    change_id = await submit(
        api,
        tokens,
        {"template_id": template.json()["id"], "title": "Scale out", "window": window()},
    )

    body = await review(api, tokens, change_id, lambda r: r["status"] == "approved")

    assert body["impact_level"] == "standard"
    assert body["pre_approved"] is True
    assert body["approvals"] == []
    [approved] = await outbox(database_url, change_id, "change.approved")
    assert approved["actor"] == "system:review"
    assert approved["data"]["approvers"] == []
    assert approved["data"]["emergency"] is False


async def test_one_change_manager_approves_an_important_change(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    change_id = await submit(api, tokens, change_body())
    pending = await review(api, tokens, change_id)
    assert pending["impact_level"] == "important"
    assert pending["awaiting"] == [{"role": "change_manager", "count": 1}]

    response = await decide(api, tokens, change_id, "mona")

    assert response.status_code == 201, response.text
    assert response.json()["status"] == "approved"
    [approved] = await outbox(database_url, change_id, "change.approved")
    assert approved["data"]["approvers"] == ["mona"]
    expires = datetime.fromisoformat(approved["data"]["approval_expires_at"])
    assert expires == datetime.fromisoformat(pending["window"]["end"])
    assert approved["data"]["retrospective_required"] is False


async def test_an_urgent_change_is_approved_before_its_review_completes(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    body = change_body(
        category="application",
        details={
            "kind": "bug_fix",
            "repository": "github.com/acme/web",
            "version_to": "v2.0.1",
            "rollout_strategy": "canary",
        },
        emergency=True,
    )
    change_id = await submit(api, tokens, body)
    pending = await review(api, tokens, change_id)
    assert pending["impact_level"] == "urgent"
    assert pending["readiness"]["ready"] is False  # no test evidence yet

    response = await decide(api, tokens, change_id, "mona")

    assert response.status_code == 201, response.text
    assert response.json()["retrospective_required"] is True
    [approved] = await outbox(database_url, change_id, "change.approved")
    assert approved["data"]["emergency"] is True
    assert approved["data"]["retrospective_required"] is True


async def test_a_change_that_is_not_ready_needs_a_waiver_first(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    body = change_body(
        category="data",
        details={"kind": "cleanup", "datasets": ["orders"], "estimated_rows": 500,
                 "reversible": False, "load_protection": {"batch_size": 100}},
        test_evidence=PASSING,
    )  # fmt: skip
    change_id = await submit(api, tokens, body)
    pending = await review(api, tokens, change_id)
    assert pending["readiness"]["ready"] is False

    refused = await decide(api, tokens, change_id, "mona")
    assert refused.status_code == 409
    assert refused.json()["code"] == "not-ready"
    assert "data.reversible" in refused.json()["failing"]

    by_requester = await api.post(
        f"/v1/reviews/{change_id}/waivers",
        json={"item": "data.reversible", "reason": "mine"},
        headers=tokens.headers("rita", "change_manager"),
    )
    assert by_requester.status_code == 403
    unknown = await api.post(
        f"/v1/reviews/{change_id}/waivers",
        json={"item": "plan.magic", "reason": "x"},
        headers=tokens.headers("mona", "change_manager"),
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["loc"] == ["body", "item"]
    passing = await api.post(
        f"/v1/reviews/{change_id}/waivers",
        json={"item": "plan.rollback", "reason": "x"},
        headers=tokens.headers("mona", "change_manager"),
    )
    assert passing.status_code == 409
    waived = await api.post(
        f"/v1/reviews/{change_id}/waivers",
        json={"item": "data.reversible", "reason": "snapshot taken, restore rehearsed"},
        headers=tokens.headers("mona", "change_manager"),
    )
    assert waived.status_code == 201, waived.text
    assert waived.json()["readiness"]["ready"] is True
    [event] = await outbox(database_url, change_id, "change.readiness_waived")
    assert event["data"]["item"] == "data.reversible"
    assert event["actor"] == "mona"

    assert (await decide(api, tokens, change_id, "max")).status_code == 201


async def test_critical_quorum_not_reached_then_reached(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    service = unique_service()
    async with policy(api, tokens, "services", lambda d: _critical(d, service)):
        change_id = await submit(api, tokens, critical_body(service))
        pending = await review(api, tokens, change_id)
        assert pending["impact_level"] == "critical"
        assert pending["required_approvals"] == [
            {"role": "change_lead", "count": 1},
            {"role": "cab_member", "count": 2},
        ]

        manager = await decide(api, tokens, change_id, "mona", "change_manager")
        assert manager.status_code == 403
        lead = await decide(api, tokens, change_id, "lena", "change_lead")
        first_cab = await decide(api, tokens, change_id, "carl", "cab_member")
        assert [lead.status_code, first_cab.status_code] == [201, 201]
        assert first_cab.json()["status"] == "pending"
        assert first_cab.json()["awaiting"] == [{"role": "cab_member", "count": 1}]
        assert await outbox(database_url, change_id, "change.approved") == []

        second_cab = await decide(api, tokens, change_id, "cora", "cab_member")

        assert second_cab.json()["status"] == "approved"
        [approved] = await outbox(database_url, change_id, "change.approved")
        assert sorted(approved["data"]["approvers"]) == ["carl", "cora", "lena"]
        assert len(await outbox(database_url, change_id, "change.approval_recorded")) == 3


async def test_one_rejection_rejects_a_critical_change(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    service = unique_service()
    async with policy(api, tokens, "services", lambda d: _critical(d, service)):
        change_id = await submit(api, tokens, critical_body(service))
        await review(api, tokens, change_id)
        assert (await decide(api, tokens, change_id, "lena", "change_lead")).status_code == 201

        rejected = await decide(api, tokens, change_id, "carl", "cab_member", decision="reject")

        assert rejected.json()["status"] == "rejected"
        [event] = await outbox(database_url, change_id, "change.rejected")
        assert event["data"]["rejected_by"] == "carl"
        late = await decide(api, tokens, change_id, "cora", "cab_member")
        assert late.status_code == 409


async def test_the_requester_never_decides_and_nothing_is_recorded(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    change_id = await submit(api, tokens, change_body(), requester="rick")
    await review(api, tokens, change_id)

    response = await decide(api, tokens, change_id, "rick", "change_manager", "requester")

    assert response.status_code == 403
    assert response.json()["code"] == "self-approval-forbidden"
    assert await outbox(database_url, change_id, "change.approval_recorded") == []
    assert (await review(api, tokens, change_id))["approvals"] == []


async def test_one_person_counts_once(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    service = unique_service()
    async with policy(api, tokens, "services", lambda d: _critical(d, service)):
        change_id = await submit(api, tokens, critical_body(service))
        await review(api, tokens, change_id)
        first = await decide(api, tokens, change_id, "carl", "cab_member", "change_lead")
        again = await decide(api, tokens, change_id, "carl", "cab_member", "change_lead")

        assert first.status_code == 201
        assert again.status_code == 409
        assert again.json()["code"] == "already-decided"
        body = await review(api, tokens, change_id)
        assert [a["approver"] for a in body["approvals"]] == ["carl"]
        assert len(await outbox(database_url, change_id, "change.approval_recorded")) == 1


async def test_a_decision_older_than_the_policy_allows_no_longer_counts(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    service = unique_service()

    def short_votes(document: dict[str, Any]) -> None:
        document["critical"] = {**document["critical"], "vote_valid_for": "PT1S"}

    async with policy(api, tokens, "services", lambda d: _critical(d, service)):
        change_id = await submit(api, tokens, critical_body(service))
        await review(api, tokens, change_id)
        async with policy(api, tokens, "approvals", short_votes):
            assert (await decide(api, tokens, change_id, "lena", "change_lead")).status_code == 201
            await asyncio.sleep(1.5)
            await decide(api, tokens, change_id, "carl", "cab_member")
            after_expiry = await decide(api, tokens, change_id, "cora", "cab_member")

            assert after_expiry.status_code == 201
            assert after_expiry.json()["status"] == "pending"
            [expired] = [a for a in after_expiry.json()["approvals"] if a["approver"] == "lena"]
            assert expired["invalidated_because"].startswith("expired")
            assert await outbox(database_url, change_id, "change.approved") == []
            again = await decide(api, tokens, change_id, "lena", "change_lead")
        assert again.json()["status"] == "approved"


async def test_no_approval_after_the_window_ended(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    change_id = await submit(api, tokens, change_body(window=window(days=-1)))
    await review(api, tokens, change_id)

    response = await decide(api, tokens, change_id, "mona")

    assert response.status_code == 409
    assert response.json()["code"] == "window-passed"
    assert await outbox(database_url, change_id, "change.approval_recorded") == []
