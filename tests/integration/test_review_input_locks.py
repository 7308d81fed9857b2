"""A policy or freeze write re-assesses pending reviews while holding the inputs lock:
it waits for assessments in flight, those arriving meanwhile wait for it (and then see
what it stored), nobody deadlocks, and a wait too long is a retryable 503."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.review import policies, service
from services.review.policies import PolicyName
from shared.auth import Principal, Role
from shared.concurrency import etag
from shared.db import Database
from tests.integration.test_review_conflict_locks import (
    SHORT_LOCK_TIMEOUT_MS,
    assess,
    database,
    holding,
    review_lock_timeout,
    snapshot,
    waits_for_an_advisory_lock,
)
from tests.integration.test_review_freeze import freeze_body
from tests.integration.test_review_support import (
    change_body,
    review,
    submit,
    unique_service,
    window,
)
from tests.support.clients import Tokens, eventually, fetch

__all__ = ["database"]

LEAD = Principal(subject="lena", roles=frozenset({Role.CHANGE_LEAD}))
# Long enough that no wait in this test runs out on a busy machine.
PATIENT_LOCK_TIMEOUT_MS = 60_000
TWO_MANAGERS = [{"role": "change_manager", "count": 2}]


async def require_two_managers_for_important(session: AsyncSession) -> None:
    current = await policies.current(session, PolicyName.APPROVALS)
    document: dict[str, Any] = {
        **current.document,
        "important": {**current.document["important"], "required": TWO_MANAGERS},
    }
    await policies.replace(
        session, PolicyName.APPROVALS, document, LEAD, if_match=etag(current.version)
    )


async def required_approvals(database: Database, change_id: uuid.UUID) -> Any:
    [row] = await fetch(
        database.url,
        "SELECT required_approvals FROM review.assessment WHERE change_id = $1",
        change_id,
    )
    return json.loads(row["required_approvals"])


async def backend_pid(session: AsyncSession) -> int:
    pid = await session.scalar(select(func.pg_backend_pid()))
    assert pid is not None
    return int(pid)


async def test_a_policy_write_waits_for_assessments_in_flight_and_holds_back_new_ones(
    database: Database,
) -> None:
    held = snapshot([unique_service()], window(days=4))
    await assess(database, held)
    arriving = snapshot([unique_service()], window(days=4))

    with review_lock_timeout(PATIENT_LOCK_TIMEOUT_MS):
        async with database.sessionmaker() as writer, database.sessionmaker() as submitter:
            writer_pid, submitter_pid = await backend_pid(writer), await backend_pid(submitter)
            async with holding(database, held.change_id):
                writing = asyncio.create_task(require_two_managers_for_important(writer))
                await eventually(lambda: waits_for_an_advisory_lock(database, writer_pid), bool)
                assessing = asyncio.create_task(service.assess_change(submitter, arriving))
                await eventually(lambda: waits_for_an_advisory_lock(database, submitter_pid), bool)
                assert not writing.done()
            # The holder is gone: the writer goes first, the arrival after it commits.
            await writing
            assert not assessing.done()
            await writer.commit()
            await assessing
            await submitter.commit()

    assert await required_approvals(database, held.change_id) == TWO_MANAGERS
    assert await required_approvals(database, arriving.change_id) == TWO_MANAGERS


async def test_a_freeze_write_that_waits_too_long_is_a_retryable_503(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    service_name = unique_service()
    change_id = await submit(api, tokens, change_body(services=[service_name]))
    await review(api, tokens, change_id)
    lead = tokens.headers("lena", "change_lead")
    holder = Database(database_url, pool_size=1)
    try:
        with review_lock_timeout(SHORT_LOCK_TIMEOUT_MS):
            async with holding(holder, uuid.UUID(change_id)):
                busy = await api.post(
                    "/v1/freeze-windows", json=freeze_body(service_name), headers=lead
                )
            retried = await api.post(
                "/v1/freeze-windows", json=freeze_body(service_name), headers=lead
            )
    finally:
        await holder.dispose()

    assert busy.status_code == 503, busy.text
    assert busy.json()["code"] == "database-busy"
    assert busy.headers["retry-after"] == "1"
    assert retried.status_code == 201, retried.text
    frozen = await review(api, tokens, change_id)
    assert "during-freeze" in {rule["rule"] for rule in frozen["risk"]["rules_fired"]}
    listed = await api.get("/v1/freeze-windows", params={"service": service_name}, headers=lead)
    naming = [item["id"] for item in listed.json()["items"] if service_name in item["services"]]
    assert naming == [retried.json()["id"]]
