"""Re-assessment on `change.updated`, overrides, and stale snapshots."""

from __future__ import annotations

from typing import Any

import httpx

from services.review import service
from shared.contracts import ChangeSnapshot
from shared.db import Database
from tests.integration.test_review_support import (
    PASSING,
    change_body,
    decide,
    outbox,
    policy,
    review,
    submit,
    unique_service,
)
from tests.support.clients import Tokens

FAILING = [{"suite": "e2e", "passed": 118, "failed": 2}]


async def edit(
    api: httpx.AsyncClient, tokens: Tokens, change_id: str, patch: dict[str, object]
) -> None:
    headers = tokens.headers("rita", "requester")
    current = await api.get(f"/v1/changes/{change_id}", headers=headers)
    response = await api.patch(
        f"/v1/changes/{change_id}",
        json=patch,
        headers={**headers, "If-Match": current.headers["etag"]},
    )
    assert response.status_code == 200, response.text


async def override_to_critical(api: httpx.AsyncClient, tokens: Tokens, change_id: str) -> None:
    response = await api.put(
        f"/v1/reviews/{change_id}/impact-level",
        json={"impact_level": "critical", "reason": "Black Friday traffic"},
        headers=tokens.headers("mona", "change_manager"),
    )
    assert response.status_code == 200, response.text


async def test_an_override_raises_the_level_but_never_lowers_it(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    change_id = await submit(api, tokens, change_body())
    await review(api, tokens, change_id)
    manager = tokens.headers("mona", "change_manager")

    lower = await api.put(
        f"/v1/reviews/{change_id}/impact-level",
        json={"impact_level": "standard", "reason": "small"},
        headers=manager,
    )
    urgent = await api.put(
        f"/v1/reviews/{change_id}/impact-level",
        json={"impact_level": "urgent", "reason": "hurry"},
        headers=manager,
    )
    assert lower.status_code == 409
    assert lower.json()["code"] == "impact-downgrade-forbidden"
    assert urgent.status_code == 422

    await override_to_critical(api, tokens, change_id)

    body = await review(api, tokens, change_id)
    assert body["impact_level"] == "critical"
    assert body["rule_impact_level"] == "important"
    assert body["impact_override"]["overridden_by"] == "mona"
    assert body["required_approvals"][0] == {"role": "change_lead", "count": 1}
    events = await outbox(database_url, change_id, "change.assessed")
    assert events[-1]["data"]["impact_override"]["reason"] == "Black Friday traffic"
    assert events[-1]["actor"] == "mona"


async def test_editing_the_plans_voids_earlier_decisions(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    change_id = await submit(api, tokens, change_body(test_evidence=PASSING))
    await review(api, tokens, change_id)
    await override_to_critical(api, tokens, change_id)
    assert (await decide(api, tokens, change_id, "lena", "change_lead")).status_code == 201

    await edit(
        api,
        tokens,
        change_id,
        {"plans": {"rollback": "Restore the previous replica count from the release notes"}},
    )

    body = await review(api, tokens, change_id, lambda b: b["assessed_version"] > 2)
    [vote] = body["approvals"]
    assert vote["invalidated_because"] == "the plans changed"
    assert body["awaiting"][0] == {"role": "change_lead", "count": 1}
    assert body["impact_level"] == "critical"  # the override outlives the edit
    events = await outbox(database_url, change_id, "change.assessed")
    versions = [event["data"]["assessed_version"] for event in events]
    assert versions == sorted(versions)
    assert (await decide(api, tokens, change_id, "lena", "change_lead")).status_code == 201


async def test_a_rising_level_voids_decisions_and_a_title_edit_does_not(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    def two_managers(document: dict[str, Any]) -> None:
        document["important"] = {
            **document["important"],
            "required": [{"role": "change_manager", "count": 2}],
        }

    service = unique_service()

    def tier_two(document: dict[str, Any]) -> None:
        document["services"] = [*document["services"], {"name": service, "tier": 2}]

    async with (
        policy(api, tokens, "approvals", two_managers),
        policy(api, tokens, "services", tier_two),
    ):
        # production 25 + tier 2 (10): important; failing tests (25) later make it critical.
        change_id = await submit(api, tokens, change_body(services=[service]))
        await review(api, tokens, change_id)
        assert (await decide(api, tokens, change_id, "mona")).json()["status"] == "pending"

        await edit(api, tokens, change_id, {"title": "Scale out for the big sale"})
        kept = await review(api, tokens, change_id, lambda b: b["title"].endswith("big sale"))
        assert kept["approvals"][0]["invalidated_at"] is None

        await edit(api, tokens, change_id, {"test_evidence": FAILING})
        risen = await review(api, tokens, change_id, lambda b: b["impact_level"] == "critical")

    [vote] = risen["approvals"]
    assert vote["invalidated_because"] == "the impact level rose from important to critical"
    assert "failing-tests" in {rule["rule"] for rule in risen["risk"]["rules_fired"]}


async def test_a_stale_snapshot_changes_nothing(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    change_id = await submit(api, tokens, change_body())
    before = await review(api, tokens, change_id)
    stale = ChangeSnapshot.model_validate({**_snapshot_of(before), "version": 1, "title": "old"})
    database = Database(database_url)
    try:
        async with database.sessionmaker() as session, session.begin():
            await service.reassess_change(session, stale)
    finally:
        await database.dispose()

    after = await review(api, tokens, change_id)
    assert after["title"] == before["title"]
    assert after["assessed_version"] == before["assessed_version"]
    assert len(await outbox(database_url, change_id, "change.assessed")) == 1


def _snapshot_of(body: dict[str, object]) -> dict[str, object]:
    return {
        "change_id": body["change_id"],
        "title": body["title"],
        "category": body["category"],
        "services": body["services"],
        "environment": body["environment"],
        "window": body["window"],
        "plans": {"implementation": "x", "rollback": "y", "verification": "z"},
        "requester": body["requester"],
    }
