"""The thin path over real sockets, in the all-in-one and the distributed mode."""

from __future__ import annotations

import httpx
import pytest

from tests.support.clients import Tokens
from tests.support.processes import Stack
from tests.support.thin_path import walk_thin_path

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


async def test_thin_path(stack: Stack, tokens: Tokens) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        await walk_thin_path(client, stack.url, tokens)


async def test_every_service_reports_ready_and_metrics(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        for base in set(stack.base_urls.values()):
            ready = (await client.get(f"{base}/readyz")).json()
            assert ready["checks"] == {"database": "ok", "broker": "ok"}
            metrics = await client.get(f"{base}/metrics")
            assert "changeward_http_requests_total" in metrics.text
