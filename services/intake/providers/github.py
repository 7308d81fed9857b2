"""GitHub webhooks: `deployment_status` and `workflow_run`, told apart by `X-GitHub-Event`.

With a secret configured, every delivery (ping included) must carry
`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.

deployment_status
    service      `deployment.payload.changeward.service`, else the repository name
    environment  `deployment.environment`
    version      `deployment.payload.changeward.version`, else `deployment.ref` unless it is
                 the default branch, else `deployment.sha`
    change id    `deployment.payload.changeward.change_id`, else a `Change-Id: <uuid>` line or
                 `changeward:<uuid>` in the deployment's or the status's description
    external id  the deployment id: every status of one deployment shares it

    `inactive` is ignored: GitHub marks the previous deployment inactive when a newer one
    succeeds, and that earlier deployment was not cancelled.

workflow_run
    Only runs of deploy workflows are reports; the environment comes from the workflow
    file `.github/workflows/deploy-<environment>.yml`, else from a workflow name such as
    `Deploy to <environment>`, `Deploy <environment>` or `deploy-<environment>`
    (lower-cased). Runs of other workflows are ignored.
    service      the repository name
    version      `head_branch` unless it is the default branch (tag pushes name the tag),
                 else `head_sha`
    change id    a `Change-Id: <uuid>` trailer or `changeward:<uuid>` in the head commit
    external id  `<run id>/attempts/<run attempt>`: a re-run is another deployment
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated

from pydantic import BeforeValidator

from services.intake.providers.errors import IgnoredEvent, UnsupportedPayload
from services.intake.providers.model import NormalizedDeployment
from services.intake.providers.payload import (
    TERMINAL,
    ChangeId,
    Environment,
    Name,
    OptionalName,
    Prose,
    ProviderPayload,
    Text,
    Timestamp,
    find_change_id,
    load_object,
    pick_version,
    unsupported_value,
    validate,
)
from services.intake.providers.signatures import verify_hmac_sha256
from shared.contracts import DeploymentStatus

PROVIDER = "github"
EVENT_HEADER = "x-github-event"
SIGNATURE_HEADER = "x-hub-signature-256"

# None: a genuine state that reports nothing new about a deployment.
DEPLOYMENT_STATES: dict[str, DeploymentStatus | None] = {
    "queued": DeploymentStatus.QUEUED,
    "pending": DeploymentStatus.QUEUED,
    "waiting": DeploymentStatus.QUEUED,
    "in_progress": DeploymentStatus.IN_PROGRESS,
    "success": DeploymentStatus.SUCCEEDED,
    "failure": DeploymentStatus.FAILED,
    "error": DeploymentStatus.FAILED,
    "inactive": None,
}

RUN_CONCLUSIONS: dict[str, DeploymentStatus | None] = {
    "success": DeploymentStatus.SUCCEEDED,
    "failure": DeploymentStatus.FAILED,
    "timed_out": DeploymentStatus.FAILED,
    "startup_failure": DeploymentStatus.FAILED,
    "cancelled": DeploymentStatus.CANCELLED,
    "neutral": None,
    "skipped": None,
    "stale": None,
    "action_required": None,
}

_DEPLOY_FILE = re.compile(r"deploy[-_](?P<env>[a-z0-9][a-z0-9_-]{0,63})\.ya?ml", re.IGNORECASE)
_DEPLOY_NAME = re.compile(
    r"deploy(?:[\s_-]+to)?[\s:_-]+(?P<env>[a-z0-9][a-z0-9_.-]{0,63})", re.IGNORECASE
)


def parse(headers: Mapping[str, str], body: bytes, secret: str | None) -> NormalizedDeployment:
    """One GitHub delivery; `headers` have lower-case names."""
    if secret is not None:
        verify_hmac_sha256(
            secret, headers.get(SIGNATURE_HEADER), body, header="X-Hub-Signature-256"
        )
    event = headers[EVENT_HEADER].strip()
    document = load_object(body)
    if event == "deployment_status":
        return _deployment_status(validate(DeploymentStatusEvent, document, "GitHub " + event))
    if event == "workflow_run":
        return _workflow_run(validate(WorkflowRunEvent, document, "GitHub " + event))
    raise IgnoredEvent(
        f"GitHub {event!r} events report no deployment; Changeward reads deployment_status "
        "and workflow_run.",
        provider=PROVIDER,
        event=event,
    )


class Repository(ProviderPayload):
    name: Name
    default_branch: Text = None


class ChangewardHints(ProviderPayload):
    """What a deployer may put under `changeward` in the deployment's free-form payload."""

    service: OptionalName = None
    version: OptionalName = None
    change_id: ChangeId = None


class DeploymentPayload(ProviderPayload):
    changeward: ChangewardHints | None = None


def _free_form(value: object) -> object:
    # GitHub keeps the payload as the deployer sent it: an object, a JSON string, or anything.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return {}
    return value if isinstance(value, dict) else {}


class Deployment(ProviderPayload):
    id: int
    sha: Name
    ref: Text = None
    environment: Environment
    description: Prose = None
    payload: Annotated[DeploymentPayload, BeforeValidator(_free_form)] = DeploymentPayload()
    created_at: Timestamp = None


class DeploymentStatusBody(ProviderPayload):
    state: Name
    description: Prose = None
    target_url: Text = None
    log_url: Text = None
    created_at: Timestamp = None


class DeploymentStatusEvent(ProviderPayload):
    deployment_status: DeploymentStatusBody
    deployment: Deployment
    repository: Repository


def _deployment_status(event: DeploymentStatusEvent) -> NormalizedDeployment:
    deployment, reported = event.deployment, event.deployment_status
    state = reported.state.lower()
    if state not in DEPLOYMENT_STATES:
        raise unsupported_value(("deployment_status", "state"), reported.state, DEPLOYMENT_STATES)
    status = DEPLOYMENT_STATES[state]
    if status is None:
        raise IgnoredEvent(
            f"GitHub deployment {deployment.id} became {state}: superseded, not a new report.",
            provider=PROVIDER,
            event="deployment_status",
        )
    hints = deployment.payload.changeward or ChangewardHints()
    return NormalizedDeployment(
        provider=PROVIDER,
        service=hints.service or event.repository.name,
        environment=deployment.environment,
        version=hints.version
        or pick_version(deployment.ref, deployment.sha, event.repository.default_branch),
        status=status,
        started_at=None if status is DeploymentStatus.QUEUED else deployment.created_at,
        finished_at=reported.created_at if status in TERMINAL else None,
        pipeline_url=reported.target_url or reported.log_url,
        commit=deployment.sha,
        change_id=hints.change_id or find_change_id(deployment.description, reported.description),
        external_id=str(deployment.id),
    )


class HeadCommit(ProviderPayload):
    message: Prose = None


class Workflow(ProviderPayload):
    name: Text = None
    path: Text = None


class WorkflowRun(ProviderPayload):
    id: int
    name: Text = None
    path: Text = None
    display_title: Prose = None
    head_branch: Text = None
    head_sha: Name
    conclusion: Text = None
    html_url: Text = None
    run_attempt: int = 1
    run_started_at: Timestamp = None
    updated_at: Timestamp = None
    head_commit: HeadCommit | None = None


class WorkflowRunEvent(ProviderPayload):
    action: Name
    workflow_run: WorkflowRun
    workflow: Workflow | None = None
    repository: Repository


def deploy_environment(path: str | None, name: str | None) -> str | None:
    """The environment a deploy workflow targets, by its file name or else its name."""
    file_name = (path or "").rsplit("/", 1)[-1]
    match = _DEPLOY_FILE.fullmatch(file_name) or _DEPLOY_NAME.fullmatch((name or "").strip())
    return match["env"].lower() if match else None


def _workflow_run(event: WorkflowRunEvent) -> NormalizedDeployment:
    run, workflow = event.workflow_run, event.workflow or Workflow()
    if event.action not in ("in_progress", "completed"):
        raise IgnoredEvent(
            f"GitHub workflow_run {event.action!r} reports nothing; in_progress and completed do.",
            provider=PROVIDER,
            event="workflow_run",
        )
    environment = deploy_environment(run.path or workflow.path, run.name or workflow.name)
    if environment is None:
        raise IgnoredEvent(
            f"Workflow {run.name or workflow.name or run.path!r} is not a deploy workflow; "
            "name its file deploy-<environment>.yml or the workflow 'Deploy to <environment>'.",
            provider=PROVIDER,
            event="workflow_run",
        )
    status = _run_status(event.action, run)
    return NormalizedDeployment(
        provider=PROVIDER,
        service=event.repository.name,
        environment=environment,
        version=pick_version(run.head_branch, run.head_sha, event.repository.default_branch),
        status=status,
        started_at=run.run_started_at,
        finished_at=run.updated_at if status in TERMINAL else None,
        pipeline_url=run.html_url,
        commit=run.head_sha,
        change_id=find_change_id(
            run.head_commit.message if run.head_commit else None, run.display_title
        ),
        external_id=f"{run.id}/attempts/{run.run_attempt}",
    )


def _run_status(action: str, run: WorkflowRun) -> DeploymentStatus:
    if action == "in_progress":
        return DeploymentStatus.IN_PROGRESS
    if run.conclusion is None:
        raise UnsupportedPayload(
            "A completed workflow_run needs workflow_run.conclusion.",
            errors=[
                {
                    "loc": ["body", "workflow_run", "conclusion"],
                    "msg": "required",
                    "type": "missing",
                }
            ],
        )
    conclusion = run.conclusion.lower()
    if conclusion not in RUN_CONCLUSIONS:
        raise unsupported_value(("workflow_run", "conclusion"), run.conclusion, RUN_CONCLUSIONS)
    status = RUN_CONCLUSIONS[conclusion]
    if status is None:
        raise IgnoredEvent(
            f"Workflow run {run.id} ended {conclusion}: nothing was deployed.",
            provider=PROVIDER,
            event="workflow_run",
        )
    return status
