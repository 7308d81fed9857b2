"""Authentication and authorization: 401 without a valid token, 403 without the right."""

from __future__ import annotations

from datetime import timedelta

import httpx
import jwt

from tests.support.clients import CHANGE_BODY, Tokens, eventually


async def _problem_code(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json")
    return str(response.json()["code"])


async def test_no_token_is_401(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/changes", json=CHANGE_BODY)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert await _problem_code(response) == "unauthenticated"


async def test_expired_token_is_401(api: httpx.AsyncClient, tokens: Tokens) -> None:
    headers = tokens.headers("rita", "requester", ttl=timedelta(seconds=-5))
    response = await api.post("/v1/changes", json=CHANGE_BODY, headers=headers)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


async def test_token_signed_with_another_secret_is_401(api: httpx.AsyncClient) -> None:
    forged = jwt.encode({"sub": "mallory", "roles": ["change_lead"], "exp": 4102444800}, "x" * 32)
    response = await api.get("/v1/audit/verify", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


async def test_unknown_role_in_token_is_401(api: httpx.AsyncClient, tokens: Tokens) -> None:
    response = await api.get("/v1/audit/verify", headers=tokens.headers("rita", "superuser"))
    assert response.status_code == 401


async def test_wrong_role_is_403(api: httpx.AsyncClient, tokens: Tokens) -> None:
    response = await api.post(
        "/v1/changes", json=CHANGE_BODY, headers=tokens.headers("al", "auditor")
    )
    assert response.status_code == 403
    assert await _problem_code(response) == "missing-role"


async def test_health_checks_need_no_token(api: httpx.AsyncClient) -> None:
    health = await api.get("/healthz", headers={"X-Request-ID": "trace-me-42"})
    assert health.json() == {"status": "ok"}
    assert health.headers["x-request-id"] == "trace-me-42"
    assert len((await api.get("/healthz")).headers["x-request-id"]) == 32
    ready = await api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}


async def test_requester_cannot_approve_own_change(api: httpx.AsyncClient, tokens: Tokens) -> None:
    # Someone who is both requester and change manager still may not approve their own change.
    both = tokens.headers("sam", "requester", "change_manager")
    change = (await api.post("/v1/changes", json=CHANGE_BODY, headers=both)).json()
    await api.post(f"/v1/changes/{change['id']}/submit", headers=both)
    await eventually(
        lambda: api.get(f"/v1/reviews/{change['id']}", headers=both),
        lambda response: response.status_code == 200,
    )
    response = await api.post(
        f"/v1/reviews/{change['id']}/approvals", json={"decision": "approve"}, headers=both
    )
    assert response.status_code == 403
    assert await _problem_code(response) == "self-approval-forbidden"
    review = (await api.get(f"/v1/reviews/{change['id']}", headers=both)).json()
    assert review["approvals"] == []
    assert review["status"] == "pending"


async def test_only_executors_start_changes(api: httpx.AsyncClient, tokens: Tokens) -> None:
    response = await api.post(
        "/v1/executions/00000000-0000-0000-0000-000000000000/start",
        headers=tokens.headers("rita", "requester"),
    )
    assert response.status_code == 403
