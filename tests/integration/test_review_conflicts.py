"""Conflicting changes: flagged on both assessments, cleared when one is cancelled."""

from __future__ import annotations

import httpx

from tests.integration.test_review_support import (
    change_body,
    outbox,
    review,
    submit,
    unique_service,
    window,
)
from tests.support.clients import Tokens


async def test_conflicts_are_flagged_on_both_sides_and_cleared_on_cancel(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    service, slot = unique_service(), window(days=4, hours=2)
    first = await submit(api, tokens, change_body(services=[service], window=slot))
    alone = await review(api, tokens, first)
    assert alone["conflicts"] == []
    second = await submit(
        api, tokens, change_body(services=[service, unique_service()], window=slot)
    )

    flagged = await review(api, tokens, second)
    other_side = await review(api, tokens, first, lambda body: body["conflicts"] != [])

    assert flagged["conflicts"] == [first]
    assert other_side["conflicts"] == [second]
    assert "overlapping-changes" in {rule["rule"] for rule in flagged["risk"]["rules_fired"]}
    assert other_side["risk"]["score"] == alone["risk"]["score"] + 15
    republished = await outbox(database_url, first, "change.assessed")
    assert [event["data"]["conflicts"] for event in republished] == [[], [second]]

    cancelled = await api.post(
        f"/v1/changes/{second}/cancel", headers=tokens.headers("rita", "requester")
    )
    assert cancelled.status_code == 200, cancelled.text

    cleared = await review(api, tokens, first, lambda body: body["conflicts"] == [])
    assert cleared["risk"]["score"] == alone["risk"]["score"]
    assert await review(api, tokens, second, lambda b: b["status"] == "cancelled")
    events = await outbox(database_url, first, "change.assessed")
    assert events[-1]["data"]["conflicts"] == []


async def test_no_conflict_across_environments_or_windows(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    service = unique_service()
    first = await submit(api, tokens, change_body(services=[service], window=window(days=5)))
    await review(api, tokens, first)
    staging = await submit(
        api,
        tokens,
        change_body(services=[service], environment="staging", window=window(days=5)),
    )
    later = await submit(api, tokens, change_body(services=[service], window=window(days=6)))

    assert (await review(api, tokens, staging))["conflicts"] == []
    assert (await review(api, tokens, later))["conflicts"] == []
    assert (await review(api, tokens, first))["conflicts"] == []


async def test_a_rejected_change_stops_conflicting(api: httpx.AsyncClient, tokens: Tokens) -> None:
    service, slot = unique_service(), window(days=7)
    first = await submit(api, tokens, change_body(services=[service], window=slot))
    await review(api, tokens, first)
    second = await submit(api, tokens, change_body(services=[service], window=slot))
    await review(api, tokens, first, lambda body: body["conflicts"] == [second])

    rejected = await api.post(
        f"/v1/reviews/{second}/approvals",
        json={"decision": "reject", "comment": "clashes with the sale"},
        headers=tokens.headers("mona", "change_manager"),
    )

    assert rejected.status_code == 201
    assert (await review(api, tokens, first))["conflicts"] == []
