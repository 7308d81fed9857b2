"""Events fed straight into the audit service's ledger consumer, as the bus delivers them.

For histories the other services never produced (generated reports, events dated in the
past): only the ledger sees them, so no other service's state changes.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import FastAPI

from services.audit.app import SERVICE as AUDIT
from shared.bus import Message
from shared.events import CloudEvent
from shared.runtime import consumer_of

SOURCES = {
    "change.requested": "intake",
    "deployment.reported": "intake",
    "change.approved": "review",
}


def ledger_event(
    event_type: str,
    subject: str,
    at: datetime,
    data: dict[str, Any],
    *,
    sequence: int = 1,
    actor: str = "rita",
) -> CloudEvent:
    return CloudEvent(
        source=f"/changeward/{SOURCES.get(event_type, 'execution')}",
        type=f"io.changeward.{event_type}",
        subject=subject,
        time=at,
        sequence=sequence,
        actor=actor,
        data=data,
    )


async def feed_ledger(app: FastAPI, events: list[CloudEvent]) -> None:
    """Append `events` in order through the audit consumer (inbox, chain, tree, facets)."""
    consumer = consumer_of(AUDIT, app.state.database)
    topic = app.state.settings.changes_topic
    for event in events:
        await consumer(Message(topic=topic, key=event.subject, value=event.to_json()))


def new_id() -> str:
    return str(uuid.uuid4())
