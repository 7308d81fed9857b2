"""Two approvers at the same instant: one decides the review, one `change.approved` only."""

from __future__ import annotations

import asyncio

import httpx

from tests.integration.test_review_support import change_body, decide, outbox, review, submit
from tests.support.clients import Tokens


async def test_simultaneous_approvals_publish_one_change_approved(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    changes = [await submit(api, tokens, change_body()) for _ in range(4)]
    for change_id in changes:
        await review(api, tokens, change_id)

    for change_id in changes:
        responses = await asyncio.gather(
            decide(api, tokens, change_id, "mona"), decide(api, tokens, change_id, "max")
        )

        statuses = sorted(response.status_code for response in responses)
        assert statuses == [201, 409], [response.text for response in responses]
        [loser] = [response for response in responses if response.status_code == 409]
        assert loser.json()["code"] == "invalid-transition"
        assert len(await outbox(database_url, change_id, "change.approved")) == 1
        assert len(await outbox(database_url, change_id, "change.approval_recorded")) == 1
        body = await review(api, tokens, change_id)
        assert body["status"] == "approved"
        assert len(body["approvals"]) == 1
