"""How a deployment report's body becomes facts: a provider's webhook, or the generic format.

Provider payloads (GitHub, GitLab, Argo CD) are recognised by their headers and parsed
by `services.intake.providers`; this module adapts its answer and parses the generic one.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from services.intake.deployment_schemas import DeploymentReportCreate
from services.intake.providers import ProviderSecrets, parse_webhook
from services.intake.schemas import invalid_body
from shared.contracts import DeploymentStatus
from shared.errors import InvalidRequest
from shared.settings import Settings

GENERIC = "generic"


@dataclass(frozen=True)
class DeploymentFacts:
    """A deployment, normalized whatever reported it."""

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


def from_provider(
    headers: Mapping[str, str], body: bytes, settings: Settings
) -> DeploymentFacts | None:
    """The facts of a provider's webhook, or None when the headers name no known provider.

    Raises InvalidSignature (401), UnsupportedPayload (422) or IgnoredEvent (202).
    """
    secrets = ProviderSecrets(
        github_webhook_secret=settings.github_webhook_secret,
        gitlab_token=settings.gitlab_webhook_token,
        argocd_token=settings.argocd_webhook_token,
    )
    normalized = parse_webhook(headers, body, secrets)
    if normalized is None:
        return None
    return DeploymentFacts(**dataclasses.asdict(normalized))


def secret_configured(provider: str, settings: Settings) -> bool:
    """Whether `provider`'s webhooks are authenticated by a configured secret."""
    secret = {
        "github": settings.github_webhook_secret,
        "gitlab": settings.gitlab_webhook_token,
        "argocd": settings.argocd_webhook_token,
    }.get(provider)
    return bool(secret)


def from_generic(body: bytes) -> DeploymentFacts:
    try:
        report = DeploymentReportCreate.model_validate_json(body)
    except ValidationError as error:
        if any(detail["type"] == "json_invalid" for detail in error.errors()):
            raise InvalidRequest(
                "The body is neither a known provider's webhook nor JSON.",
                errors=[{"loc": ["body"], "msg": "invalid JSON", "type": "json_invalid"}],
            ) from None
        raise invalid_body(error) from None
    return DeploymentFacts(
        provider=GENERIC,
        service=report.service,
        environment=report.environment,
        version=report.version,
        status=report.status,
        started_at=report.started_at,
        finished_at=report.finished_at,
        pipeline_url=str(report.pipeline_url) if report.pipeline_url else None,
        commit=report.commit,
        change_id=report.change_id,
        external_id=report.external_id,
    )


def raw_payload(body: bytes) -> dict[str, Any]:
    """The body as stored beside the report, for forensics."""
    try:
        payload = json.loads(body)
    except ValueError:
        return {"raw": body.decode(errors="replace")}
    return payload if isinstance(payload, dict) else {"body": payload}
