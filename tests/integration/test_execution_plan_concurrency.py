"""Replacing a rollout plan needs `If-Match`: two editors never overwrite each other unseen."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from services.intake.models import tables as intake_tables
from shared.change_evidence import CheckKind, VerificationCheck
from shared.contracts import ChangeSnapshot, EventType
from shared.db import Database
from shared.outbox import record_event
from tests.integration.test_execution_support import (
    approved_change,
    quick_plan,
    unique_service,
)
from tests.support.clients import Tokens, eventually, fetch


def _path(change_id: str) -> str:
    return f"/v1/executions/{change_id}/plan"


def _shares(execution: dict[str, Any]) -> list[float]:
    return [stage["target_percent"] for stage in execution["stages"]]


async def _read(api: httpx.AsyncClient, change_id: str, headers: dict[str, str]) -> httpx.Response:
    read = await api.get(f"/v1/executions/{change_id}", headers=headers)
    assert read.status_code == 200, read.text
    return read


async def test_the_plan_is_replaced_only_with_the_etag_of_the_execution_as_read(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    eddie = tokens.headers("eddie", "executor")
    change_id = await approved_change(api, tokens, database_url, service=unique_service())
    read = await _read(api, change_id, eddie)
    version = read.json()["version"]
    assert read.headers["etag"] == f'"{version}"'

    missing = await api.put(_path(change_id), json=quick_plan(100), headers=eddie)
    assert missing.status_code == 428, missing.text
    assert missing.headers["content-type"] == "application/problem+json"
    assert (missing.json()["code"], missing.json()["current_version"]) == (
        "if-match-required",
        version,
    )

    stale = await api.put(
        _path(change_id),
        json=quick_plan(100),
        headers={**eddie, "If-Match": f'"{version - 1}"'},
    )
    assert stale.status_code == 412, stale.text
    assert (stale.json()["code"], stale.json()["current_version"]) == ("version-mismatch", version)
    unchanged = await _read(api, change_id, eddie)
    assert (unchanged.headers["etag"], _shares(unchanged.json())) == (
        read.headers["etag"],
        [1, 10, 50, 100],
    )

    replaced = await api.put(
        _path(change_id),
        json=quick_plan(20, 100),
        headers={**eddie, "If-Match": read.headers["etag"]},
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["version"] == version + 1
    assert replaced.headers["etag"] == f'"{version + 1}"'
    assert (await _read(api, change_id, eddie)).headers["etag"] == replaced.headers["etag"]

    # The ETag the first edit answered with is the one a second edit sends.
    again = await api.put(
        _path(change_id),
        json=quick_plan(40, 100),
        headers={**eddie, "If-Match": replaced.headers["etag"]},
    )
    assert again.status_code == 200, again.text
    assert _shares(again.json()) == [40, 100]


async def test_of_two_editors_of_the_same_version_one_wins_and_one_is_refused(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    eddie = tokens.headers("eddie", "executor")
    mona = tokens.headers("mona", "change_manager")
    change_id = await approved_change(api, tokens, database_url, service=unique_service())
    etag = (await _read(api, change_id, eddie)).headers["etag"]
    plans = {"eddie": quick_plan(5, 100), "mona": quick_plan(50, 100)}

    answers = await asyncio.gather(
        api.put(_path(change_id), json=plans["eddie"], headers={**eddie, "If-Match": etag}),
        api.put(_path(change_id), json=plans["mona"], headers={**mona, "If-Match": etag}),
    )

    assert sorted(answer.status_code for answer in answers) == [200, 412], [
        answer.text for answer in answers
    ]
    [winner] = [answer for answer in answers if answer.status_code == 200]
    [loser] = [answer for answer in answers if answer.status_code == 412]
    assert loser.json()["code"] == "version-mismatch"
    assert loser.json()["current_version"] == winner.json()["version"]
    final = await _read(api, change_id, eddie)
    assert final.headers["etag"] == winner.headers["etag"]
    assert _shares(final.json()) == _shares(winner.json())


async def test_a_plan_locked_by_the_start_is_a_409_whatever_the_if_match(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    eddie = tokens.headers("eddie", "executor")
    change_id = await approved_change(api, tokens, database_url, service=unique_service())
    etag = (await _read(api, change_id, eddie)).headers["etag"]
    started = await api.post(f"/v1/executions/{change_id}/start", headers=eddie)
    assert started.status_code == 200, started.text

    for headers in (eddie, {**eddie, "If-Match": etag}):
        locked = await api.put(_path(change_id), json=quick_plan(100), headers=headers)
        assert locked.status_code == 409, locked.text
        assert locked.json()["code"] == "plan-locked"


async def test_a_default_plan_laid_out_again_from_a_newer_change_is_a_new_version(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    eddie = tokens.headers("eddie", "executor")
    change_id = await approved_change(api, tokens, database_url, service=unique_service())
    read = await _read(api, change_id, eddie)
    snapshot = await _latest_snapshot(database_url, change_id)
    checks = [VerificationCheck(name="p99", kind=CheckKind.METRIC, expected="< 300 ms")]
    newer = snapshot.model_copy(
        update={
            "version": snapshot.version + 1,
            "plans": snapshot.plans.model_copy(update={"verification_checks": checks}),
        }
    )
    await _publish_as_intake(database_url, newer)

    relaid = await eventually(
        lambda: _read(api, change_id, eddie),
        lambda response: response.json()["stages"][0]["checks"][0]["name"] == "p99",
    )
    assert relaid.json()["plan_source"] == "default"
    assert relaid.headers["etag"] != read.headers["etag"]
    # An edit of the plan as it was before is refused, not laid over the new one.
    stale = await api.put(
        _path(change_id), json=quick_plan(100), headers={**eddie, "If-Match": read.headers["etag"]}
    )
    assert stale.status_code == 412, stale.text


async def test_the_openapi_document_says_the_plan_needs_if_match(api: httpx.AsyncClient) -> None:
    operation = (await api.get("/openapi.json")).json()["paths"]["/v1/executions/{change_id}/plan"]
    put = operation["put"]
    assert {"409", "412", "428"} <= set(put["responses"])
    [if_match] = [p for p in put["parameters"] if p["name"] == "If-Match"]
    assert (if_match["in"], if_match["required"]) == ("header", True)


async def _latest_snapshot(database_url: str, change_id: str) -> ChangeSnapshot:
    rows = await fetch(
        database_url,
        "SELECT payload FROM intake.outbox WHERE partition_key = $1 "
        "AND event_type IN ('change.requested', 'change.updated') ORDER BY id DESC LIMIT 1",
        change_id,
    )
    return ChangeSnapshot.model_validate(json.loads(rows[0]["payload"])["data"])


async def _publish_as_intake(database_url: str, snapshot: ChangeSnapshot) -> None:
    database = Database(database_url, pool_size=1)
    try:
        async with database.sessionmaker() as session, session.begin():
            await record_event(
                session,
                intake_tables,
                EventType.CHANGE_UPDATED,
                subject=str(snapshot.change_id),
                data=snapshot,
                actor="rita",
            )
    finally:
        await database.dispose()
