"""Argo CD notifications, sent with the webhook template in deploy/ci/argocd-notifications.yaml.

Argo CD has no fixed webhook format, so Changeward defines one: that template's body,
marked `X-Changeward-Source: argocd`. With a token configured, the request must carry
`X-Changeward-Webhook-Token` equal to it (a header of its own, leaving
`Authorization` to Changeward's API tokens).

    service      label (or annotation) `changeward.dev/service`, else the application name
    environment  label (or annotation) `changeward.dev/environment`: required, since
                 neither a namespace nor a cluster name reliably says "production"
    version      the synced revision (a commit for Git sources, a chart version for Helm)
    change id    annotation (or label) `changeward.dev/change-id`
    external id  `<app namespace>/<app name>@<operation start>`: one per sync operation
    status       Running/Terminating -> in_progress; Failed/Error -> failed; Succeeded ->
                 succeeded when Healthy, failed when Degraded, else still in_progress
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import BeforeValidator, ValidationError

from services.intake.providers.errors import UnsupportedPayload
from services.intake.providers.model import NormalizedDeployment
from services.intake.providers.payload import (
    TERMINAL,
    ChangeId,
    Environment,
    Name,
    OptionalName,
    ProviderPayload,
    Text,
    Timestamp,
    is_commit,
    load_object,
    unsupported_value,
    validate,
)
from services.intake.providers.signatures import verify_token
from shared.contracts import DeploymentStatus

PROVIDER = "argocd"
SOURCE_HEADER = "x-changeward-source"
TOKEN_HEADER = "x-changeward-webhook-token"

SERVICE_KEY = "changeward.dev/service"
ENVIRONMENT_KEY = "changeward.dev/environment"
CHANGE_KEY = "changeward.dev/change-id"

# A Succeeded phase only says the manifests were applied; health says whether it worked.
PHASES: dict[str, DeploymentStatus | None] = {
    "running": DeploymentStatus.IN_PROGRESS,
    "terminating": DeploymentStatus.IN_PROGRESS,
    "failed": DeploymentStatus.FAILED,
    "error": DeploymentStatus.FAILED,
    "succeeded": None,
}
SETTLED_HEALTH: dict[str, DeploymentStatus] = {
    "healthy": DeploymentStatus.SUCCEEDED,
    "degraded": DeploymentStatus.FAILED,
}


def claims(headers: Mapping[str, str]) -> bool:
    """Whether `headers` (lower-case names) mark an Argo CD notification."""
    return headers.get(SOURCE_HEADER, "").strip().lower() == PROVIDER


def parse(headers: Mapping[str, str], body: bytes, token: str | None) -> NormalizedDeployment:
    """One Argo CD notification; `headers` have lower-case names."""
    if token is not None:
        verify_token(token, headers.get(TOKEN_HEADER), header="X-Changeward-Webhook-Token")
    return _notification(validate(Notification, load_object(body), "Argo CD notification"))


def _metadata(value: object) -> object:
    # `{{toJson .app.metadata.labels}}` renders null for an application without labels.
    return {} if value is None or value == "<no value>" else value


Metadata = Annotated[dict[str, str], BeforeValidator(_metadata)]


class Notification(ProviderPayload):
    application: Name
    application_namespace: Text = None
    revision: Text = None
    health_status: Text = None
    operation_phase: Name
    started_at: Timestamp = None
    finished_at: Timestamp = None
    url: Text = None
    labels: Metadata = {}
    annotations: Metadata = {}


class Tags(ProviderPayload):
    """The application's `changeward.dev/*` labels or annotations."""

    service: OptionalName = None
    environment: Environment
    change_id: ChangeId = None


_TAG_KEYS = {"service": SERVICE_KEY, "environment": ENVIRONMENT_KEY, "change_id": CHANGE_KEY}


def _tags(notification: Notification) -> Tags:
    found = {
        field: place[key]
        for field, key in _TAG_KEYS.items()
        for place in (notification.annotations, notification.labels)
        if key in place
    }
    try:
        return Tags.model_validate(found)
    except ValidationError as error:
        problems = [
            (_TAG_KEYS[str(problem["loc"][0])], problem["msg"], problem["type"])
            for problem in error.errors(include_url=False, include_context=False)
        ]
        raise UnsupportedPayload(
            f"The Argo CD application {notification.application!r} needs valid labels: "
            + "; ".join(f"{key} ({message})" for key, message, _ in problems)
            + f". Label every application with {ENVIRONMENT_KEY}.",
            errors=[
                {"loc": ["body", "labels", key], "msg": message, "type": kind}
                for key, message, kind in problems
            ],
        ) from None


def _notification(notification: Notification) -> NormalizedDeployment:
    status = _status(notification)
    tags = _tags(notification)
    started = notification.started_at
    namespace = notification.application_namespace or "argocd"
    return NormalizedDeployment(
        provider=PROVIDER,
        service=tags.service or notification.application,
        environment=tags.environment,
        version=notification.revision,
        status=status,
        started_at=started,
        finished_at=notification.finished_at if status in TERMINAL else None,
        pipeline_url=notification.url,
        commit=notification.revision if is_commit(notification.revision) else None,
        change_id=tags.change_id,
        external_id=f"{namespace}/{notification.application}@{started.isoformat()}"
        if started
        else None,
    )


def _status(notification: Notification) -> DeploymentStatus:
    phase = notification.operation_phase.lower()
    if phase not in PHASES:
        raise unsupported_value(("operation_phase",), notification.operation_phase, PHASES)
    status = PHASES[phase]
    if status is not None:
        return status
    health = (notification.health_status or "").lower()
    return SETTLED_HEALTH.get(health, DeploymentStatus.IN_PROGRESS)
