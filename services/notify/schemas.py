"""Request and response bodies of the subscription and delivery API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, UrlConstraints, model_validator

from services.notify.domain import DeliveryStatus, Format, NotificationType
from shared.contracts import ImpactLevel, NonBlank, Window
from shared.wire import JSON_INTEGER

MAX_LEAD_SECONDS = 30 * 24 * 3600
LeadSeconds = Annotated[int, Field(ge=0, le=MAX_LEAD_SECONDS), JSON_INTEGER]

WebhookUrl = Annotated[HttpUrl, UrlConstraints(max_length=2000, allowed_schemes=["http", "https"])]


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


class SubscriptionCreate(BaseModel):
    """A webhook receiver. Each filter given narrows what it receives; an empty one does not."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "#checkout-changes",
                    "url": "https://hooks.slack.com/services/T000/B000/XXXX",
                    "format": "slack",
                    "event_types": ["change.approved", "change.upcoming", "change.failed"],
                    "services": ["checkout"],
                    "environments": ["production"],
                    "impact_levels": ["important", "critical"],
                    "reminder_lead_seconds": 3600,
                }
            ]
        },
    )

    name: NonBlank = Field(max_length=200, description="What the receiver is, e.g. a channel.")
    url: WebhookUrl = Field(
        description="Where deliveries are POSTed (http or https). Its host must resolve to "
        "public addresses (loopback and private ones too where the server allows them); "
        "checked now and at every delivery."
    )
    format: Format = Field(
        default=Format.JSON,
        description="`json`: the CloudEvent itself; `slack`: a Slack message (text and blocks); "
        "`teams`: a Microsoft Teams message with an Adaptive Card.",
    )
    event_types: list[NotificationType] = Field(
        min_length=1,
        max_length=len(NotificationType),
        description="Event types to receive; `change.upcoming` is a reminder before a change's "
        "window opens.",
    )
    services: list[NonBlank] = Field(
        default_factory=list, max_length=50, description="Only changes affecting any of these."
    )
    environments: list[NonBlank] = Field(
        default_factory=list, max_length=20, description="Only changes in one of these."
    )
    impact_levels: list[ImpactLevel] = Field(
        default_factory=list,
        description="Only changes assessed at one of these (an unassessed change does not pass).",
    )
    reminder_lead_seconds: LeadSeconds | None = Field(
        default=None,
        description="How long before a window opens the `change.upcoming` reminder goes out; "
        "the server default when absent.",
    )

    @model_validator(mode="after")
    def _tidy(self) -> SubscriptionCreate:
        self.event_types = [NotificationType(t) for t in _unique(list(self.event_types))]
        self.services = _unique(self.services)
        self.environments = _unique(self.environments)
        self.impact_levels = [ImpactLevel(i) for i in _unique(list(self.impact_levels))]
        return self


class SubscriptionRead(BaseModel):
    id: UUID
    name: str
    url: str = Field(
        description="Shown whole to change managers and leads only; others see the host "
        "(chat webhook URLs carry their credential in the path)."
    )
    format: Format
    event_types: list[NotificationType]
    services: list[str]
    environments: list[str]
    impact_levels: list[ImpactLevel]
    reminder_lead_seconds: int
    created_by: str
    created_at: datetime


class SubscriptionCreated(SubscriptionRead):
    secret: str = Field(
        description="The signing secret, shown only now: keep it to verify the "
        "`Changeward-Signature` header (HMAC-SHA256 over `<t>.<body>`)."
    )


class DeliveryAttemptRead(BaseModel):
    number: int
    attempted_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    succeeded: bool


class DeliveryRead(BaseModel):
    id: UUID
    subscription_id: UUID
    event_id: UUID = Field(description="Sent as `Changeward-Event-Id`; the same on a replay.")
    event_type: NotificationType
    subject: str = Field(description="The change (or deployment, freeze window) it is about.")
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = Field(description="When it is tried next, while pending.")
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    dead_lettered_at: datetime | None
    replay_of: UUID | None = Field(description="The delivery this one replays, if any.")
    created_at: datetime


class DeliveryDetail(DeliveryRead):
    body: str | None = Field(
        description="Exactly what is POSTed (and signed); null until it is first sent."
    )
    content_type: str | None
    attempt_log: list[DeliveryAttemptRead] = Field(description="Every try, oldest first.")


class ChangeUpcoming(BaseModel):
    """The `data` of a `change.upcoming` reminder (CloudEvent from `/changeward/notify`)."""

    change_id: UUID
    title: str | None
    services: list[str]
    environment: str | None
    window: Window
    impact_level: ImpactLevel | None
    emergency: bool
    requester: str | None
    contacts: list[dict[str, Any]]
    lead_seconds: int = Field(description="How long before the window opens it was sent.")
