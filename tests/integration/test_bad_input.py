"""Bad input gets a clear problem+json and writes nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from shared.errors import install_error_handlers
from shared.wire import NOT_BLANK
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


# -- found by Schemathesis (tests/fuzz) ---------------------------------------------------------


async def test_a_method_not_allowed_names_every_method_of_the_resource(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    # GET and POST /v1/changes are two routes; Starlette named only the first one it met.
    response = await api.request("OPTIONS", "/v1/changes", headers=tokens.headers("r", "auditor"))
    _assert_problem(response, 405, "method-not-allowed")
    assert {"GET", "POST"} <= {m.strip() for m in response.headers["allow"].split(",")}


async def test_a_body_that_is_not_utf8_is_malformed_json(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await api.post(
        "/v1/changes",
        content=b'{"title": "\xff\xfe"}',
        headers={**tokens.headers("rita", "requester"), "content-type": "application/json"},
    )
    _assert_problem(response, 400, "malformed-json")


@pytest.mark.parametrize(
    "query",
    [
        "/v1/changes?window_to=0.5",
        "/v1/audit/entries?to=1700000000",
        "/v1/freeze-windows?active_at=0",
    ],
)
async def test_a_number_is_no_instant(api: httpx.AsyncClient, tokens: Tokens, query: str) -> None:
    response = await api.get(query, headers=tokens.headers("audrey", "auditor"))
    _assert_problem(response, 422, "validation-error")


async def test_json_types_are_not_coerced(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    before = await _changes(database_url)
    headers = tokens.headers("rita", "requester")
    for body in (
        {**CHANGE_BODY, "emergency": 1},
        {**CHANGE_BODY, "window": {"start": 0, "end": "2099-01-01T00:00:00Z"}},
        {**CHANGE_BODY, "test_evidence": [{"suite": "e2e", "passed": True, "failed": 0}]},
    ):
        _assert_problem(
            await api.post("/v1/changes", json=body, headers=headers), 422, "validation-error"
        )
    assert await _changes(database_url) == before
    subscription = {"name": "#x", "url": "https://example.com/hook", "reminder_lead_seconds": False}
    response = await api.post(
        "/v1/subscriptions", json=subscription, headers=tokens.headers("mona", "change_manager")
    )
    _assert_problem(response, 422, "validation-error")


async def test_null_leaves_a_new_change_field_to_its_default(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    # The schema lets every field of a new change be null, as in an edit (a merge patch).
    body = {**CHANGE_BODY, "emergency": None, "test_evidence": None, "contacts": None}
    response = await api.post("/v1/changes", json=body, headers=tokens.headers("rita", "requester"))
    assert response.status_code == 201, response.text
    assert response.json()["emergency"] is False


async def test_a_policy_version_beyond_the_database_integer_is_422(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await api.get(
        "/v1/policies/risk/versions/95224018934775425269760",
        headers=tokens.headers("audrey", "auditor"),
    )
    _assert_problem(response, 422, "validation-error")


async def test_a_policy_document_is_read_as_strict_json(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    headers = tokens.headers("lena", "change_lead")
    read = await api.get("/v1/policies/risk", headers=headers)
    current = read.json()["document"]
    response = await api.put(
        "/v1/policies/risk",
        json={**current, "failure_rate_lookback_days": True},
        headers={**headers, "If-Match": read.headers["etag"]},
    )
    _assert_problem(response, 422, "invalid-policy")


def _pydantic_bounds(node: object) -> Iterator[dict[str, object]]:
    """Schemas carrying pydantic's `ge`/`le`/... (numbers) instead of `minimum`/`maximum`."""
    if isinstance(node, dict):
        if any(isinstance(node.get(key), int | float) for key in ("ge", "gt", "le", "lt")):
            yield node
        for value in node.values():
            yield from _pydantic_bounds(value)
    elif isinstance(node, list):
        for value in node:
            yield from _pydantic_bounds(value)


async def test_the_openapi_document_says_what_the_api_does(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    text = json.dumps(document)
    assert "#/$defs/" not in text
    assert "HTTPValidationError" not in text
    schemas = document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            for status, response in responses.items():
                if status[0] in "45":
                    assert list(response["content"]) == [PROBLEM], (method, path, status)
            if "requestBody" in operation:
                assert "400" in responses, (method, path)
            for parameter in operation.get("parameters", []):
                assert {"type": "null"} not in parameter["schema"].get("anyOf", []), parameter
            if "428" in responses:
                if_match = next(p for p in operation["parameters"] if p["name"] == "If-Match")
                assert if_match["required"] is True, (method, path)
    assert (
        schemas["ChangeCreate"]["properties"]["title"]["anyOf"][0]["pattern"]
        == NOT_BLANK["pattern"]
    )
    assert "detail" not in schemas["Problem"]["required"]
    assert schemas["Problem"]["properties"]["detail"] == {"type": "string", "title": "Detail"}
    impact = schemas["ImpactLevelOverride"]["properties"]["impact_level"]
    assert "urgent" not in impact["enum"]
    policy_body = document["paths"]["/v1/policies/risk"]["put"]["requestBody"]
    assert "rules" in policy_body["content"]["application/json"]["schema"]["required"]
    incident = document["paths"]["/v1/incidents"]["post"]
    assert all(p["name"] != "X-Changeward-Source" for p in incident["parameters"])
    duration = schemas["ImplementationStep"]["properties"]["duration_minutes"]["anyOf"][0]
    assert (duration["minimum"], duration["maximum"]) == (0, 10_080)
    assert not list(_pydantic_bounds(document)), "bounds JSON Schema does not know"
    links = document["paths"]["/v1/changes"]["get"]["responses"]["200"]["links"]
    assert links["next_page"]["parameters"] == {"cursor": "$response.body#/next_cursor"}


async def test_a_value_postgresql_cannot_store_is_422_not_500(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    headers = tokens.headers("eve", "executor")
    report = {"service": "check\u0000out", "environment": "production", "status": "succeeded"}
    before = await scalar(database_url, "SELECT count(*) FROM intake.deployment_report")
    _assert_problem(
        await api.post("/v1/deployments", json=report, headers=headers), 422, "unstorable-value"
    )
    assert await scalar(database_url, "SELECT count(*) FROM intake.deployment_report") == before
    listed = await api.get("/v1/changes", params={"service": "\u0000"}, headers=headers)
    _assert_problem(listed, 422, "unstorable-value")


async def test_an_unexpected_error_is_a_problem_too() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/bug")
    async def bug() -> None:
        raise RuntimeError("a bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://changeward") as client:
        _assert_problem(await client.get("/bug"), 500, "internal-error")


async def test_change_hours_are_wall_clock_times(api: httpx.AsyncClient, tokens: Tokens) -> None:
    # An offset made the start/end comparison raise TypeError: a 500.
    document = {"services": [{"name": "checkout", "tier": 1, "change_hours": {"end": "23:00Z"}}]}
    headers = tokens.headers("lena", "change_lead")
    read = await api.get("/v1/policies/services", headers=headers)
    response = await api.put(
        "/v1/policies/services",
        json=document,
        headers={**headers, "If-Match": read.headers["etag"]},
    )
    _assert_problem(response, 422, "invalid-policy")


async def test_an_instant_must_fall_in_1970_to_2999(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    # 0001-01-01T00:00:00Z is PostgreSQL's -infinity to asyncpg, and came back without its
    # timezone; the OpenAPI document says the range.
    headers = tokens.headers("eve", "executor")
    before = await scalar(database_url, "SELECT count(*) FROM intake.deployment_report")
    for started_at in ("0001-01-01T00:00:00Z", "3000-01-01T00:00:00Z"):
        report = {"service": "checkout", "environment": "production", "status": "succeeded"}
        response = await api.post(
            "/v1/deployments", json={**report, "started_at": started_at}, headers=headers
        )
        _assert_problem(response, 422, "validation-error")
    assert await scalar(database_url, "SELECT count(*) FROM intake.deployment_report") == before
    document = (await api.get("/openapi.json")).json()
    body = document["paths"]["/v1/deployments"]["post"]["requestBody"]["content"]
    started_at = body["application/json"]["schema"]["properties"]["started_at"]
    assert started_at["anyOf"][0]["pattern"] == "^(19[7-9][0-9]|2[0-9]{3})-"


async def test_a_stage_number_beyond_the_database_integer_is_refused(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    check = {"change_id": str(uuid.uuid4()), "service": "checkout", "environment": "production"}
    response = await api.post(
        "/v1/gate/checks", json={**check, "stage": 2**40}, headers=tokens.headers("eve", "executor")
    )
    _assert_problem(response, 422, "validation-error")
