"""The event contract is complete: every event type has a payload model and a JSON Schema."""

from __future__ import annotations

import pytest

from shared.contracts import EVENT_PAYLOADS, STATUS_AFTER, EventType


@pytest.mark.parametrize("event_type", list(EventType), ids=lambda t: t.value)
def test_every_event_type_has_a_payload_with_a_schema(event_type: EventType) -> None:
    payload = EVENT_PAYLOADS[event_type]
    schema = payload.model_json_schema()
    assert schema["type"] == "object"


def test_only_lifecycle_events_move_a_changes_status() -> None:
    assert all(event_type.value.startswith("change.") for event_type in STATUS_AFTER)
