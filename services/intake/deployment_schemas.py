"""Request and response bodies of the CI/CD deployment API."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from shared.contracts import DeploymentStatus, NonBlank
from shared.wire import AwareTimestamp


class DeploymentReportCreate(BaseModel):
    """The generic report any pipeline can send (provider webhooks are recognised by headers)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "service": "checkout",
                    "environment": "production",
                    "version": "2.14.0",
                    "status": "succeeded",
                    "started_at": "2026-12-01T02:05:00Z",
                    "finished_at": "2026-12-01T02:09:30Z",
                    "pipeline_url": "https://ci.example.com/checkout/runs/4711",
                    "commit": "9fceb02d0ae598e95dc970b74767f19372d61af8",
                    "external_id": "checkout-run-4711",
                }
            ]
        },
    )

    service: NonBlank = Field(max_length=200)
    environment: NonBlank = Field(max_length=64)
    version: str | None = Field(default=None, max_length=200)
    status: DeploymentStatus
    started_at: AwareTimestamp | None = None
    finished_at: AwareTimestamp | None = None
    pipeline_url: HttpUrl | None = None
    commit: str | None = Field(default=None, max_length=100)
    change_id: UUID | None = Field(
        default=None, description="The change this deployment carries out, if the pipeline knows."
    )
    external_id: str | None = Field(
        default=None,
        max_length=200,
        description="The pipeline's id of the deployment; reports of its successive statuses "
        "share it, and a repeated status is stored once.",
    )


class DeploymentRead(BaseModel):
    id: UUID
    provider: str
    external_id: str | None
    service: str
    environment: str
    version: str | None
    status: DeploymentStatus
    started_at: datetime | None
    finished_at: datetime | None
    pipeline_url: str | None
    commit: str | None
    change_id: UUID | None
    correlation: str = Field(
        description="`explicit`, `unknown_change`, `window` or `none`; see deployment.reported."
    )
    unauthorized: bool = Field(description="A production deployment without an approved change.")
    reported_by: str
    received_at: datetime
