"""GitLab deployment events (`X-Gitlab-Event: Deployment Hook`).

With a token configured, `X-Gitlab-Token` must equal it (the hook's "secret token").

    service      the project's path (last segment of `project.path_with_namespace`),
                 else `project.name`
    environment  `environment`
    commit       the full sha at the end of `commit_url`, else `short_sha`
    version      `ref` when a GitLab version sends one and it is not the default branch,
                 else the commit
    pipeline     `deployable_url`, the job that deployed (null for API-created deployments)
    change id    `changeward:<uuid>` in `commit_title`
    external id  `deployment_id`: every event of one deployment shares it
    times        `status_changed_at` is the start of a running deployment and the end of a
                 finished one

`blocked` (waiting for approval or a manual job) counts as queued; the approval events
of protected environments (`approved`, `rejected`) are ignored, since the deployment's
own `running`/`failed` events follow them.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.intake.providers.errors import IgnoredEvent
from services.intake.providers.model import NormalizedDeployment
from services.intake.providers.payload import (
    TERMINAL,
    Environment,
    Name,
    Prose,
    ProviderPayload,
    Text,
    Timestamp,
    find_change_id,
    is_commit,
    load_object,
    pick_version,
    unsupported_value,
    validate,
)
from services.intake.providers.signatures import verify_token
from shared.contracts import DeploymentStatus

PROVIDER = "gitlab"
EVENT_HEADER = "x-gitlab-event"
TOKEN_HEADER = "x-gitlab-token"
DEPLOYMENT_HOOK = "Deployment Hook"

STATUSES: dict[str, DeploymentStatus | None] = {
    "created": DeploymentStatus.QUEUED,
    "blocked": DeploymentStatus.QUEUED,
    "running": DeploymentStatus.IN_PROGRESS,
    "success": DeploymentStatus.SUCCEEDED,
    "failed": DeploymentStatus.FAILED,
    "canceled": DeploymentStatus.CANCELLED,
    "approved": None,
    "rejected": None,
}


def parse(headers: Mapping[str, str], body: bytes, token: str | None) -> NormalizedDeployment:
    """One GitLab delivery; `headers` have lower-case names."""
    if token is not None:
        verify_token(token, headers.get(TOKEN_HEADER), header="X-Gitlab-Token")
    event = headers[EVENT_HEADER].strip()
    document = load_object(body)
    if event != DEPLOYMENT_HOOK:
        raise IgnoredEvent(
            f"GitLab {event!r} events report no deployment; Changeward reads {DEPLOYMENT_HOOK}s.",
            provider=PROVIDER,
            event=event,
        )
    return _deployment(validate(DeploymentHook, document, "GitLab " + DEPLOYMENT_HOOK))


class Project(ProviderPayload):
    name: Name
    path_with_namespace: Text = None
    default_branch: Text = None


class DeploymentHook(ProviderPayload):
    object_kind: Name
    status: Name
    status_changed_at: Timestamp = None
    deployment_id: int | None = None
    deployable_url: Text = None
    environment: Environment
    project: Project
    short_sha: Text = None
    ref: Text = None
    commit_url: Text = None
    commit_title: Prose = None


def _deployment(hook: DeploymentHook) -> NormalizedDeployment:
    if hook.object_kind != "deployment":
        raise unsupported_value(("object_kind",), hook.object_kind, ["deployment"])
    if hook.status not in STATUSES:
        raise unsupported_value(("status",), hook.status, STATUSES)
    status = STATUSES[hook.status]
    if status is None:
        raise IgnoredEvent(
            f"GitLab deployment {hook.deployment_id} was {hook.status}: an approval decision, "
            "not a deployment status.",
            provider=PROVIDER,
            event=DEPLOYMENT_HOOK,
        )
    last_segment = (hook.commit_url or "").rstrip("/").rsplit("/", 1)[-1]
    commit = last_segment if is_commit(last_segment) else hook.short_sha
    path = (hook.project.path_with_namespace or "").rsplit("/", 1)[-1]
    return NormalizedDeployment(
        provider=PROVIDER,
        service=path or hook.project.name,
        environment=hook.environment,
        version=pick_version(hook.ref, commit, hook.project.default_branch),
        status=status,
        started_at=hook.status_changed_at if status is DeploymentStatus.IN_PROGRESS else None,
        finished_at=hook.status_changed_at if status in TERMINAL else None,
        pipeline_url=hook.deployable_url,
        commit=commit,
        change_id=find_change_id(hook.commit_title),
        external_id=None if hook.deployment_id is None else str(hook.deployment_id),
    )
