"""Payloads of intake's events other than the change snapshot."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from shared.contracts.enums import (
    DeploymentStatus,
)


class ChangeCancelled(BaseModel):
    reason: str | None = None


class DeploymentReported(BaseModel):
    """A CI/CD deployment as reported by a pipeline or a provider's webhook, normalized."""

    deployment_id: UUID = Field(description="Intake's id of the report.")
    provider: str = Field(description="`generic`, `github`, `gitlab` or `argocd`.")
    external_id: str | None = Field(default=None, description="The provider's delivery id.")
    service: str
    environment: str
    version: str | None = None
    status: DeploymentStatus
    started_at: datetime | None = None
    finished_at: datetime | None = None
    pipeline_url: str | None = None
    commit: str | None = None
    change_id: UUID | None = Field(
        default=None, description="The change the deployment belongs to, when one was found."
    )
    correlation: str = Field(
        description="How the change was found: `explicit` (named by the report), "
        "`unknown_change` (named, but intake has no such change), `window` (the change of "
        "that service and environment whose window contains the deployment) or `none`."
    )
    unauthorized: bool = Field(
        description="A production deployment without an approved change: recorded, not rejected."
    )
    reported_by: str = Field(description="The token subject, or `webhook:<provider>`.")
