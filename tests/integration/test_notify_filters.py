"""Which events become deliveries, and when reminders are due: events fed to notify's
consumer on a real PostgreSQL, as the bus would deliver them."""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.notify import service
from services.notify.app import SERVICE
from services.notify.schemas import SubscriptionCreate
from shared.auth import Principal, Role
from shared.bus import Message
from shared.contracts import EventType
from shared.db import Database
from shared.events import CloudEvent, full_type
from shared.runtime import consumer_of
from shared.settings import Settings
from tests.conftest import fresh_database
from tests.support.clients import CHANGE_BODY, fetch

MONA = Principal(subject="mona", roles=frozenset({Role.CHANGE_MANAGER}))
DEFAULT_LEAD = 3600
SETTINGS = Settings(
    jwt_secret="unused",
    notify_reminder_lead_seconds=DEFAULT_LEAD,
    notify_secret_key=base64.b64encode(secrets.token_bytes(32)).decode(),
    notify_allow_private_receivers=True,
)


@pytest.fixture(scope="module")
async def database(pg_server: str) -> AsyncIterator[Database]:
    database = Database(await fresh_database(pg_server))
    yield database
    await database.dispose()


async def subscribe(database: Database, **fields: Any) -> uuid.UUID:
    body = SubscriptionCreate.model_validate(
        {"name": "test", "url": "http://127.0.0.1:9/hook", **fields}
    )
    async with database.sessionmaker() as session, session.begin():
        created = await service.create_subscription(session, body, MONA, settings=SETTINGS)
    return created.id


class Change:
    """One change's events, numbered as their producers would."""

    def __init__(self, services: list[str], *, window_start: datetime | None = None) -> None:
        self.id = uuid.uuid4()
        self.services = services
        start = window_start or datetime.now(UTC) + timedelta(days=3)
        self.window = {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}
        self.sequence = 0

    def event(self, event_type: EventType, data: dict[str, Any]) -> CloudEvent:
        self.sequence += 1
        return CloudEvent(
            source="/changeward/test",
            type=full_type(event_type),
            subject=str(self.id),
            sequence=self.sequence,
            actor="rita",
            data=data,
        )

    def requested(self) -> CloudEvent:
        snapshot = {
            **CHANGE_BODY,
            "services": self.services,
            "window": self.window,
            "change_id": str(self.id),
            "requester": "rita",
            "version": 2,
        }
        return self.event(EventType.CHANGE_REQUESTED, snapshot)

    def assessed(self, impact_level: str) -> CloudEvent:
        return self.event(
            EventType.CHANGE_ASSESSED,
            {
                "impact_level": impact_level,
                "ready": True,
                "readiness": [],
                "required_approvals": [],
            },
        )

    def approved(self, impact_level: str = "important") -> CloudEvent:
        return self.event(
            EventType.CHANGE_APPROVED,
            {
                "impact_level": impact_level,
                "approvers": ["mona"],
                "services": self.services,
                "environment": "production",
                "window": self.window,
            },
        )

    def cancelled(self) -> CloudEvent:
        return self.event(EventType.CHANGE_CANCELLED, {"reason": "not needed"})


async def deliver(database: Database, *events: CloudEvent) -> None:
    consumer = consumer_of(SERVICE, database)
    for event in events:
        await consumer(Message(topic="changes", key=event.subject, value=event.to_json()))


async def deliveries(database: Database, subject: uuid.UUID | str) -> list[dict[str, Any]]:
    rows = await fetch(
        database.url,
        "SELECT subscription_id, event_type, status, next_attempt_at, event "
        "FROM notify.delivery WHERE subject = $1 ORDER BY created_at",
        str(subject),
    )
    return [dict(row) for row in rows]


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_filters_by_service_environment_and_impact_level(database: Database) -> None:
    svc = _unique("checkout")
    both = ["change.requested", "change.assessed"]
    by_service = await subscribe(database, event_types=both, services=[svc])
    by_other_service = await subscribe(database, event_types=both, services=[_unique("search")])
    by_staging = await subscribe(database, event_types=both, environments=["staging"])
    by_production = await subscribe(
        database, event_types=both, services=[svc], environments=["production"]
    )
    by_critical = await subscribe(
        database, event_types=both, services=[svc], impact_levels=["critical"]
    )
    by_important = await subscribe(
        database, event_types=both, services=[svc], impact_levels=["important"]
    )
    change = Change([svc, "payments"])

    await deliver(database, change.requested())
    requested = {d["subscription_id"] for d in await deliveries(database, change.id)}
    # Not assessed yet: an impact-level filter lets nothing through.
    assert requested == {by_service, by_production}

    await deliver(database, change.assessed("important"))
    rows = await deliveries(database, change.id)
    assessed = {d["subscription_id"] for d in rows if d["event_type"] == "change.assessed"}
    assert assessed == {by_service, by_production, by_important}
    assert not {by_other_service, by_staging, by_critical} & {d["subscription_id"] for d in rows}


async def test_only_the_subscribed_event_types_become_deliveries(database: Database) -> None:
    svc = _unique("ledger")
    approvals_only = await subscribe(database, event_types=["change.approved"], services=[svc])
    change = Change([svc])
    await deliver(database, change.requested(), change.assessed("standard"))
    assert await deliveries(database, change.id) == []
    await deliver(database, change.approved("standard"))
    [row] = await deliveries(database, change.id)
    assert row["subscription_id"] == approvals_only
    assert row["event_type"] == "change.approved"
    assert row["status"] == "pending"


async def test_a_redelivered_event_is_delivered_once(database: Database) -> None:
    svc = _unique("cart")
    await subscribe(database, event_types=["change.requested"], services=[svc])
    change = Change([svc])
    requested = change.requested()
    await deliver(database, requested, requested)
    assert len(await deliveries(database, change.id)) == 1


async def test_deployments_and_freezes_are_filtered_by_what_they_name(database: Database) -> None:
    svc = _unique("search")
    subscription = await subscribe(
        database,
        event_types=["deployment.reported", "freeze_window.declared"],
        services=[svc],
        environments=["production"],
        impact_levels=["critical"],
    )
    deployment: dict[str, Any] = {
        "deployment_id": str(uuid.uuid4()),
        "provider": "generic",
        "service": svc,
        "environment": "production",
        "status": "succeeded",
        "correlation": "none",
        "unauthorized": True,
        "reported_by": "ci",
    }
    other = {**deployment, "deployment_id": str(uuid.uuid4()), "service": _unique("other")}
    freeze_id = uuid.uuid4()
    now = datetime.now(UTC)
    freeze_everything = {
        "freeze_window_id": str(freeze_id),
        "start": now.isoformat(),
        "end": (now + timedelta(days=1)).isoformat(),
        "reason": "Black Friday",
        "declared_by": "lead",
    }

    def event(event_type: EventType, subject: str, data: dict[str, Any]) -> CloudEvent:
        return CloudEvent(
            source="/changeward/test",
            type=full_type(event_type),
            subject=subject,
            sequence=1,
            actor="ci",
            data=data,
        )

    await deliver(
        database,
        event(EventType.DEPLOYMENT_REPORTED, deployment["deployment_id"], deployment),
        event(EventType.DEPLOYMENT_REPORTED, other["deployment_id"], other),
        event(EventType.FREEZE_WINDOW_DECLARED, str(freeze_id), freeze_everything),
    )
    # Deployments and freezes have no impact level; a freeze naming no service covers all.
    assert [
        d["subscription_id"] for d in await deliveries(database, deployment["deployment_id"])
    ] == [subscription]
    assert await deliveries(database, other["deployment_id"]) == []
    assert [d["subscription_id"] for d in await deliveries(database, freeze_id)] == [subscription]


async def test_the_reminder_is_scheduled_its_lead_time_before_the_window(
    database: Database,
) -> None:
    svc = _unique("checkout")
    half_hour = await subscribe(
        database, event_types=["change.upcoming"], services=[svc], reminder_lead_seconds=1800
    )
    default_lead = await subscribe(database, event_types=["change.upcoming"], services=[svc])
    elsewhere = await subscribe(
        database, event_types=["change.upcoming"], services=[_unique("elsewhere")]
    )
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    change = Change([svc], window_start=start)

    await deliver(database, change.requested(), change.assessed("important"), change.approved())

    rows = await deliveries(database, change.id)
    due = {row["subscription_id"]: row["next_attempt_at"] for row in rows}
    assert due == {
        half_hour: start - timedelta(seconds=1800),
        default_lead: start - timedelta(seconds=DEFAULT_LEAD),
    }
    assert elsewhere not in due
    assert {row["event_type"] for row in rows} == {"change.upcoming"}
    assert {row["status"] for row in rows} == {"pending"}
    reminder = CloudEvent.from_json(rows[0]["event"])
    assert reminder.type == "io.changeward.change.upcoming"
    assert reminder.source == "/changeward/notify"
    assert reminder.subject == str(change.id)
    assert datetime.fromisoformat(reminder.data["window"]["start"]) == start
    assert reminder.data["lead_seconds"] in (1800, DEFAULT_LEAD)


async def test_a_cancelled_change_loses_its_reminder_and_a_reapproval_replaces_it(
    database: Database,
) -> None:
    svc = _unique("checkout")
    await subscribe(database, event_types=["change.upcoming"], services=[svc])
    change = Change([svc])
    await deliver(database, change.requested(), change.approved(), change.approved())
    statuses = [row["status"] for row in await deliveries(database, change.id)]
    assert statuses == ["cancelled", "pending"]

    await deliver(database, change.cancelled())
    statuses = [row["status"] for row in await deliveries(database, change.id)]
    assert statuses == ["cancelled", "cancelled"]


async def test_a_late_approval_reminds_at_once_and_an_open_window_not_at_all(
    database: Database,
) -> None:
    svc = _unique("checkout")
    await subscribe(database, event_types=["change.upcoming"], services=[svc])
    soon = Change([svc], window_start=datetime.now(UTC) + timedelta(minutes=10))
    started = Change([svc], window_start=datetime.now(UTC) - timedelta(minutes=10))
    before = datetime.now(UTC)
    await deliver(
        database, soon.requested(), soon.approved(), started.requested(), started.approved()
    )
    [reminder] = await deliveries(database, soon.id)
    assert before <= reminder["next_attempt_at"] <= datetime.now(UTC)
    assert await deliveries(database, started.id) == []
