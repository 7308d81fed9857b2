"""Bad input gets a clear problem+json and writes nothing."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.clients import CHANGE_BODY, Tokens, scalar

PROBLEM = "application/problem+json"


async def _changes(database_url: str) -> int:
    return int(await scalar(database_url, "SELECT count(*) FROM intake.change_request"))


def _assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith(code)
    assert body["title"]
    return dict(body)


async def test_malformed_json_is_400_and_writes_nothing(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    before = await _changes(database_url)
    response = await api.post(
        "/v1/changes",
        content=b'{"title": "broken",',
        headers={**tokens.headers("rita", "requester"), "content-type": "application/json"},
    )
    _assert_problem(response, 400, "malformed-json")
    assert await _changes(database_url) == before


async def test_unknown_category_is_422_naming_the_field(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    before = await _changes(database_url)
    response = await api.post(
        "/v1/changes",
        json={**CHANGE_BODY, "category": "firmware"},
        headers=tokens.headers("rita", "requester"),
    )
    body = _assert_problem(response, 422, "validation-error")
    assert any(error["loc"] == ["body", "category"] for error in body["errors"])  # type: ignore[attr-defined]
    assert await _changes(database_url) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("services", []),
        ("title", "   "),
        ("window", {"start": "2026-12-01T03:00:00Z", "end": "2026-12-01T02:00:00Z"}),
        ("window", {"start": "2026-12-01T02:00:00", "end": "2026-12-01T03:00:00"}),
    ],
)
async def test_invalid_fields_are_422(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str, field: str, value: object
) -> None:
    before = await _changes(database_url)
    response = await api.post(
        "/v1/changes",
        json={**CHANGE_BODY, field: value},
        headers=tokens.headers("rita", "requester"),
    )
    _assert_problem(response, 422, "validation-error")
    assert await _changes(database_url) == before


async def test_submit_without_plans_is_422_and_stays_draft(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    headers = tokens.headers("rita", "requester")
    body = {**CHANGE_BODY, "plans": {"implementation": "Scale up", "rollback": " "}}
    created = (await api.post("/v1/changes", json=body, headers=headers)).json()
    response = await api.post(f"/v1/changes/{created['id']}/submit", headers=headers)
    problem = _assert_problem(response, 422, "plans-missing")
    assert "rollback" in str(problem["detail"])
    assert "verification" in str(problem["detail"])
    after = (await api.get(f"/v1/changes/{created['id']}", headers=headers)).json()
    assert after["status"] == "draft"
    assert after["version"] == 1
    assert (
        await scalar(
            database_url,
            "SELECT count(*) FROM intake.outbox WHERE payload::jsonb->>'subject' = $1",
            created["id"],
        )
        == 0
    )


async def test_unknown_change_is_404(api: httpx.AsyncClient, tokens: Tokens) -> None:
    headers = tokens.headers("rita", "requester")
    missing = uuid.uuid4()
    _assert_problem(
        await api.get(f"/v1/changes/{missing}", headers=headers), 404, "change-not-found"
    )
    _assert_problem(
        await api.post(f"/v1/changes/{missing}/submit", headers=headers), 404, "change-not-found"
    )
    _assert_problem(
        await api.get(f"/v1/reviews/{missing}", headers=headers), 404, "review-not-found"
    )


async def test_submitting_twice_is_a_409(api: httpx.AsyncClient, tokens: Tokens) -> None:
    headers = tokens.headers("rita", "requester")
    created = (await api.post("/v1/changes", json=CHANGE_BODY, headers=headers)).json()
    assert (
        await api.post(f"/v1/changes/{created['id']}/submit", headers=headers)
    ).status_code == 200
    response = await api.post(f"/v1/changes/{created['id']}/submit", headers=headers)
    _assert_problem(response, 409, "invalid-transition")


async def test_starting_an_unapproved_change_is_a_409(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await api.post(
        f"/v1/executions/{uuid.uuid4()}/start", headers=tokens.headers("eve", "executor")
    )
    _assert_problem(response, 409, "change-not-approved")


async def test_unknown_route_is_a_problem(api: httpx.AsyncClient) -> None:
    _assert_problem(await api.get("/v1/nothing-here"), 404, "not-found")
