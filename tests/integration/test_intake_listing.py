"""Listing changes: filters, and cursor pagination that neither skips nor repeats."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support.clients import CHANGE_BODY, Tokens

CATEGORIES = ["hardware", "software_config", "application", "data", "traffic"]
BASE = datetime(2027, 3, 1, tzinfo=UTC)


def _change(service: str, index: int) -> dict[str, Any]:
    start = BASE + timedelta(hours=index)
    return {
        **CHANGE_BODY,
        "title": f"{'Rotate certificates' if index % 10 == 0 else 'Routine'} #{index}",
        "category": CATEGORIES[index % 5],
        "services": [service, "shared-gateway"],
        "environment": "production" if index % 2 else "staging",
        "window": {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()},
    }


async def _create_many(
    api: httpx.AsyncClient, tokens: Tokens, service: str, count: int
) -> list[str]:
    ids: list[str] = []
    for batch in range(0, count, 20):
        responses = await asyncio.gather(
            *(
                api.post(
                    "/v1/changes",
                    json=_change(service, index),
                    headers=tokens.headers("lister" if index % 3 else "other", "requester"),
                )
                for index in range(batch, min(batch + 20, count))
            )
        )
        assert all(response.status_code == 201 for response in responses)
        ids.extend(response.json()["id"] for response in responses)
    return ids


async def _all_pages(
    api: httpx.AsyncClient, headers: dict[str, str], params: dict[str, Any], limit: int
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await api.get("/v1/changes", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_listing_over_220_changes_with_filters_and_pagination(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    ids = await _create_many(api, tokens, service, 220)
    audra = tokens.headers("audra", "auditor")

    listed = await _all_pages(api, audra, {"service": service}, limit=37)
    assert len(listed) == 220
    assert sorted(item["id"] for item in listed) == sorted(ids)
    keys = [(item["created_at"], item["id"]) for item in listed]
    assert keys == sorted(keys, reverse=True)

    production = await _all_pages(api, audra, {"service": service, "environment": "production"}, 50)
    assert len(production) == 110
    assert {item["environment"] for item in production} == {"production"}

    data = await _all_pages(api, audra, {"service": service, "category": "data"}, 200)
    assert len(data) == 44
    assert {item["category"] for item in data} == {"data"}

    mine = await _all_pages(api, audra, {"service": service, "requester": "other"}, 200)
    assert len(mine) == len([i for i in range(220) if i % 3 == 0])

    text = await _all_pages(api, audra, {"service": service, "q": "rotate CERT"}, 200)
    assert len(text) == 22

    window = {
        "service": service,
        "window_from": (BASE + timedelta(hours=10, minutes=30)).isoformat(),
        "window_to": (BASE + timedelta(hours=13)).isoformat(),
    }
    overlapping = await _all_pages(api, audra, window, 200)
    assert sorted(item["title"] for item in overlapping) == sorted(
        f"{'Rotate certificates' if i % 10 == 0 else 'Routine'} #{i}" for i in (10, 11, 12)
    )

    drafts = await _all_pages(
        api, audra, {"service": service, "status": ["draft", "submitted"]}, 200
    )
    assert len(drafts) == 220
    assert await _all_pages(api, audra, {"service": service, "status": "approved"}, 200) == []
    assert await _all_pages(api, audra, {"service": service, "impact_level": "critical"}, 200) == []


async def test_pages_neither_skip_nor_repeat_while_changes_are_inserted(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    original = set(await _create_many(api, tokens, service, 200))
    audra = tokens.headers("audra", "auditor")
    seen: list[str] = []
    cursor: str | None = None
    inserted = 0
    while True:
        query: dict[str, Any] = {"service": service, "limit": 30}
        if cursor:
            query["cursor"] = cursor
        page = (await api.get("/v1/changes", params=query, headers=audra)).json()
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        inserted += len(await _create_many(api, tokens, service, 3))
    assert inserted > 0
    assert len(seen) == len(set(seen)), "a change was listed twice"
    assert original <= set(seen), "a change was skipped"


async def test_a_forged_cursor_is_a_422(api: httpx.AsyncClient, tokens: Tokens) -> None:
    response = await api.get(
        "/v1/changes", params={"cursor": "not-a-cursor"}, headers=tokens.headers("a", "auditor")
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid-cursor"
    too_many = await api.get(
        "/v1/changes", params={"limit": 1000}, headers=tokens.headers("a", "auditor")
    )
    assert too_many.status_code == 422
    assert ["query", "limit"] in [error["loc"] for error in too_many.json()["errors"]]
