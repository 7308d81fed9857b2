"""A slow webhook receiver does not slow the change path: intake's create + submit latency,
with and without a slow receiver subscribed to those changes, compared in one run."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.test_notify_webhooks import (
    Receiver,
    delivery_log,
    running_receiver,
    subscribe,
)
from tests.support.clients import CHANGE_BODY, Tokens, eventually

ROUNDS = 12
SLOW_SECONDS = 2.0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


async def _create_and_submit(client: httpx.AsyncClient, tokens: Tokens, service: str) -> float:
    rita = tokens.headers("rita", "requester")
    started = time.perf_counter()
    created = await client.post(
        "/v1/changes", json={**CHANGE_BODY, "services": [service]}, headers=rita
    )
    submitted = await client.post(f"/v1/changes/{created.json()['id']}/submit", headers=rita)
    elapsed = time.perf_counter() - started
    assert created.status_code == 201, created.text
    assert submitted.status_code == 200, submitted.text
    return elapsed


async def test_a_slow_receiver_does_not_slow_intake(
    api: httpx.AsyncClient, tokens: Tokens, receiver: Receiver
) -> None:
    receiver.delay = SLOW_SECONDS
    slow_service = f"slow-{uuid.uuid4().hex[:8]}"
    quiet_service = f"quiet-{uuid.uuid4().hex[:8]}"
    subscription = await subscribe(
        api,
        tokens,
        receiver.url,
        event_types=["change.requested", "change.assessed", "change.updated"],
        services=[slow_service],
    )
    # Warm up both paths, and have slow deliveries in flight before measuring.
    await _create_and_submit(api, tokens, quiet_service)
    await _create_and_submit(api, tokens, slow_service)
    await eventually(receiver.received, lambda got: len(got) >= 1, timeout=30)

    with_receiver: list[float] = []
    without: list[float] = []
    busy_while_measuring = 0
    for _ in range(ROUNDS):
        without.append(await _create_and_submit(api, tokens, quiet_service))
        with_receiver.append(await _create_and_submit(api, tokens, slow_service))
        busy_while_measuring = max(busy_while_measuring, receiver.in_flight)

    ratio = statistics.median(with_receiver) / statistics.median(without)
    assert ratio < 1.5, (ratio, with_receiver, without)
    # The receiver really was slow, and busy, while intake answered.
    assert busy_while_measuring >= 1
    delivered = await eventually(
        lambda: delivery_log(api, tokens, subscription["id"]),
        lambda items: sum(item["status"] == "delivered" for item in items) >= 3,
        timeout=120,
    )
    first = next(item for item in delivered if item["status"] == "delivered")
    detail = await api.get(
        f"/v1/deliveries/{first['id']}", headers=tokens.headers("audra", "auditor")
    )
    assert detail.json()["attempt_log"][-1]["duration_ms"] >= SLOW_SECONDS * 1000 * 0.9
