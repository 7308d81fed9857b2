"""The event catalog: an AsyncAPI 3.0 document generated from the event contracts.

Every event type in `EventType` becomes a message whose payload is the CloudEvents
envelope with `data` set to the JSON Schema of its pydantic model, so a new event
type or payload field appears here without touching this module.

`python -m shared.catalog docs/asyncapi.json` (or `make asyncapi`) writes the
reference document for the default settings; every service also serves the one
for its own settings at `GET /v1/events/asyncapi.json`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.auth import CurrentPrincipal
from shared.contracts import EVENT_PAYLOADS, EventType
from shared.errors import Unauthenticated, error_responses
from shared.events import CLOUDEVENTS_MEDIA_TYPE, CloudEvent, full_type
from shared.settings import Settings

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
SCHEMAS = "#/components/schemas/"


@dataclass(frozen=True)
class Channel:
    """One topic: the setting that names it and what its Kafka key means."""

    id: str
    setting: str
    title: str
    description: str
    key: dict[str, Any]

    @property
    def variable(self) -> str:
        return f"CHANGEWARD_{self.setting.upper()}"

    def address(self, settings: Settings) -> str:
        return str(getattr(settings, self.setting))


CHANGES = Channel(
    "changes",
    "changes_topic",
    "Change lifecycle events",
    "Every `change.*` event, keyed by change id so each change's events stay in order.",
    {"type": "string", "format": "uuid", "description": "The change id (`subject`)."},
)
DEPLOYMENTS = Channel(
    "deployments",
    "deployments_topic",
    "CI/CD deployment reports",
    "`deployment.reported`, keyed by service, as pipelines and webhooks report them.",
    {"type": "string", "description": "The service the deployment was reported for."},
)
TREE_HEADS = Channel(
    "treeHeads",
    "tree_heads_topic",
    "Signed tree heads of the audit ledger",
    "`audit.tree_head_published`: each signed head, for outside witnesses to keep.",
    {"type": "string", "description": "The publisher's partition key."},
)
CHANNELS = (CHANGES, DEPLOYMENTS, TREE_HEADS)
_SPECIAL_CHANNELS = {
    EventType.DEPLOYMENT_REPORTED: DEPLOYMENTS,
    EventType.TREE_HEAD_PUBLISHED: TREE_HEADS,
}


def channel_of(event_type: EventType) -> Channel:
    """The topic an event type travels on; the outbox relay routes the same way."""
    return _SPECIAL_CHANNELS.get(event_type, CHANGES)


def asyncapi_document(settings: Settings) -> dict[str, Any]:
    """The AsyncAPI 3.0 document describing both topics and every event type."""
    schemas = _component_schemas()
    messages: dict[str, Any] = {}
    for event_type in EventType:
        schemas[_envelope_name(event_type)] = _envelope_schema(event_type)
        messages[event_type.value] = _message(event_type)
    document: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:changeward:events",
        "info": {
            "title": "Changeward events",
            "version": _package_version(),
            "description": (
                "Every state change of a production change, published as a CloudEvents 1.0 "
                "event in structured JSON mode through each service's transactional outbox. "
                "Events of one change share a Kafka key, so they arrive in order; "
                "`sequence` counts per change (`subject`) and publishing service "
                "(`source`), so a consumer can tell a gap (a jump) from a repeat (a "
                "sequence it has seen). Delivery is at least once: drop repeats by `id`."
            ),
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": CLOUDEVENTS_MEDIA_TYPE,
        "channels": _channels(settings),
        "operations": _operations(),
        "components": {
            "schemas": schemas,
            "messages": messages,
            "messageTraits": {"CloudEvent": _cloudevent_trait()},
        },
    }
    if settings.kafka_bootstrap_servers:
        document["servers"] = {
            "kafka": {
                "host": settings.kafka_bootstrap_servers,
                "protocol": "kafka",
                "description": "The Kafka cluster this deployment publishes to.",
            }
        }
    return document


def _package_version() -> str:
    try:
        return version("changeward")
    except PackageNotFoundError:
        return "0.0.0"


def _component_schemas() -> dict[str, Any]:
    """The payload models and the envelope, their nested models hoisted to components."""
    models: list[type[BaseModel]] = [CloudEvent, *EVENT_PAYLOADS.values()]
    unique = list(dict.fromkeys(models))
    _, definitions = models_json_schema(
        [(model, "serialization") for model in unique], ref_template=SCHEMAS + "{model}"
    )
    return dict(definitions.get("$defs", {}))


def _envelope_name(event_type: EventType) -> str:
    return f"{event_type.value}.event"


def _envelope_schema(event_type: EventType) -> dict[str, Any]:
    payload = EVENT_PAYLOADS.get(event_type)
    data: dict[str, Any] = (
        {"$ref": SCHEMAS + payload.__name__}
        if payload is not None
        else {"type": "object", "description": "Not specified yet: any JSON object."}
    )
    return {
        "title": f"{event_type.value} event",
        "description": f"The CloudEvents envelope of `{event_type.value}`.",
        "allOf": [
            {"$ref": SCHEMAS + CloudEvent.__name__},
            {
                "type": "object",
                "properties": {
                    "type": {"const": full_type(event_type)},
                    "data": data,
                },
            },
        ],
    }


def _message(event_type: EventType) -> dict[str, Any]:
    payload = EVENT_PAYLOADS.get(event_type)
    summary = (payload.__doc__ or "").strip().splitlines()[0] if payload and payload.__doc__ else ""
    message: dict[str, Any] = {
        "name": event_type.value,
        "title": event_type.value.replace(".", " ").replace("_", " ").capitalize(),
        "contentType": CLOUDEVENTS_MEDIA_TYPE,
        "payload": {"$ref": SCHEMAS + _envelope_name(event_type)},
        "traits": [{"$ref": "#/components/messageTraits/CloudEvent"}],
        "bindings": {
            "kafka": {"key": channel_of(event_type).key, "bindingVersion": KAFKA_BINDING_VERSION}
        },
        "x-cloudevents-type": full_type(event_type),
    }
    if summary:
        message["summary"] = summary
    return message


def _cloudevent_trait() -> dict[str, Any]:
    return {
        "headers": {
            "type": "object",
            "required": ["content-type"],
            "properties": {
                "content-type": {
                    "type": "string",
                    "const": CLOUDEVENTS_MEDIA_TYPE,
                    "description": "CloudEvents structured mode: the whole event is the value.",
                }
            },
        },
        "correlationId": {
            "description": "The change the event is about.",
            "location": "$message.payload#/subject",
        },
    }


def _channels(settings: Settings) -> dict[str, Any]:
    return {
        channel.id: {
            "address": channel.address(settings),
            "title": channel.title,
            "description": f"{channel.description} Set by `{channel.variable}`.",
            "messages": {
                event_type.value: {"$ref": f"#/components/messages/{event_type.value}"}
                for event_type in EventType
                if channel_of(event_type) is channel
            },
            "bindings": {
                "kafka": {
                    "topic": channel.address(settings),
                    "partitions": settings.topic_partitions,
                    "replicas": settings.topic_replication_factor,
                    "topicConfiguration": {
                        "cleanup.policy": ["delete"],
                        "retention.ms": settings.topic_retention_ms,
                    },
                    "bindingVersion": KAFKA_BINDING_VERSION,
                }
            },
        }
        for channel in CHANNELS
    }


def _operations() -> dict[str, Any]:
    return {
        f"publish{channel.id[0].upper()}{channel.id[1:]}": {
            "action": "send",
            "summary": f"Changeward publishes {channel.title[0].lower()}{channel.title[1:]}.",
            "channel": {"$ref": f"#/channels/{channel.id}"},
        }
        for channel in CHANNELS
    }


def catalog_router() -> APIRouter:
    router = APIRouter(prefix="/v1/events", tags=["events"])

    @router.get(
        "/asyncapi.json",
        summary="The AsyncAPI 3.0 catalog of every event and topic.",
        responses=error_responses(Unauthenticated),
    )
    async def asyncapi(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
        settings: Settings = request.app.state.settings
        return asyncapi_document(settings)

    return router


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def reference_settings() -> Settings:
    """The defaults, ignoring the environment: the committed document must not vary."""
    return Settings.model_construct()


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python -m shared.catalog OUTPUT.json")
    output = Path(argv[0])
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render(asyncapi_document(reference_settings())))


if __name__ == "__main__":
    main(sys.argv[1:])
