"""The load: changes walked through their lifecycle at a steady rate by a client that keeps
its own ledger of every request, every attempt and every answer.

A failure that leaves the outcome unknown (timeout, lost connection, 5xx, "still in
progress") is retried with the same Idempotency-Key, so a request the server did apply is
answered from its stored response instead of acting twice. A request counts as
acknowledged once a 2xx came back; the checks then hold the system to every one of them.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from shared.auth import mint_token

# The answers that mean "not yet": the event that allows the step has not arrived.
NOT_YET = {
    "approve": {(404, "review-not-found")},
    "start": {(409, "change-not-approved")},
}
# A CI pipeline's patience: a request that takes longer is abandoned and retried.
REQUEST_TIMEOUT = httpx.Timeout(30.0, connect=3.0)
# How long one request is retried before the client gives up on its change.
REQUEST_DEADLINE_S = 300.0
# Waits between attempts grow by half each time up to these: after an unknown outcome,
# and after a "not yet".
MAX_RETRY_WAIT_S = 2.0
MAX_EARLY_WAIT_S = 5.0
# Requests on the wire at once. More wait their turn here, not in httpx's connection pool,
# whose queue costs CPU quadratic in its length (thousands, while the database is down).
MAX_IN_FLIGHT = 64


@dataclass
class Attempt:
    at_s: float
    status: int | None = None
    code: str | None = None
    error: str | None = None
    replayed: bool = False
    # Answered "not yet" (the event that allows the step has not arrived), so tried again.
    early: bool = False


@dataclass
class RequestRecord:
    change: int
    step: str
    method: str
    path: str
    idempotency_key: str
    attempts: list[Attempt] = field(default_factory=list)
    # pending, acknowledged, refused (a definitive 4xx) or gave_up (deadline passed).
    outcome: str = "pending"
    status: int | None = None
    response: dict[str, Any] | None = None

    @property
    def acknowledged(self) -> bool:
        return self.outcome == "acknowledged"


@dataclass
class ChangeRecord:
    index: int
    change_id: str | None = None
    requests: dict[str, RequestRecord] = field(default_factory=dict)

    def acknowledged(self, step: str) -> bool:
        request = self.requests.get(step)
        return request is not None and request.acknowledged

    @property
    def closed(self) -> bool:
        return self.acknowledged("accept")


@dataclass
class ClientLedger:
    changes: list[ChangeRecord] = field(default_factory=list)

    def requests(self) -> list[RequestRecord]:
        return [request for change in self.changes for request in change.requests.values()]

    def summary(self) -> dict[str, int]:
        requests = self.requests()
        attempts = [attempt for request in requests for attempt in request.attempts]
        early = sum(attempt.early for attempt in attempts)
        return {
            "changes": len(self.changes),
            "changes_closed": sum(change.closed for change in self.changes),
            "http_requests": len(requests),
            "attempts": len(attempts),
            "retries": len(attempts) - len(requests) - early,
            "early": early,
            "acknowledged": sum(request.acknowledged for request in requests),
            "replayed": sum(
                any(attempt.replayed for attempt in request.attempts) for request in requests
            ),
            "refused": sum(request.outcome == "refused" for request in requests),
            "gave_up": sum(request.outcome == "gave_up" for request in requests),
        }

    def write(self, path: Path) -> None:
        """One JSON line per request, attempts included."""
        with path.open("w") as out:
            for request in self.requests():
                out.write(json.dumps(asdict(request)) + "\n")


class Tokens:
    """The four people of the lifecycle; the requester never approves her own change."""

    def __init__(self, secret: str) -> None:
        def bearer(subject: str, role: str) -> dict[str, str]:
            token = mint_token(secret, subject=subject, roles=[role], ttl=timedelta(hours=6))
            return {"Authorization": f"Bearer {token}"}

        self.requester = bearer("rita", "requester")
        self.manager = bearer("mona", "change_manager")
        self.executor = bearer("eddie", "executor")
        self.auditor = bearer("audra", "auditor")


def change_body(run: str, index: int) -> dict[str, Any]:
    """A change of its own service, so that no two changes of the run conflict in review."""
    start = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    return {
        "title": f"{title_prefix(run)}{index}: scale checkout-{index} for the sale",
        "category": "hardware",
        "services": [f"checkout-{index}"],
        "environment": "production",
        "window": {"start": _iso(start), "end": _iso(start + timedelta(hours=1))},
        "plans": {
            "implementation": f"Scale checkout-{index} from 6 to 12 pods",
            "rollback": "Scale back to 6 pods",
            "verification": "p99 under 300 ms and no 5xx for 15 minutes",
        },
    }


def title_prefix(run: str) -> str:
    return f"chaos {run} #"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Driver:
    """Walks changes through request -> submit -> approve -> start -> complete -> accept."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        urls: Mapping[str, str],
        tokens: Tokens,
        *,
        run: str,
        started: float,
    ) -> None:
        self._client = client
        self._urls = urls
        self._tokens = tokens
        self._run = run
        self._started = started
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.ledger = ClientLedger()

    async def drive(self, count: int, rate: float) -> ClientLedger:
        """Start `count` changes, one every 1/`rate` s whatever the answers; wait for all."""
        begin = time.monotonic()
        async with asyncio.TaskGroup() as walks:
            for index in range(count):
                delay = begin + index / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                change = ChangeRecord(index)
                self.ledger.changes.append(change)
                walks.create_task(self._walk(change), name=f"change-{index}")
        return self.ledger

    async def _walk(self, change: ChangeRecord) -> None:
        tokens = self._tokens
        created = await self._send(
            change, "create", "intake", "/v1/changes", tokens.requester,
            body=change_body(self._run, change.index), expect=201,
        )  # fmt: skip
        if created is None:
            return
        change.change_id = str(created["id"])
        path = f"/v1/changes/{change.change_id}"
        steps: list[tuple[str, str, str, dict[str, str], dict[str, Any] | None, int]] = [
            ("submit", "intake", f"{path}/submit", tokens.requester, None, 200),
            ("approve", "review", f"/v1/reviews/{change.change_id}/approvals",
             tokens.manager, {"decision": "approve", "comment": "chaos"}, 201),
            ("start", "execution", f"/v1/executions/{change.change_id}/start",
             tokens.executor, None, 200),
            ("complete", "execution", f"/v1/executions/{change.change_id}/complete",
             tokens.executor, None, 200),
            ("accept", "execution", f"/v1/executions/{change.change_id}/acceptance",
             tokens.executor, {"outcome": "successful", "notes": "chaos"}, 200),
        ]  # fmt: skip
        for step, service, step_path, auth, body, expect in steps:
            answer = await self._send(
                change, step, service, step_path, auth, body=body, expect=expect
            )
            if answer is None:
                return

    async def _send(
        self,
        change: ChangeRecord,
        step: str,
        service: str,
        path: str,
        auth: dict[str, str],
        *,
        body: dict[str, Any] | None,
        expect: int,
    ) -> dict[str, Any] | None:
        record = RequestRecord(change.index, step, "POST", path, str(uuid.uuid4()))
        change.requests[step] = record
        headers = {**auth, "Idempotency-Key": record.idempotency_key}
        deadline = time.monotonic() + REQUEST_DEADLINE_S
        retry_wait, early_wait = 0.1, 0.25
        unknown_outcome = False
        while True:
            attempt = Attempt(at_s=round(time.monotonic() - self._started, 3))
            record.attempts.append(attempt)
            try:
                async with self._slots:
                    response = await self._client.post(
                        self._urls[service] + path,
                        json=body,
                        headers=headers,
                        timeout=REQUEST_TIMEOUT,
                    )
            except httpx.TransportError as error:
                attempt.error = type(error).__name__
                unknown_outcome = True
            else:
                attempt.status = response.status_code
                attempt.replayed = response.headers.get("idempotent-replayed") == "true"
                answer = _json(response)
                attempt.code = answer.get("code") if response.status_code >= 400 else None
                if response.status_code == expect:
                    return _acknowledge(record, response.status_code, answer)
                ambiguous = response.status_code >= 500 or attempt.code == (
                    "idempotency-key-in-progress"
                )
                unknown_outcome = unknown_outcome or ambiguous
                attempt.early = (response.status_code, attempt.code) in NOT_YET.get(step, set())
                if not ambiguous and not attempt.early:
                    record.outcome, record.status, record.response = (
                        "refused",
                        response.status_code,
                        answer,
                    )
                    return None
            if time.monotonic() > deadline:
                record.outcome = "gave_up"
                return None
            if attempt.early:
                await asyncio.sleep(early_wait)
                early_wait = min(early_wait * 1.5, MAX_EARLY_WAIT_S)
            else:
                await asyncio.sleep(retry_wait)
                retry_wait = min(retry_wait * 1.5, MAX_RETRY_WAIT_S)


def _acknowledge(record: RequestRecord, status: int, answer: dict[str, Any]) -> dict[str, Any]:
    record.outcome, record.status = "acknowledged", status
    record.response = {key: answer[key] for key in ("id", "change_id", "status") if key in answer}
    return answer


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
