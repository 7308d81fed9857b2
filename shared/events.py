"""The CloudEvents 1.0 envelope (structured JSON mode) every event travels in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import EventType

CLOUDEVENTS_MEDIA_TYPE = "application/cloudevents+json"
TYPE_PREFIX = "io.changeward."


class CloudEvent(BaseModel):
    """One event. `sequence` counts per subject and source; `actor` is who caused it."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: UUID = Field(default_factory=uuid4)
    source: str
    type: str
    subject: str
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: Literal["application/json"] = "application/json"
    sequence: int = Field(ge=1)
    actor: str
    data: dict[str, Any]

    @property
    def event_type(self) -> str:
        """The short type, e.g. `change.requested`."""
        return self.type.removeprefix(TYPE_PREFIX)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> CloudEvent:
        return cls.model_validate_json(raw)


def source_of(service: str) -> str:
    return f"/changeward/{service}"


def full_type(event_type: EventType) -> str:
    return TYPE_PREFIX + event_type.value
