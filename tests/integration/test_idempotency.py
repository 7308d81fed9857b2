"""Idempotency-Key on creating POSTs: replay, mismatch, concurrency, caller scope, purge."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from services.intake.models import idempotency_keys
from shared.db import Database
from shared.idempotency import IdempotencyKeyInProgress, _Attempt, _claim, _store, purge_expired
from tests.support.clients import CHANGE_BODY, Tokens, fetch, scalar

PROBLEM = "application/problem+json"


def _body() -> dict[str, object]:
    return {**CHANGE_BODY, "title": f"idempotent {uuid.uuid4().hex}"}


async def _count_titled(database_url: str, title: object) -> int:
    return int(
        await scalar(
            database_url, "SELECT count(*) FROM intake.change_request WHERE title = $1", title
        )
    )


async def test_a_retry_replays_the_first_response(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    headers = {**tokens.headers("rita", "requester"), "Idempotency-Key": uuid.uuid4().hex}
    body = _body()
    first = await api.post("/v1/changes", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers

    # Same JSON, keys in another order: still the same request.
    again = await api.post("/v1/changes", json=dict(reversed(list(body.items()))), headers=headers)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    assert await _count_titled(database_url, body["title"]) == 1


async def test_the_same_key_with_another_body_is_a_422(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    headers = {**tokens.headers("rita", "requester"), "Idempotency-Key": uuid.uuid4().hex}
    first_body, second_body = _body(), _body()
    assert (await api.post("/v1/changes", json=first_body, headers=headers)).status_code == 201
    reused = await api.post("/v1/changes", json=second_body, headers=headers)
    assert reused.status_code == 422, reused.text
    assert reused.headers["content-type"].startswith(PROBLEM)
    assert reused.json()["code"] == "idempotency-key-reused"
    assert await _count_titled(database_url, second_body["title"]) == 0


async def test_keys_are_scoped_to_the_caller(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    key = uuid.uuid4().hex
    body = _body()
    for subject in ("rita", "ravi"):
        headers = {**tokens.headers(subject, "requester"), "Idempotency-Key": key}
        response = await api.post("/v1/changes", json=body, headers=headers)
        assert response.status_code == 201
        assert "idempotent-replayed" not in response.headers
        assert response.json()["requester"] == subject
    assert await _count_titled(database_url, body["title"]) == 2


async def test_a_failed_request_stores_nothing_and_may_be_retried(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    headers = {**tokens.headers("rita", "requester"), "Idempotency-Key": uuid.uuid4().hex}
    bad = await api.post(
        "/v1/changes", json={**_body(), "template_id": str(uuid.uuid4())}, headers=headers
    )
    assert bad.status_code == 422
    good = await api.post("/v1/changes", json=_body(), headers=headers)
    assert good.status_code == 201
    assert "idempotent-replayed" not in good.headers


async def test_twenty_concurrent_requests_with_one_key_create_one_change(
    app: FastAPI, tokens: Tokens, database_url: str
) -> None:
    headers = {**tokens.headers("rita", "requester"), "Idempotency-Key": uuid.uuid4().hex}
    body = _body()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://changeward") as client:
        responses = await asyncio.gather(
            *(client.post("/v1/changes", json=body, headers=headers) for _ in range(20))
        )
    statuses = sorted(response.status_code for response in responses)
    assert set(statuses) <= {201, 409}, statuses
    originals = [
        r for r in responses if r.status_code == 201 and "idempotent-replayed" not in r.headers
    ]
    assert len(originals) == 1
    for response in responses:
        if response.status_code == 409:
            assert response.json()["code"] == "idempotency-key-in-progress"
        elif response is not originals[0]:
            assert response.json() == originals[0].json()
    assert await _count_titled(database_url, body["title"]) == 1
    # Once the first has finished, a retry is a replay.
    retry = await transport_post(app, body, headers)
    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["id"] == originals[0].json()["id"]


async def transport_post(
    app: FastAPI, body: dict[str, object], headers: dict[str, str]
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://changeward") as client:
        return await client.post("/v1/changes", json=body, headers=headers)


async def test_review_and_execution_posts_honour_the_key(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    eddie = {**tokens.headers("eddie", "executor"), "Idempotency-Key": uuid.uuid4().hex}
    path = f"/v1/executions/{uuid.uuid4()}/start"
    first = await api.post(path, headers=eddie)
    assert first.status_code == 409  # not approved: an error is not stored
    assert (await api.post(path, headers=eddie)).status_code == 409
    openapi = (await api.get("/openapi.json")).json()
    for route in (
        "/v1/changes",
        "/v1/changes/{change_id}/submit",
        "/v1/changes/{change_id}/cancel",
        "/v1/templates",
        "/v1/deployments",
        "/v1/reviews/{change_id}/approvals",
        "/v1/executions/{change_id}/start",
        "/v1/executions/{change_id}/complete",
        "/v1/executions/{change_id}/acceptance",
    ):
        parameters = openapi["paths"][route]["post"].get("parameters", [])
        header = [p for p in parameters if p["name"] == "Idempotency-Key"]
        assert header, route
        assert header[0]["in"] == "header"
        assert header[0]["required"] is False


async def test_a_retried_submit_replays_instead_of_conflicting(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    rita = tokens.headers("rita", "requester")
    created = await api.post("/v1/changes", json=_body(), headers=rita)
    change_id = created.json()["id"]
    keyed = {**rita, "Idempotency-Key": uuid.uuid4().hex}
    first = await api.post(f"/v1/changes/{change_id}/submit", headers=keyed)
    assert first.status_code == 200, first.text

    # A pipeline that lost the first answer retries with its key: the same answer, once.
    retried = await api.post(f"/v1/changes/{change_id}/submit", headers=keyed)
    assert retried.status_code == 200, retried.text
    assert retried.headers["idempotent-replayed"] == "true"
    assert retried.json() == first.json()
    # Without the key, a second submit is the state machine's 409.
    assert (await api.post(f"/v1/changes/{change_id}/submit", headers=rita)).status_code == 409
    requested = await scalar(
        database_url,
        "SELECT count(*) FROM intake.outbox"
        " WHERE partition_key = $1 AND event_type LIKE '%change.requested'",
        change_id,
    )
    assert requested == 1


async def test_expired_keys_are_purged_and_then_free(
    api: httpx.AsyncClient, app: FastAPI, tokens: Tokens, database_url: str
) -> None:
    key = uuid.uuid4().hex
    headers = {**tokens.headers("rita", "requester"), "Idempotency-Key": key}
    assert (await api.post("/v1/changes", json=_body(), headers=headers)).status_code == 201
    await fetch(
        database_url,
        "UPDATE intake.idempotency_key SET created_at = now() - interval '25 hours' WHERE key = $1",
        key,
    )
    purged = await purge_expired(app.state.database, idempotency_keys, timedelta(hours=24))
    assert purged >= 1
    assert (
        await scalar(
            database_url, "SELECT count(*) FROM intake.idempotency_key WHERE key = $1", key
        )
        == 0
    )
    reused = await api.post("/v1/changes", json=_body(), headers=headers)
    assert reused.status_code == 201
    assert "idempotent-replayed" not in reused.headers


async def test_a_first_request_committing_during_the_claim_makes_the_second_a_409(
    database_url: str,
) -> None:
    """The claim's lookup may miss a first request that commits just before its lock is
    taken; storing then hits the key's primary key, and the second rolls back as a 409."""
    key, caller = uuid.uuid4().hex, "rita"
    database = Database(database_url, pool_size=2)
    request = Request({"type": "http", "method": "POST", "path": "/v1/changes", "headers": []})
    try:
        async with database.sessionmaker() as session:
            attempt = _Attempt(key=key, request=request, session=session, response=Response())
            async with session.begin():
                claimed = await _claim(
                    idempotency_keys, attempt, caller, "hash", timedelta(hours=24), None
                )
                assert claimed is None
                async with database.sessionmaker() as first, first.begin():
                    await first.execute(
                        idempotency_keys.insert(),
                        {
                            "caller": caller,
                            "key": key,
                            "request_hash": "hash",
                            "status_code": 201,
                            "response_body": b"{}",
                            "response_headers": {},
                        },
                    )
                with pytest.raises(IdempotencyKeyInProgress):
                    await _store(
                        idempotency_keys, attempt, caller, "hash", Response(b"{}", 201), None
                    )
    finally:
        await database.dispose()
    stored = await scalar(
        database_url, "SELECT count(*) FROM intake.idempotency_key WHERE key = $1", key
    )
    assert stored == 1
