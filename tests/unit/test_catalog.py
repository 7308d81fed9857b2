"""The AsyncAPI event catalog: valid AsyncAPI 3.0, complete, routed as the relay routes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from jsonschema import Draft7Validator

from services.intake.models import tables as intake_tables
from shared.bus import InProcessBus
from shared.catalog import (
    CHANNELS,
    asyncapi_document,
    channel_of,
    reference_settings,
    render,
)
from shared.contracts import EVENT_PAYLOADS, EventType
from shared.db import Database
from shared.events import CLOUDEVENTS_MEDIA_TYPE, full_type
from shared.outbox import OutboxRelay
from shared.settings import Settings
from tests.asyncapi import (
    SCHEMA_SHA256,
    asyncapi_errors,
    event_errors,
    message_validator,
    schema_checksum,
)

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi_document(reference_settings())


def _event(event_type: EventType, data: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid4()),
        "source": "/changeward/execution",
        "type": full_type(event_type),
        "subject": str(uuid4()),
        "time": "2026-12-01T02:30:00Z",
        "datacontenttype": "application/json",
        "sequence": 3,
        "actor": "eddie",
        "data": data,
        **changes,
    }


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_the_vendored_asyncapi_schema_is_the_official_file() -> None:
    assert schema_checksum() == SCHEMA_SHA256


def test_the_catalog_is_a_valid_asyncapi_3_document(document: dict[str, Any]) -> None:
    assert document["asyncapi"] == "3.0.0"
    assert asyncapi_errors(document) == []


def test_the_asyncapi_schema_rejects_a_broken_document(document: dict[str, Any]) -> None:
    broken = copy.deepcopy(document)
    broken["operations"]["publishChanges"]["action"] = "publish"  # AsyncAPI 2 wording
    del broken["info"]["version"]
    errors = asyncapi_errors(broken)
    assert any(error.startswith("operations/publishChanges") for error in errors), errors
    assert any("version" in error for error in errors), errors


def test_the_committed_catalog_is_up_to_date(document: dict[str, Any]) -> None:
    assert COMMITTED.read_text() == render(document), (
        "docs/asyncapi.json is stale: run `make asyncapi` and commit the result"
    )


def test_every_event_type_has_a_message_on_the_channel_the_relay_uses(
    document: dict[str, Any],
) -> None:
    settings = Settings(jwt_secret="unused")
    relay = OutboxRelay(
        intake_tables, Database("postgresql+asyncpg://x@h/db"), InProcessBus(), settings
    )
    channels = asyncapi_document(settings)["channels"]
    for event_type in EventType:
        message = document["components"]["messages"][event_type.value]
        assert message["x-cloudevents-type"] == full_type(event_type)
        assert message["contentType"] == CLOUDEVENTS_MEDIA_TYPE
        channel = channels[channel_of(event_type).id]
        assert event_type.value in channel["messages"]
        # The relay's routing table is private; reading it here keeps the two from drifting.
        assert channel["address"] == relay._topic_of[event_type]


def test_each_channel_is_named_by_its_setting() -> None:
    settings = Settings(
        jwt_secret="unused",
        changes_topic="acme.changes",
        deployments_topic="acme.deploys",
        kafka_bootstrap_servers="kafka-0:9092",
        topic_partitions=12,
    )
    document = asyncapi_document(settings)
    assert document["channels"]["changes"]["address"] == "acme.changes"
    assert document["channels"]["deployments"]["address"] == "acme.deploys"
    assert document["channels"]["changes"]["bindings"]["kafka"]["partitions"] == 12
    assert document["servers"]["kafka"] == {
        "host": "kafka-0:9092",
        "protocol": "kafka",
        "description": "The Kafka cluster this deployment publishes to.",
    }
    assert {channel.id for channel in CHANNELS} == set(document["channels"])
    assert asyncapi_errors(document) == []


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    refs = _refs(document)
    assert len(refs) > len(EventType) * 3
    for ref in refs:
        assert _resolve(document, ref) is not None, ref


def test_every_component_schema_is_a_valid_draft_7_schema(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    missing = [m.__name__ for m in EVENT_PAYLOADS.values() if m.__name__ not in schemas]
    assert missing == []
    for schema in schemas.values():
        Draft7Validator.check_schema(schema)


def test_message_payloads_are_the_envelope_with_the_typed_data(document: dict[str, Any]) -> None:
    for event_type, model in EVENT_PAYLOADS.items():
        envelope = _resolve(
            document, document["components"]["messages"][event_type.value]["payload"]["$ref"]
        )
        base, specific = envelope["allOf"]
        assert base == {"$ref": "#/components/schemas/CloudEvent"}
        assert specific["properties"]["type"] == {"const": full_type(event_type)}
        assert specific["properties"]["data"] == {"$ref": f"#/components/schemas/{model.__name__}"}
    cloud_event = document["components"]["schemas"]["CloudEvent"]
    assert {"sequence", "actor", "subject", "data"} <= set(cloud_event["required"])


def test_a_well_formed_event_validates(document: dict[str, Any]) -> None:
    event = _event(
        EventType.CHANGE_ACCEPTED, {"outcome": "successful", "accepted_by": "eddie", "notes": None}
    )
    assert event_errors(document, event) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"data": {"outcome": "bogus", "accepted_by": "eddie"}}, "data/outcome"),
        ({"data": {"outcome": "successful"}}, "'accepted_by' is a required property"),
        ({"sequence": 0}, "sequence"),
        ({"id": "not-a-uuid"}, "id"),
        ({"type": full_type(EventType.CHANGE_COMPLETED)}, "type"),
    ],
)
def test_a_malformed_event_does_not_validate(
    document: dict[str, Any], changes: dict[str, Any], expected: str
) -> None:
    event = _event(EventType.CHANGE_ACCEPTED, {"outcome": "successful", "accepted_by": "eddie"})
    event.update(changes)
    # Validated as change.accepted even when `type` changed, so the `type` const must bite.
    validator = message_validator(document, EventType.CHANGE_ACCEPTED.value)
    errors = [
        f"{'/'.join(str(part) for part in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(event)
    ]
    assert any(expected in error for error in errors), errors


def test_an_event_of_an_unknown_type_is_reported(document: dict[str, Any]) -> None:
    event = _event(EventType.CHANGE_ACCEPTED, {}, type="io.changeward.change.teleported")
    assert event_errors(document, event) == [
        "the catalog has no message for type 'io.changeward.change.teleported'"
    ]


def test_the_rendered_catalog_is_stable_json(document: dict[str, Any]) -> None:
    rendered = render(document)
    assert json.loads(rendered) == document
    assert rendered == render(asyncapi_document(reference_settings()))
