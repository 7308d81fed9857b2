"""The served event catalog, and every event the services really publish validated against it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shared.catalog import asyncapi_document
from shared.contracts import EventType
from shared.settings import SERVICES
from tests.asyncapi import asyncapi_errors, event_errors
from tests.support.clients import Tokens, fetch
from tests.support.thin_path import THIN_PATH_EVENTS, walk_thin_path

CATALOG = "/v1/events/asyncapi.json"


@pytest.fixture
async def served(api: httpx.AsyncClient, tokens: Tokens) -> dict[str, Any]:
    response = await api.get(CATALOG, headers=tokens.headers("sam", "auditor"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    document: dict[str, Any] = response.json()
    return document


async def test_the_catalog_is_served_for_this_deployments_settings(
    served: dict[str, Any], app: FastAPI
) -> None:
    assert asyncapi_errors(served) == []
    assert served == json.loads(json.dumps(asyncapi_document(app.state.settings)))
    assert served["channels"]["changes"]["address"] == app.state.settings.changes_topic


async def test_any_role_may_read_the_catalog(api: httpx.AsyncClient, tokens: Tokens) -> None:
    response = await api.get(CATALOG, headers=tokens.headers("rita", "requester"))
    assert response.status_code == 200
    assert response.json()["asyncapi"] == "3.0.0"


async def test_the_catalog_needs_a_token(api: httpx.AsyncClient) -> None:
    response = await api.get(CATALOG)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "unauthenticated"


async def test_the_catalog_route_is_documented(api: httpx.AsyncClient) -> None:
    operation = (await api.get("/openapi.json")).json()["paths"][CATALOG]["get"]
    assert operation["summary"]
    assert "401" in operation["responses"]


async def test_every_published_event_validates_against_the_catalog(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str, served: dict[str, Any]
) -> None:
    await walk_thin_path(api, lambda path: path, tokens)

    checked: dict[str, int] = {}
    failures: list[str] = []
    for schema in SERVICES:
        rows = await fetch(
            database_url, f'SELECT event_type, partition_key, payload FROM "{schema}".outbox'
        )
        for row in rows:
            event = json.loads(row["payload"])
            assert event["type"] == f"io.changeward.{row['event_type']}"
            if row["event_type"].startswith("change."):
                assert row["partition_key"] == event["subject"]
            errors = event_errors(served, event)
            failures += [f"{schema}.outbox {event['type']} {event['id']}: {e}" for e in errors]
            checked[row["event_type"]] = checked.get(row["event_type"], 0) + 1

    assert failures == []
    # Whatever else the outboxes hold, the thin path's events were among those checked.
    assert set(THIN_PATH_EVENTS) <= set(checked), checked
    assert set(checked) <= {event_type.value for event_type in EventType}
