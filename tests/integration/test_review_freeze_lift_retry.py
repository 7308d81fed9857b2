"""Lifting a freeze window honours Idempotency-Key: a retry after a lost answer gets the
first answer instead of "lifted already", and the window is lifted once."""

from __future__ import annotations

import uuid

import httpx

from tests.integration.test_review_freeze import declare, freeze_body
from tests.integration.test_review_support import outbox, unique_service
from tests.support.clients import Tokens


async def test_a_lift_retried_with_its_key_replays_the_first_answer(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    freeze = await declare(api, tokens, freeze_body(unique_service()))
    path = f"/v1/freeze-windows/{freeze['id']}"
    lead = tokens.headers("lena", "change_lead")
    keyed = {**lead, "Idempotency-Key": uuid.uuid4().hex}

    first = await api.delete(path, headers=keyed)
    retried = await api.delete(path, headers=keyed)
    another_run = await api.delete(path, headers={**lead, "Idempotency-Key": uuid.uuid4().hex})
    elsewhere = await api.delete(f"/v1/freeze-windows/{uuid.uuid4()}", headers=keyed)

    assert first.status_code == 200, first.text
    assert "idempotent-replayed" not in first.headers
    assert retried.status_code == 200, retried.text
    assert retried.headers["idempotent-replayed"] == "true"
    assert retried.json() == first.json()
    assert first.json()["lifted_by"] == "lena"
    assert another_run.status_code == 409
    assert another_run.json()["current_status"] == "lifted"
    assert elsewhere.status_code == 422
    assert elsewhere.json()["code"] == "idempotency-key-reused"
    assert len(await outbox(database_url, freeze["id"], "freeze_window.lifted")) == 1
