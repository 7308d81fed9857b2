"""Webhooks to a real HTTP receiver on 127.0.0.1: signed, retried with growing delays,
dead-lettered, replayed by hand; Slack and Teams bodies; the subscription API.

The all-in-one app runs on its own database with a retry schedule of seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from changeward.allinone import create_app
from services.notify.messages import window_text
from shared.settings import Settings
from tests.conftest import fresh_database
from tests.support.clients import CHANGE_BODY, WINDOW_END, WINDOW_START, Tokens, eventually

MAX_ATTEMPTS = 4


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """A webhook receiver on a real socket: answers `statuses` in turn (the last one
    repeats), after `delay` seconds, and keeps every request."""

    statuses: list[int] = field(default_factory=lambda: [200])
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)
    in_flight: int = 0
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self) -> int:
        with self._lock:
            return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    def record(self, request: Received) -> None:
        with self._lock:
            self.requests.append(request)

    async def received(self) -> list[Received]:
        with self._lock:
            return list(self.requests)


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            state.in_flight += 1
            try:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                state.record(
                    Received(
                        {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic()
                    )
                )
                time.sleep(state.delay)
                status = state.answer()
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"no")
            finally:
                state.in_flight -= 1

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/changeward"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


@pytest.fixture(scope="module")
async def client(pg_server: str, jwt_secret: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=await fresh_database(pg_server),
        jwt_secret=jwt_secret,
        audit_signing_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        relay_idle_poll_seconds=0.2,
        notify_poll_interval_seconds=0.05,
        notify_timeout_seconds=5,
        notify_retry_initial_seconds=0.25,
        notify_retry_multiplier=3,
        notify_retry_jitter=0.1,
        notify_max_attempts=MAX_ATTEMPTS,
        notify_change_url_template="https://changeward.example/ui/changes/{change_id}",
        notify_secret_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        notify_allow_private_receivers=True,
    )
    assert settings.database_url is not None
    app = create_app(settings, settings.database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://changeward") as client:
            yield client


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def subscribe(
    client: httpx.AsyncClient, tokens: Tokens, url: str, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/subscriptions",
        json={"name": "#changes", "url": url, **fields},
        headers=tokens.headers("mona", "change_manager"),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def submit_change(client: httpx.AsyncClient, tokens: Tokens, **fields: Any) -> str:
    rita = tokens.headers("rita", "requester")
    created = await client.post("/v1/changes", json={**CHANGE_BODY, **fields}, headers=rita)
    assert created.status_code == 201, created.text
    change_id = str(created.json()["id"])
    submitted = await client.post(f"/v1/changes/{change_id}/submit", headers=rita)
    assert submitted.status_code == 200, submitted.text
    return change_id


async def delivery_log(
    client: httpx.AsyncClient, tokens: Tokens, subscription_id: str
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/v1/subscriptions/{subscription_id}/deliveries",
        headers=tokens.headers("audra", "auditor"),
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_a_delivery_is_signed_and_carries_what_a_receiver_needs_to_reject_replays(
    client: httpx.AsyncClient, tokens: Tokens, receiver: Receiver
) -> None:
    service = _unique("checkout")
    subscription = await subscribe(
        client, tokens, receiver.url, event_types=["change.requested"], services=[service]
    )
    secret = subscription["secret"]
    assert secret.startswith("whsec_")
    change_id = await submit_change(client, tokens, services=[service])

    [request] = await eventually(receiver.received, lambda got: len(got) >= 1)

    header = request.headers["changeward-signature"]
    parts = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(parts["t"])
    assert abs(time.time() - timestamp) < 60
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    assert request.headers["content-type"] == "application/cloudevents+json"
    event = json.loads(request.body)
    assert event["type"] == "io.changeward.change.requested"
    assert event["subject"] == change_id
    assert event["data"]["services"] == [service]
    assert request.headers["changeward-event-id"] == event["id"]
    assert request.headers["changeward-event-type"] == "change.requested"

    [delivery] = await eventually(
        lambda: delivery_log(client, tokens, subscription["id"]),
        lambda items: len(items) == 1 and items[0]["status"] == "delivered",
    )
    assert request.headers["changeward-delivery-id"] == delivery["id"]
    assert delivery["event_id"] == event["id"]
    assert delivery["attempts"] == 1
    assert delivery["last_status_code"] == 200
    assert delivery["next_attempt_at"] is None


async def test_a_failing_receiver_is_retried_with_growing_delays_then_dead_lettered_then_replayed(
    client: httpx.AsyncClient, tokens: Tokens, receiver: Receiver
) -> None:
    receiver.statuses = [500]
    service = _unique("payments")
    subscription = await subscribe(
        client, tokens, receiver.url, event_types=["change.requested"], services=[service]
    )
    await submit_change(client, tokens, services=[service])

    [delivery] = await eventually(
        lambda: delivery_log(client, tokens, subscription["id"]),
        lambda items: len(items) == 1 and items[0]["status"] == "dead_lettered",
    )
    tries = await receiver.received()
    assert len(tries) == MAX_ATTEMPTS
    assert [r.headers["changeward-delivery-attempt"] for r in tries] == ["1", "2", "3", "4"]
    assert len({r.headers["changeward-delivery-id"] for r in tries}) == 1
    gaps = [later.at - earlier.at for earlier, later in zip(tries, tries[1:], strict=False)]
    assert gaps == sorted(gaps), gaps
    assert gaps[-1] > 2 * gaps[0], gaps
    assert delivery["attempts"] == MAX_ATTEMPTS
    assert delivery["last_status_code"] == 500
    assert delivery["last_error"].startswith("HTTP 500")
    assert delivery["dead_lettered_at"] is not None

    auditor = tokens.headers("audra", "auditor")
    detail = (await client.get(f"/v1/deliveries/{delivery['id']}", headers=auditor)).json()
    assert [a["number"] for a in detail["attempt_log"]] == [1, 2, 3, 4]
    assert {a["status_code"] for a in detail["attempt_log"]} == {500}
    assert not any(a["succeeded"] for a in detail["attempt_log"])

    forbidden = await client.post(
        f"/v1/deliveries/{delivery['id']}/replay", headers=tokens.headers("rita", "requester")
    )
    assert forbidden.status_code == 403

    receiver.statuses = [200]
    mona = tokens.headers("mona", "change_manager")
    replayed = await client.post(f"/v1/deliveries/{delivery['id']}/replay", headers=mona)
    assert replayed.status_code == 202, replayed.text
    replay = replayed.json()
    assert replay["replay_of"] == delivery["id"]
    assert replay["event_id"] == delivery["event_id"]
    assert replayed.headers["location"] == f"/v1/deliveries/{replay['id']}"

    got = await eventually(receiver.received, lambda got: len(got) == MAX_ATTEMPTS + 1)
    assert got[-1].body == tries[0].body
    assert got[-1].headers["changeward-delivery-id"] == replay["id"]
    assert got[-1].headers["changeward-event-id"] == delivery["event_id"]
    log = await eventually(
        lambda: delivery_log(client, tokens, subscription["id"]),
        lambda items: items[0]["status"] == "delivered",
    )
    assert [item["status"] for item in log] == ["delivered", "dead_lettered"]

    unknown = await client.post(f"/v1/deliveries/{uuid.uuid4()}/replay", headers=mona)
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "delivery-not-found"


async def test_slack_and_teams_receivers_get_readable_summaries(
    client: httpx.AsyncClient, tokens: Tokens, receiver: Receiver
) -> None:
    service = _unique("checkout")
    for fmt in ("slack", "teams"):
        await subscribe(
            client,
            tokens,
            f"{receiver.url}?format={fmt}",
            format=fmt,
            event_types=["change.requested"],
            services=[service],
        )
    contacts = [{"name": "Checkout on-call", "role": "on-call", "chat": "#checkout-oncall"}]
    change_id = await submit_change(client, tokens, services=[service], contacts=contacts)

    got = await eventually(receiver.received, lambda got: len(got) == 2)
    assert {request.headers["content-type"] for request in got} == {"application/json"}
    by_shape = {("blocks" in body): body for body in (json.loads(r.body) for r in got)}
    slack, teams = by_shape[True], by_shape[False]
    link = f"https://changeward.example/ui/changes/{change_id}"

    assert slack["text"] == f"Change requested: {CHANGE_BODY['title']}"
    slack_text = json.dumps(slack["blocks"])
    window = window_text(WINDOW_START, WINDOW_END)
    for expected in (service, "production", window, "#checkout-oncall"):
        assert expected in slack_text
    assert slack["blocks"][-1]["elements"][0]["url"] == link

    card = teams["attachments"][0]["content"]
    assert teams["type"] == "message"
    assert card["type"] == "AdaptiveCard"
    facts = {
        f["title"]: f["value"] for b in card["body"] if b["type"] == "FactSet" for f in b["facts"]
    }
    assert facts["Services"] == service
    assert facts["Impact"] == "not assessed yet"
    assert facts["Requested by"] == "rita"
    assert "#checkout-oncall" in facts["Contacts"]
    assert card["actions"][0]["url"] == link


async def test_subscriptions_are_managed_by_change_managers_and_read_by_anyone(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    mona = tokens.headers("mona", "change_manager")
    auditor = tokens.headers("audra", "auditor")
    url = "https://hooks.slack.com/services/T000/B000/SECRETPART"
    body = {"name": "#sre", "url": url, "format": "slack", "event_types": ["change.approved"]}

    denied = await client.post(
        "/v1/subscriptions", json=body, headers=tokens.headers("r", "requester")
    )
    assert denied.status_code == 403
    assert denied.json()["code"] == "missing-role"

    key = {"Idempotency-Key": _unique("key")}
    created = await client.post("/v1/subscriptions", json=body, headers={**mona, **key})
    assert created.status_code == 201, created.text
    again = await client.post("/v1/subscriptions", json=body, headers={**mona, **key})
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == created.json()["id"]
    subscription_id = created.json()["id"]
    assert created.headers["location"] == f"/v1/subscriptions/{subscription_id}"
    assert created.json()["reminder_lead_seconds"] == 3600  # the server default

    as_auditor = await client.get(f"/v1/subscriptions/{subscription_id}", headers=auditor)
    assert as_auditor.status_code == 200
    assert "secret" not in as_auditor.json()
    assert "SECRETPART" not in as_auditor.json()["url"]
    as_manager = await client.get(f"/v1/subscriptions/{subscription_id}", headers=mona)
    assert as_manager.json()["url"] == url

    listed = await client.get(
        "/v1/subscriptions", params={"event_type": "change.approved", "limit": 200}, headers=auditor
    )
    assert subscription_id in {item["id"] for item in listed.json()["items"]}

    deleted = await client.delete(f"/v1/subscriptions/{subscription_id}", headers=mona)
    assert deleted.status_code == 204
    gone = await client.get(f"/v1/subscriptions/{subscription_id}", headers=auditor)
    assert gone.status_code == 404
    assert gone.json()["code"] == "subscription-not-found"
    twice = await client.delete(f"/v1/subscriptions/{subscription_id}", headers=mona)
    assert twice.status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"url": "ftp://example.com/hook"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"event_types": []}, "event_types"),
        ({"event_types": ["change.exploded"]}, "event_types"),
        ({"format": "email"}, "format"),
        ({"impact_levels": ["catastrophic"]}, "impact_levels"),
        (
            {"reminder_lead_seconds": -1, "event_types": ["change.upcoming"]},
            "reminder_lead_seconds",
        ),
        ({"reminder_lead_seconds": 60}, "reminder_lead_seconds"),
        ({"surprise": True}, "surprise"),
    ],
)
async def test_a_bad_subscription_is_a_422_naming_the_field_and_changes_nothing(
    client: httpx.AsyncClient, tokens: Tokens, change: dict[str, Any], field: str
) -> None:
    mona = tokens.headers("mona", "change_manager")
    name = _unique("bad")
    body = {"name": name, "url": "https://example.com/hook", "event_types": ["change.approved"]}
    response = await client.post("/v1/subscriptions", json={**body, **change}, headers=mona)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["code"] == "validation-error"
    assert any(error["loc"][:2] == ["body", field] for error in problem["errors"]), problem
    listed = await client.get("/v1/subscriptions", params={"limit": 200}, headers=mona)
    assert name not in {item["name"] for item in listed.json()["items"]}
