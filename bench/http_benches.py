"""(a) the ceiling, (b) intake, (c) the gate, (d) submit to Kafka and to the ledger."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer

from bench import vegeta
from bench.load import Stats, summarize
from bench.vegeta import Target
from shared.auth import mint_token
from shared.db import asyncpg_dsn


@dataclass(frozen=True)
class Profile:
    """How hard and how long each measurement runs (full run, or the smoke run of tests)."""

    throughput_seconds: float
    concurrency: int
    latency_rate: float
    latency_requests: int
    e2e_rate: float
    e2e_requests: int
    # Lower rates measured first (each for `e2e_probe_seconds`): the highest whose p99 holds
    # the target is the rate this machine sustains.
    e2e_probe_rates: tuple[float, ...]
    e2e_probe_seconds: float
    backlog_events: int
    audit_events: int


FULL = Profile(
    throughput_seconds=15,
    concurrency=32,
    latency_rate=100,
    latency_requests=1500,
    e2e_rate=200,
    e2e_requests=2000,
    e2e_probe_rates=(10, 25, 50, 100),
    e2e_probe_seconds=10,
    backlog_events=100_000,
    audit_events=20_000,
)
SMOKE = Profile(
    throughput_seconds=1,
    concurrency=4,
    latency_rate=50,
    latency_requests=20,
    e2e_rate=50,
    e2e_requests=20,
    e2e_probe_rates=(20,),
    e2e_probe_seconds=1,
    backlog_events=300,
    audit_events=200,
)

DRAFT_CONCURRENCY = 16


class Auth:
    def __init__(self, secret: str) -> None:
        self.secret = secret

    def headers(self, subject: str, *roles: str) -> dict[str, str]:
        token = mint_token(self.secret, subject=subject, roles=list(roles), ttl=timedelta(hours=2))
        return {"Authorization": f"Bearer {token}"}


def change_body(service: str, *, window_open_now: bool = False) -> dict[str, Any]:
    # Review refuses an ended window; the gate allows only inside the window.
    start = datetime.now(UTC) + (timedelta(minutes=-5) if window_open_now else timedelta(days=2))
    return {
        "title": f"Roll out {service} 2.14",
        "category": "application",
        "services": [service],
        "environment": "production",
        "window": {"start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat()},
        # What review's readiness check asks of a change before it may be approved.
        "details": {
            "kind": "bug_fix",
            "repository": f"github.com/acme/{service}",
            "version_from": "2.13.0",
            "version_to": "2.14.0",
            "rollout_strategy": "canary",
        },
        "plans": {
            "implementation": "Deploy 2.14 with the canary pipeline",
            "rollback": "1. Redeploy 2.13",
            "verification": "Error rate at each stage of the canary",
            "verification_checks": [{"name": "5xx rate", "kind": "metric", "expected": "< 0.1%"}],
        },
        "test_evidence": [{"suite": "e2e", "passed": 120, "failed": 0}],
        "contacts": [{"name": "On-call", "role": "on-call", "chat": f"#{service}"}],
    }


def client(base_url: str) -> httpx.AsyncClient:
    """For the few setup calls; the measured load is vegeta's."""
    return httpx.AsyncClient(base_url=base_url, timeout=30.0)


# More than any server here can answer in a second: a closed loop never runs out of targets.
MOST_PER_SECOND = 3000


def creating_posts(
    url: str, body: dict[str, Any], headers: dict[str, str], count: int
) -> Iterator[Target]:
    """`count` POSTs of `body`, each with a fresh Idempotency-Key."""
    payload = json.dumps(body).encode()
    base = {**headers, "Content-Type": "application/json"}
    for _ in range(count):
        yield Target("POST", url, {**base, "Idempotency-Key": str(uuid.uuid4())}, payload)


def throughput_and_latency(
    base_url: str, path: str, body: dict[str, Any], headers: dict[str, str], profile: Profile
) -> tuple[Stats, Stats]:
    """Creating POSTs: the most the server sustains (`concurrency` requests in flight), then
    latency at a fixed rate (open loop)."""
    url = base_url + path

    def posts(seconds: float) -> Iterator[Target]:
        return creating_posts(url, body, headers, int(MOST_PER_SECOND * seconds))

    warm_up = min(2.0, profile.throughput_seconds)
    vegeta.attack(posts(warm_up), rate=None, workers=4, duration_s=warm_up)
    most = vegeta.attack(
        posts(profile.throughput_seconds),
        rate=None,
        workers=profile.concurrency,
        duration_s=profile.throughput_seconds,
    )
    steady = vegeta.attack(
        creating_posts(url, body, headers, profile.latency_requests), rate=profile.latency_rate
    )
    return vegeta.stats(most, ok=201), vegeta.stats(steady, ok=201)


async def gate_latency(base_url: str, auth: Auth, profile: Profile) -> Stats:
    """An approved change inside its window, then `GET /v1/gate` for it at a fixed rate."""
    service = f"bench-{uuid.uuid4().hex[:8]}"
    async with client(base_url) as http:
        change_id = await _approved_change(http, auth, service)
        params = {
            "change_id": change_id,
            "service": service,
            "environment": "production",
            "stage": "1",
        }
        ci = auth.headers("ci", "executor")
        # Execution learns of the approval from review's event, a moment after the 200.
        deadline = time.monotonic() + 30
        while (answer := (await http.get("/v1/gate", params=params, headers=ci)).json()).get(
            "allow"
        ) is not True:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the gate does not allow the approved change: {answer}")
            await asyncio.sleep(0.1)

    gate = Target("GET", f"{base_url}/v1/gate?{urlencode(params)}", ci)
    vegeta.attack([gate] * min(100, profile.latency_requests), rate=profile.latency_rate)
    measured = vegeta.attack([gate] * profile.latency_requests, rate=profile.latency_rate)
    return vegeta.stats(measured, ok=200)


async def _approved_change(http: httpx.AsyncClient, auth: Auth, service: str) -> str:
    rita, mona = auth.headers("rita", "requester"), auth.headers("mona", "change_manager")
    created = await http.post(
        "/v1/changes", json=change_body(service, window_open_now=True), headers=rita
    )
    created.raise_for_status()
    change_id = str(created.json()["id"])
    (await http.post(f"/v1/changes/{change_id}/submit", headers=rita)).raise_for_status()
    await _until(lambda: _review_status(http, auth, change_id), "pending")
    approval = await http.post(
        f"/v1/reviews/{change_id}/approvals",
        json={"decision": "approve", "comment": "benchmark"},
        headers=mona,
    )
    if approval.status_code != 201:
        raise RuntimeError(f"approval refused: {approval.text}")
    await _until(lambda: _status(http, auth, change_id), "approved")
    return change_id


async def _status(http: httpx.AsyncClient, auth: Auth, change_id: str) -> str:
    response = await http.get(f"/v1/changes/{change_id}", headers=auth.headers("a", "auditor"))
    return str(response.json().get("status"))


async def _review_status(http: httpx.AsyncClient, auth: Auth, change_id: str) -> str:
    response = await http.get(f"/v1/reviews/{change_id}", headers=auth.headers("a", "auditor"))
    return str(response.json().get("status")) if response.status_code == 200 else "absent"


async def _until(probe: Any, expected: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (last := await probe()) != expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"status {last!r}, not {expected!r}, after {timeout} s")
        await asyncio.sleep(0.1)


@dataclass(frozen=True)
class EndToEnd:
    submit: Stats
    to_kafka: Stats
    to_ledger: Stats


async def end_to_end(
    base_url: str, auth: Auth, kafka_servers: str, topic: str, database_url: str, profile: Profile
) -> EndToEnd:
    """Drafts created first (untimed); their submits (the first request that emits an event)
    at a fixed rate; from each 200 to `change.requested` on Kafka and in the ledger."""
    rita = auth.headers("rita", "requester")
    watcher = KafkaWatcher(kafka_servers, topic)
    watcher.start()
    drafts = _drafts(base_url, rita, profile.e2e_requests)
    submits = [Target("POST", f"{base_url}/v1/changes/{draft}/submit", rita) for draft in drafts]
    results = vegeta.attack(submits, rate=profile.e2e_rate, workers=256)
    acked = {
        result.url.rsplit("/", 2)[-2]: result.done_at for result in results if result.code == 200
    }
    seen = await watcher.wait_for(set(acked), timeout=30.0)
    watcher.stop()
    recorded = await _ledger_times(database_url, set(acked), timeout=30.0)
    return EndToEnd(
        submit=vegeta.stats(results, ok=200),
        to_kafka=_delays(acked, seen),
        to_ledger=_delays(acked, recorded),
    )


def _drafts(base_url: str, headers: dict[str, str], count: int) -> list[str]:
    """`count` draft changes, each of a service of its own so none conflicts with another."""
    posts = (
        next(creating_posts(f"{base_url}/v1/changes", change_body(f"e2e-{index}"), headers, 1))
        for index in range(count)
    )
    results = vegeta.attack(posts, rate=None, workers=DRAFT_CONCURRENCY)
    created = [json.loads(result.body)["id"] for result in results if result.code == 201]
    if len(created) != count:
        raise RuntimeError(f"{count - len(created)} of {count} drafts were not created")
    return [str(change_id) for change_id in created]


def _delays(acked: dict[str, float], arrived: dict[str, float]) -> Stats:
    # Arrival before the 200 is possible (the relay may win the race): count it as zero.
    delays = [max(0.0, arrived[key] - at) for key, at in acked.items() if key in arrived]
    return summarize(delays, errors=len(acked) - len(delays), seconds=0.0)


async def _ledger_times(database_url: str, subjects: set[str], timeout: float) -> dict[str, float]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        deadline = time.monotonic() + timeout
        while True:
            rows = await connection.fetch(
                "SELECT subject, recorded_at FROM audit.ledger_entry"
                " WHERE event_type LIKE '%change.requested' AND subject = ANY($1::text[])",
                list(subjects),
            )
            if len(rows) >= len(subjects) or time.monotonic() > deadline:
                return {row["subject"]: row["recorded_at"].timestamp() for row in rows}
            await asyncio.sleep(0.5)
    finally:
        await connection.close()


class KafkaWatcher:
    """An outside consumer, on its own thread and event loop so it never waits on the load:
    notes when each subject's `change.requested` is first readable."""

    def __init__(self, servers: str, topic: str) -> None:
        self._servers, self._topic = servers, topic
        self.seen: dict[str, float] = {}
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._consume()), daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(timeout=60):
            raise RuntimeError("the outside Kafka consumer did not get its partitions")

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=30)

    async def wait_for(self, subjects: set[str], timeout: float) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        while not subjects <= self.seen.keys() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        return dict(self.seen)

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(
            self._topic,
            bootstrap_servers=self._servers,
            group_id=f"bench-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="latest",
            fetch_max_wait_ms=5,
        )
        await consumer.start()
        try:
            while not consumer.assignment():
                await consumer.getmany(timeout_ms=100)
            for partition in consumer.assignment():
                await consumer.position(partition)
            self._ready.set()
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=100)
                arrived = time.time()
                for messages in batches.values():
                    for message in messages:
                        event = json.loads(message.value)
                        if str(event.get("type", "")).endswith("change.requested"):
                            self.seen.setdefault(str(event["subject"]), arrived)
        finally:
            await consumer.stop()
