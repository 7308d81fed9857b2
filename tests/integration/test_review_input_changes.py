"""Pending reviews are re-assessed when a policy is replaced or a freeze window declared or
lifted, in the same transaction; decided reviews stand, and an outcome that does not change
publishes nothing."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import httpx

from tests.integration.test_review_freeze import declare, freeze_body
from tests.integration.test_review_support import (
    change_body,
    decide,
    outbox,
    policy,
    review,
    submit,
    unique_service,
)
from tests.support.clients import Tokens


def rules_fired(body: dict[str, Any]) -> set[str]:
    return {rule["rule"] for rule in body["risk"]["rules_fired"]}


async def lift(api: httpx.AsyncClient, tokens: Tokens, freeze_id: str) -> httpx.Response:
    return await api.delete(
        f"/v1/freeze-windows/{freeze_id}", headers=tokens.headers("lena", "change_lead")
    )


def two_change_managers_for_important(document: dict[str, Any]) -> None:
    document["important"] = {
        **document["important"],
        "required": [{"role": "change_manager", "count": 2}],
    }


async def test_a_freeze_reassesses_the_pending_review_it_covers_and_lifting_it_again(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    service = unique_service()
    change_id = await submit(api, tokens, change_body(services=[service]))
    before = await review(api, tokens, change_id)
    assert "during-freeze" not in rules_fired(before)
    published_before = len(await outbox(database_url, change_id, "change.assessed"))

    freeze = await declare(api, tokens, freeze_body(service))

    frozen = await review(api, tokens, change_id)
    assert "during-freeze" in rules_fired(frozen)
    assert frozen["risk"]["score"] == before["risk"]["score"] + 20
    assert frozen["status"] == "pending"
    events = await outbox(database_url, change_id, "change.assessed")
    assert len(events) == published_before + 1
    assert events[-1]["actor"] == "lena"
    assert "during-freeze" in {rule["rule"] for rule in events[-1]["data"]["rules_fired"]}

    assert (await lift(api, tokens, freeze["id"])).status_code == 200

    thawed = await review(api, tokens, change_id)
    assert "during-freeze" not in rules_fired(thawed)
    assert thawed["risk"]["score"] == before["risk"]["score"]
    assert thawed["impact_level"] == before["impact_level"]
    assert len(await outbox(database_url, change_id, "change.assessed")) == published_before + 2
    assert (await decide(api, tokens, change_id, "mona")).status_code == 201


async def test_a_policy_raising_the_required_approvals_applies_to_a_pending_review(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    change_id = await submit(api, tokens, change_body())
    assert (await review(api, tokens, change_id))["impact_level"] == "important"

    async with policy(api, tokens, "approvals", two_change_managers_for_important):
        raised = await review(api, tokens, change_id)
        first = await decide(api, tokens, change_id, "mona")
        assert first.status_code == 201, first.text
        after_one = first.json()

    assert raised["required_approvals"] == [{"role": "change_manager", "count": 2}]
    assert after_one["status"] == "pending"
    assert after_one["awaiting"] == [{"role": "change_manager", "count": 1}]
    # The previous policy is back: mona's standing decision is all it needs now.
    restored = await review(api, tokens, change_id)
    assert restored["required_approvals"] == [{"role": "change_manager", "count": 1}]
    assert restored["status"] == "approved"
    [approved] = await outbox(database_url, change_id, "change.approved")
    assert approved["data"]["approvers"] == ["mona"]


async def test_decided_reviews_are_left_as_they_are(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    service = unique_service()
    change_id = await submit(api, tokens, change_body(services=[service]))
    await review(api, tokens, change_id)
    assert (await decide(api, tokens, change_id, "mona")).status_code == 201
    decided = await review(api, tokens, change_id)
    published = await outbox(database_url, change_id, "change.assessed")

    freeze = await declare(api, tokens, freeze_body(service))
    async with policy(api, tokens, "approvals", two_change_managers_for_important):
        pass
    assert (await lift(api, tokens, freeze["id"])).status_code == 200

    assert await review(api, tokens, change_id) == decided
    assert await outbox(database_url, change_id, "change.assessed") == published


async def test_an_outcome_that_does_not_change_publishes_nothing(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    service = unique_service()
    change_id = await submit(api, tokens, change_body(services=[service]))
    await declare(api, tokens, freeze_body(service))
    frozen = await review(api, tokens, change_id)
    published = await outbox(database_url, change_id, "change.assessed")
    nowhere = f"nowhere-{uuid.uuid4().hex[:8]}"

    def rule_for_another_environment(document: dict[str, Any]) -> None:
        document["rules"] = [
            *copy.deepcopy(document["rules"]),
            {
                "id": f"watch-{nowhere}",
                "description": "An environment no change of this test names",
                "dimension": "business",
                "points": 40,
                "when": {"environment": nowhere},
                "enabled": True,
            },
        ]

    # A second freeze over a frozen change, and a risk rule that does not fire for it.
    await declare(api, tokens, freeze_body(service))
    async with policy(api, tokens, "risk", rule_for_another_environment) as stored:
        during = await review(api, tokens, change_id)

    assert stored["version"] > (frozen["risk"]["policy_version"] or 0)
    assert during == frozen
    assert await review(api, tokens, change_id) == frozen
    assert await outbox(database_url, change_id, "change.assessed") == published
