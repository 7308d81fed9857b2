"""Validating AsyncAPI documents and events against them, offline."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

SCHEMA_FILE = Path(__file__).with_name("asyncapi-3.0.0.schema.json")
SCHEMA_SHA256 = "d4571a420e6ffb7fcc7066c95a6db1202f299a3c51daa103d0706bf30f95e626"
DOCUMENT_URI = "urn:changeward:asyncapi-under-test"


def schema_checksum() -> str:
    return hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest()


@cache
def asyncapi_validator() -> Draft7Validator:
    """A validator for AsyncAPI 3.0.0 documents (the schema bundles every definition)."""
    schema = json.loads(SCHEMA_FILE.read_text())
    return Draft7Validator(schema, format_checker=FormatChecker())


def asyncapi_errors(document: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(str(part) for part in error.absolute_path)}: {error.message}"
        for error in asyncapi_validator().iter_errors(document)
    ]


def message_validator(document: dict[str, Any], event_type: str) -> Draft7Validator:
    """Validates one event (the whole CloudEvent) against its message's payload schema."""
    payload = document["components"]["messages"][event_type]["payload"]
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT7)
    )
    return Draft7Validator(
        {"$ref": DOCUMENT_URI + payload["$ref"]},
        registry=registry,
        format_checker=FormatChecker(),
    )


def event_errors(document: dict[str, Any], event: dict[str, Any]) -> list[str]:
    short_type = str(event.get("type", "")).removeprefix("io.changeward.")
    if short_type not in document["components"]["messages"]:
        return [f"the catalog has no message for type {event.get('type')!r}"]
    validator = message_validator(document, short_type)
    return [
        f"{'/'.join(str(part) for part in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(event)
    ]
