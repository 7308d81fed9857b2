"""No sequence of intake API calls reaches a state the lifecycle forbids (hypothesis, stateful).

Hypothesis drives the in-process app from a worker thread; each call runs on the test's
event loop, where the app's database pool lives.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.support.clients import CHANGE_BODY, Tokens

T = TypeVar("T")

# What the change may show in each phase; review assesses a submitted change on its own.
SHOWN = {
    "draft": {"draft"},
    "in_review": {"submitted", "assessed"},
    "cancelled": {"cancelled"},
}


def machine_for(
    client: httpx.AsyncClient, tokens: Tokens, loop: asyncio.AbstractEventLoop
) -> type[RuleBasedStateMachine]:
    rita = tokens.headers("rita", "requester")

    def run(coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=30)

    class IntakeApi(RuleBasedStateMachine):
        phase = "draft"
        version = 1
        change_id = ""

        @initialize()
        def create(self) -> None:
            response = run(client.post("/v1/changes", json=CHANGE_BODY, headers=rita))
            assert response.status_code == 201, response.text
            self.change_id = response.json()["id"]

        def _expect(self, response: httpx.Response, status: int) -> None:
            assert response.status_code == status, (self.phase, response.text)
            if status >= 400:
                assert response.headers["content-type"].startswith("application/problem+json")
            else:
                self.version += 1
                assert response.headers["etag"] == f'"{self.version}"'

        @rule(if_match=st.sampled_from(["current", "stale", "missing"]))
        def edit(self, if_match: str) -> None:
            headers = dict(rita)
            if if_match == "current":
                headers["If-Match"] = f'"{self.version}"'
            elif if_match == "stale":
                headers["If-Match"] = f'"{self.version - 1}"'
            body = {"title": f"edited {uuid.uuid4().hex[:6]}"}
            response = run(
                client.patch(f"/v1/changes/{self.change_id}", json=body, headers=headers)
            )
            if if_match == "missing":
                self._expect(response, 428)
            elif if_match == "stale":
                self._expect(response, 412)
            elif self.phase == "cancelled":
                self._expect(response, 409)
            else:
                self._expect(response, 200)

        @rule()
        def submit(self) -> None:
            response = run(client.post(f"/v1/changes/{self.change_id}/submit", headers=rita))
            if self.phase == "draft":
                self._expect(response, 200)
                self.phase = "in_review"
            else:
                self._expect(response, 409)

        @rule()
        def cancel(self) -> None:
            response = run(client.post(f"/v1/changes/{self.change_id}/cancel", headers=rita))
            if self.phase == "cancelled":
                self._expect(response, 409)
            else:
                self._expect(response, 200)
                self.phase = "cancelled"

        @invariant()
        def shows_an_allowed_status_and_version(self) -> None:
            if not self.change_id:
                return
            response = run(client.get(f"/v1/changes/{self.change_id}", headers=rita))
            change = response.json()
            assert change["status"] in SHOWN[self.phase], (self.phase, change["status"])
            assert change["version"] == self.version

    return IntakeApi


async def test_no_sequence_of_calls_reaches_a_forbidden_state(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    machine = machine_for(api, tokens, asyncio.get_running_loop())
    machine.TestCase.settings = settings(
        max_examples=25,
        stateful_step_count=8,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    await asyncio.to_thread(machine.TestCase().runTest)
