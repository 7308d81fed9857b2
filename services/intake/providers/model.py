"""What the providers' webhooks are normalized to, and the secrets that authenticate them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from shared.contracts import DeploymentStatus


@dataclass(frozen=True)
class ProviderSecrets:
    """Per-provider shared secrets; a provider whose secret is None is not verified."""

    github_webhook_secret: str | None = None
    gitlab_token: str | None = None
    argocd_token: str | None = None


@dataclass(frozen=True)
class NormalizedDeployment:
    """One deployment report, the same shape whichever provider sent it.

    `external_id` names the deployment at the provider, so successive reports of
    one deployment (queued, in progress, succeeded) share it.
    """

    provider: str
    service: str
    environment: str
    version: str | None
    status: DeploymentStatus
    started_at: datetime | None
    finished_at: datetime | None
    pipeline_url: str | None
    commit: str | None
    change_id: UUID | None
    external_id: str | None
