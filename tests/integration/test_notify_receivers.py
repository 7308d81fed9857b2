"""Receivers on internal addresses are refused: with a 422 naming `url` when subscribing
(nothing is stored), and at delivery time, on the address the connection would go to. And
signing secrets are stored encrypted, in the subscription and in the idempotency record.
Real PostgreSQL; real receivers on 127.0.0.1."""

from __future__ import annotations

import base64
import dataclasses
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from services.notify import service
from services.notify.app import SERVICE as NOTIFY
from services.notify.dispatcher import Dispatcher
from services.notify.domain import DeliveryStatus
from services.notify.encryption import cipher_for
from services.notify.models import Delivery
from services.notify.receivers import ReceiverPolicy
from services.notify.schemas import SubscriptionCreate
from services.notify.signing import verify
from services.notify.transport import delivery_client
from shared.auth import Principal, Role
from shared.db import Database
from shared.runtime import build_app
from shared.settings import Settings
from tests.conftest import fresh_database
from tests.integration.test_notify_webhooks import Receiver, running_receiver
from tests.support.clients import Tokens, fetch, scalar

MONA = Principal(subject="mona", roles=frozenset({Role.CHANGE_MANAGER}))


@dataclasses.dataclass
class Strict:
    """Notify with the default receiver policy (public addresses only), on its own database."""

    settings: Settings
    client: httpx.AsyncClient

    @property
    def database_url(self) -> str:
        assert self.settings.database_url is not None
        return self.settings.database_url


@pytest.fixture(scope="module")
async def strict(pg_server: str, jwt_secret: str) -> AsyncIterator[Strict]:
    database_url = await fresh_database(pg_server)
    settings = Settings(
        database_url=database_url,
        jwt_secret=jwt_secret,
        notify_secret_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        notify_timeout_seconds=5,
    )
    assert settings.notify_allow_private_receivers is False  # the default
    # Deliveries are sent by hand below, by dispatchers with the policy each test wants.
    app = build_app(
        [dataclasses.replace(NOTIFY, background=None)], settings, database_url=database_url
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://changeward") as client:
            yield Strict(settings, client)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


def _body(url: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": f"hook-{uuid.uuid4().hex[:8]}",
        "url": url,
        "event_types": ["change.approved"],
        **fields,
    }


async def _stored(database_url: str, name: str) -> int:
    return int(
        await scalar(database_url, "SELECT count(*) FROM notify.subscription WHERE name = $1", name)
    )


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://localhost/hook", "loopback"),
        ("http://[::1]:9000/hook", "loopback"),
        ("http://2130706433/hook", "loopback"),  # 127.0.0.1 written as one number
        ("http://[::ffff:7f00:1]/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data/iam/", "link-local"),
        ("http://10.0.0.5/hook", "private"),
        ("https://192.168.1.20/hook", "private"),
        ("http://0.0.0.0:8080/hook", "unspecified"),
        ("http://224.0.0.1/hook", "multicast"),
    ],
)
async def test_a_subscription_to_an_internal_address_is_a_422_naming_url_and_stores_nothing(
    strict: Strict, tokens: Tokens, url: str, kind: str
) -> None:
    body = _body(url)
    response = await strict.client.post(
        "/v1/subscriptions", json=body, headers=tokens.headers("mona", "change_manager")
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "validation-error"
    [error] = problem["errors"]
    assert error["loc"] == ["body", "url"]
    assert f"a {kind} address" in error["msg"]
    assert await _stored(strict.database_url, body["name"]) == 0


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.215.14/hook",
        # Does not resolve now: accepted, and checked again when a delivery connects.
        "https://hooks.changeward-receiver.invalid/hook",
    ],
)
async def test_a_public_receiver_is_subscribed_with_its_secret_encrypted_at_rest(
    strict: Strict, tokens: Tokens, url: str
) -> None:
    body = _body(url)
    mona = tokens.headers("mona", "change_manager")
    key = {"Idempotency-Key": uuid.uuid4().hex}
    created = await strict.client.post("/v1/subscriptions", json=body, headers={**mona, **key})
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    assert secret.startswith("whsec_")

    [row] = await fetch(
        strict.database_url,
        "SELECT * FROM notify.subscription WHERE id = $1",
        uuid.UUID(created.json()["id"]),
    )
    assert "secret" not in dict(row)
    assert secret not in row["encrypted_secret"]
    assert cipher_for(strict.settings).unseal(row["encrypted_secret"]) == secret
    stored_answer = await scalar(
        strict.database_url,
        "SELECT response_body FROM notify.idempotency_key WHERE key = $1",
        key["Idempotency-Key"],
    )
    assert secret.encode() not in stored_answer
    # A client that lost the first answer still gets its secret from the retry.
    again = await strict.client.post("/v1/subscriptions", json=body, headers={**mona, **key})
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == created.json()


async def test_allowing_private_receivers_still_refuses_cloud_metadata(
    api: httpx.AsyncClient, settings: Settings, database_url: str, tokens: Tokens
) -> None:
    assert settings.notify_allow_private_receivers is True
    mona = tokens.headers("mona", "change_manager")
    on_prem = _body("http://10.20.30.40:8065/hooks/mattermost")
    accepted = await api.post("/v1/subscriptions", json=on_prem, headers=mona)
    assert accepted.status_code == 201, accepted.text

    metadata = _body("http://169.254.169.254/latest/meta-data/")
    refused = await api.post("/v1/subscriptions", json=metadata, headers=mona)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["loc"] == ["body", "url"]
    assert "ALLOW_PRIVATE_RECEIVERS" not in refused.json()["errors"][0]["msg"]
    assert await _stored(database_url, metadata["name"]) == 0


async def _pending_delivery(database: Database, subscription_id: uuid.UUID) -> uuid.UUID:
    delivery = Delivery(
        id=uuid.uuid4(),
        subscription_id=subscription_id,
        event_id=uuid.uuid4(),
        event_type="change.approved",
        subject=str(uuid.uuid4()),
        event="{}",
        body='{"text": "Change approved"}',
        content_type="application/json",
        status=DeliveryStatus.PENDING.value,
        attempts=0,
        next_attempt_at=datetime.now(UTC),
    )
    async with database.sessionmaker() as session, session.begin():
        session.add(delivery)
    return delivery.id


async def _send_due(dispatcher: Dispatcher) -> None:
    claimed = await dispatcher.claim(10)
    assert len(claimed) == 1
    async with dispatcher.client() as client:
        await dispatcher.deliver(client, claimed[0])


async def test_a_receiver_whose_name_now_resolves_to_loopback_is_refused_at_delivery(
    strict: Strict, receiver: Receiver
) -> None:
    """Subscribed while private receivers were allowed (or while its name resolved
    elsewhere): the strict dispatcher resolves `localhost` and does not connect."""
    on_prem = strict.settings.model_copy(update={"notify_allow_private_receivers": True})
    url = receiver.url.replace("127.0.0.1", "localhost")
    database = Database(strict.database_url)
    try:
        async with database.sessionmaker() as session, session.begin():
            created = await service.create_subscription(
                session,
                SubscriptionCreate.model_validate(_body(url)),
                MONA,
                settings=on_prem,
            )
        delivery_id = await _pending_delivery(database, created.id)

        await _send_due(Dispatcher(database, strict.settings))
        assert await receiver.received() == []
        [row] = await fetch(
            strict.database_url, "SELECT * FROM notify.delivery WHERE id = $1", delivery_id
        )
        assert row["status"] == "pending"  # retried later, like any failed attempt
        assert row["attempts"] == 1
        assert row["last_status_code"] is None
        assert "refused" in row["last_error"]
        assert "a loopback address" in row["last_error"]

        # The same delivery, due again, under a policy that allows it: sent and signed with
        # the secret given at subscription time (decrypted by the dispatcher).
        async with database.sessionmaker() as session, session.begin():
            stored = await session.get(Delivery, delivery_id)
            assert stored is not None
            stored.next_attempt_at = datetime.now(UTC)
        await _send_due(Dispatcher(database, on_prem))
    finally:
        await database.dispose()
    [request] = await receiver.received()
    assert verify(
        created.secret, request.headers["changeward-signature"], request.body, now=int(time.time())
    )
    assert (
        await scalar(
            strict.database_url, "SELECT status FROM notify.delivery WHERE id = $1", delivery_id
        )
        == "delivered"
    )


async def test_the_guard_checks_the_address_connected_to_not_the_spelling_of_the_url(
    receiver: Receiver,
) -> None:
    """0.0.0.0 reaches this host's own services on Linux: refused even where private
    receivers are allowed, though the same receiver on 127.0.0.1 is reached."""
    port = receiver.url.split(":")[2].split("/")[0]
    policy = ReceiverPolicy(allow_private=True)
    async with delivery_client(policy, timeout=5) as client:
        with pytest.raises(httpx.ConnectError, match="unspecified"):
            await client.post(f"http://0.0.0.0:{port}/hooks", content=b"{}")
        assert await receiver.received() == []
        reached = await client.post(f"http://127.0.0.1:{port}/hooks", content=b"{}")
    assert reached.status_code == 200
    assert len(await receiver.received()) == 1


async def test_a_secret_the_key_cannot_decrypt_fails_the_attempt_without_sending(
    strict: Strict, receiver: Receiver
) -> None:
    """A replica started with another key must not send unsigned or wrongly signed."""
    on_prem = strict.settings.model_copy(update={"notify_allow_private_receivers": True})
    other_key = on_prem.model_copy(
        update={"notify_secret_key": base64.b64encode(secrets.token_bytes(32)).decode()}
    )
    database = Database(strict.database_url)
    try:
        async with database.sessionmaker() as session, session.begin():
            created = await service.create_subscription(
                session,
                SubscriptionCreate.model_validate(_body(receiver.url)),
                MONA,
                settings=on_prem,
            )
        delivery_id = await _pending_delivery(database, created.id)
        await _send_due(Dispatcher(database, other_key))
    finally:
        await database.dispose()
    assert await receiver.received() == []
    [row] = await fetch(
        strict.database_url, "SELECT * FROM notify.delivery WHERE id = $1", delivery_id
    )
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "cannot be decrypted" in row["last_error"]
