"""The CAB queue (`pending_for=me`) and the review list."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.test_review_support import (
    PASSING,
    change_body,
    decide,
    policy,
    review,
    submit,
    unique_service,
)
from tests.support.clients import Tokens


async def queue_of(api: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        query = {"pending_for": "me", "limit": 50, **params}
        if cursor:
            query["cursor"] = cursor
        response = await api.get("/v1/reviews", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [item["change_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


async def test_the_queue_holds_what_the_caller_can_act_on_oldest_first(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    service = unique_service()

    def tier_one(document: dict[str, Any]) -> None:
        document["services"] = [*document["services"], {"name": service, "tier": 1}]

    important_one = await submit(api, tokens, change_body())
    important_two = await submit(api, tokens, change_body())
    # The catalog stays in force: pending reviews are re-assessed when it changes.
    async with policy(api, tokens, "services", tier_one):
        critical = await submit(
            api,
            tokens,
            change_body(
                services=[service],
                category="application",
                details={
                    "kind": "feature",
                    "repository": "github.com/acme/web",
                    "version_to": "v3",
                    "rollout_strategy": "canary",
                    "includes_schema_migration": True,
                },
                test_evidence=PASSING,
            ),
        )
        await review(api, tokens, critical)
        for change_id in (important_one, important_two):
            await review(api, tokens, change_id)
        mine = await submit(api, tokens, change_body(), requester="mia")
        await review(api, tokens, mine)

        mia = tokens.headers("mia", "change_manager", "requester")
        carl = tokens.headers("carl", "cab_member")
        manager_queue = await queue_of(api, mia)
        cab_queue = await queue_of(api, carl)

        position = [manager_queue.index(c) for c in (important_one, important_two)]
        assert position == sorted(position)
        assert mine not in manager_queue
        assert critical not in manager_queue
        assert critical in cab_queue
        assert important_one not in cab_queue

        assert (await decide(api, tokens, critical, "carl", "cab_member")).status_code == 201
        assert critical not in await queue_of(api, carl)
        assert critical in await queue_of(api, tokens.headers("cora", "cab_member"))
        assert (await decide(api, tokens, important_one, "mona")).status_code == 201
        assert important_one not in await queue_of(api, mia)


async def test_the_queue_pages_with_a_cursor(api: httpx.AsyncClient, tokens: Tokens) -> None:
    created = [await submit(api, tokens, change_body()) for _ in range(3)]
    for change_id in created:
        await review(api, tokens, change_id)
    headers = tokens.headers("pat", "change_manager")

    first = await api.get("/v1/reviews", params={"pending_for": "me", "limit": 1}, headers=headers)

    assert first.status_code == 200
    assert len(first.json()["items"]) == 1
    assert first.json()["next_cursor"]
    everything = await queue_of(api, headers)
    assert everything[0] == first.json()["items"][0]["change_id"]
    assert len(everything) == len(set(everything))
    assert set(created) <= set(everything)


async def test_the_list_filters_reviews(api: httpx.AsyncClient, tokens: Tokens) -> None:
    service = unique_service()
    change_id = await submit(api, tokens, change_body(services=[service]))
    await review(api, tokens, change_id)
    auditor = tokens.headers("audra", "auditor")

    found = await api.get(
        "/v1/reviews",
        params={"service": service, "status": "pending", "impact_level": "important"},
        headers=auditor,
    )
    none = await api.get(
        "/v1/reviews", params={"service": service, "status": "approved"}, headers=auditor
    )
    bad = await api.get("/v1/reviews", params={"pending_for": "you"}, headers=auditor)

    assert [item["change_id"] for item in found.json()["items"]] == [change_id]
    assert found.json()["items"][0]["risk"]["score"] > 0
    assert none.json()["items"] == []
    assert bad.status_code == 422
