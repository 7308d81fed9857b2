"""GitHub deployment_status and workflow_run deliveries, signed with X-Hub-Signature-256."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from services.intake.providers import (
    IgnoredEvent,
    InvalidSignature,
    NormalizedDeployment,
    ProviderSecrets,
    UnsupportedPayload,
    parse_webhook,
)
from services.intake.providers.github import deploy_environment
from shared.contracts import DeploymentStatus
from tests.fixtures.deployments import Delivery, document, github_signature, sample

SECRET = "It's a Secret to Everybody"
SECRETS = ProviderSecrets(github_webhook_secret=SECRET)


def parse(delivery: Delivery, secrets: ProviderSecrets = SECRETS) -> NormalizedDeployment | None:
    return parse_webhook(delivery.headers, delivery.body, secrets)


def deployment_status(**changes: Any) -> Delivery:
    """The deployment_status sample with `deployment_status`/`deployment` fields replaced."""
    body = copy.deepcopy(document("github-deployment-status"))
    for path, value in changes.items():
        section, field = path.split("__")
        body[section][field] = value
    return sample("github-deployment-status", SECRETS).with_body(body, SECRETS)


def workflow_run(action: str = "completed", **run: Any) -> Delivery:
    body = copy.deepcopy(document("github-workflow-run"))
    body["action"] = action
    body["workflow_run"].update(run)
    return sample("github-workflow-run", SECRETS).with_body(body, SECRETS)


def test_the_deployment_status_sample_normalizes() -> None:
    assert parse(sample("github-deployment-status", SECRETS)) == NormalizedDeployment(
        provider="github",
        service="checkout",
        environment="production",
        version="v2.14.0",
        status=DeploymentStatus.SUCCEEDED,
        started_at=datetime(2026, 3, 2, 8, 9, 17, tzinfo=UTC),
        finished_at=datetime(2026, 3, 2, 8, 14, 52, tzinfo=UTC),
        pipeline_url="https://github.com/acme/checkout-web/actions/runs/13579246801/job/38012345678",
        commit="8d3f9a27c41e5b06d2a7f18c9e0b4d35a6c71f2e",
        change_id=UUID("3f2b9c1e-7a4d-4e8b-9f61-2c5d8e0a7b13"),
        external_id="1987654321",
    )


def test_the_workflow_run_sample_normalizes() -> None:
    assert parse(sample("github-workflow-run", SECRETS)) == NormalizedDeployment(
        provider="github",
        service="payments-api",
        environment="production",
        version="c52e8b1f04a9d73e6b2c58f1a0d94e7b3f6a1c28",
        status=DeploymentStatus.SUCCEEDED,
        started_at=datetime(2026, 3, 3, 13, 40, 9, tzinfo=UTC),
        finished_at=datetime(2026, 3, 3, 13, 47, 55, tzinfo=UTC),
        pipeline_url="https://github.com/acme/payments-api/actions/runs/13601122334",
        commit="c52e8b1f04a9d73e6b2c58f1a0d94e7b3f6a1c28",
        change_id=UUID("9b1e4d7c-2f3a-4c6b-8e5d-0a7f3c9b2e61"),
        external_id="13601122334/attempts/1",
    )


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("queued", DeploymentStatus.QUEUED),
        ("pending", DeploymentStatus.QUEUED),
        ("waiting", DeploymentStatus.QUEUED),
        ("in_progress", DeploymentStatus.IN_PROGRESS),
        ("success", DeploymentStatus.SUCCEEDED),
        ("failure", DeploymentStatus.FAILED),
        ("error", DeploymentStatus.FAILED),
    ],
)
def test_deployment_states_map_to_a_status(state: str, expected: DeploymentStatus) -> None:
    report = parse(deployment_status(deployment_status__state=state))

    assert report is not None
    assert report.status is expected
    assert (report.started_at is None) == (expected is DeploymentStatus.QUEUED)
    finished = expected in {DeploymentStatus.SUCCEEDED, DeploymentStatus.FAILED}
    assert (report.finished_at is not None) == finished


def test_an_inactive_deployment_is_ignored_not_cancelled() -> None:
    # GitHub marks the previous deployment inactive when a newer one succeeds.
    with pytest.raises(IgnoredEvent) as raised:
        parse(deployment_status(deployment_status__state="inactive"))

    assert raised.value.status == 202


def test_an_unknown_state_is_named() -> None:
    with pytest.raises(
        UnsupportedPayload, match=r"deployment_status.state is 'exploded'"
    ) as raised:
        parse(deployment_status(deployment_status__state="exploded"))

    assert raised.value.extensions["errors"][0]["loc"] == ["body", "deployment_status", "state"]


def test_without_changeward_hints_the_repository_and_ref_speak() -> None:
    change_id = "0d9c8b7a-6f5e-4d3c-8b2a-19f8e7d6c5b4"
    report = parse(
        deployment_status(
            deployment__payload={},
            deployment__description=f"Deploy main\n\nChange-Id: {change_id}",
        )
    )

    assert report is not None
    assert report.service == "checkout-web"
    assert report.change_id == UUID(change_id)


def test_a_deployment_of_the_default_branch_is_versioned_by_its_sha() -> None:
    report = parse(deployment_status(deployment__ref="main", deployment__payload="{}"))

    assert report is not None
    assert report.version == "8d3f9a27c41e5b06d2a7f18c9e0b4d35a6c71f2e"


def test_hints_given_as_a_json_string_are_read() -> None:
    hints = '{"changeward": {"service": "basket", "version": "2.14.0-rc1"}}'

    report = parse(deployment_status(deployment__payload=hints))

    assert report is not None
    assert (report.service, report.version) == ("basket", "2.14.0-rc1")


def test_the_log_url_stands_in_for_an_empty_target_url() -> None:
    report = parse(
        deployment_status(
            deployment_status__target_url="", deployment_status__log_url="https://ci.example/1"
        )
    )

    assert report is not None
    assert report.pipeline_url == "https://ci.example/1"


def test_a_malformed_change_id_hint_is_named() -> None:
    with pytest.raises(UnsupportedPayload) as raised:
        parse(deployment_status(deployment__payload={"changeward": {"change_id": "CHG-42"}}))

    assert raised.value.extensions["errors"][0]["loc"] == [
        "body",
        "deployment",
        "payload",
        "changeward",
        "change_id",
    ]


def test_missing_fields_are_all_named() -> None:
    body = copy.deepcopy(document("github-deployment-status"))
    del body["deployment"]["environment"]
    del body["repository"]
    delivery = sample("github-deployment-status", SECRETS).with_body(body, SECRETS)

    with pytest.raises(UnsupportedPayload) as raised:
        parse(delivery)

    assert "deployment.environment" in raised.value.detail
    assert "repository" in raised.value.detail
    assert raised.value.status == 422


@pytest.mark.parametrize(
    ("action", "conclusion", "expected"),
    [
        ("in_progress", None, DeploymentStatus.IN_PROGRESS),
        ("completed", "success", DeploymentStatus.SUCCEEDED),
        ("completed", "failure", DeploymentStatus.FAILED),
        ("completed", "timed_out", DeploymentStatus.FAILED),
        ("completed", "startup_failure", DeploymentStatus.FAILED),
        ("completed", "cancelled", DeploymentStatus.CANCELLED),
    ],
)
def test_workflow_run_outcomes_map_to_a_status(
    action: str, conclusion: str | None, expected: DeploymentStatus
) -> None:
    report = parse(workflow_run(action, conclusion=conclusion))

    assert report is not None
    assert report.status is expected
    assert (report.finished_at is None) == (expected is DeploymentStatus.IN_PROGRESS)


@pytest.mark.parametrize(
    ("action", "conclusion"),
    [
        ("requested", None),
        ("completed", "skipped"),
        ("completed", "neutral"),
        ("completed", "action_required"),
    ],
)
def test_workflow_runs_that_deploy_nothing_are_ignored(action: str, conclusion: str | None) -> None:
    with pytest.raises(IgnoredEvent):
        parse(workflow_run(action, conclusion=conclusion))


def test_a_completed_run_without_conclusion_is_unsupported() -> None:
    with pytest.raises(UnsupportedPayload, match="workflow_run.conclusion"):
        parse(workflow_run("completed", conclusion=None))


def test_a_run_of_a_workflow_that_is_not_a_deploy_is_ignored() -> None:
    body = copy.deepcopy(document("github-workflow-run"))
    body["workflow_run"].update(name="CI", path=".github/workflows/ci.yml")
    body["workflow"].update(name="CI", path=".github/workflows/ci.yml")
    delivery = sample("github-workflow-run", SECRETS).with_body(body, SECRETS)

    with pytest.raises(IgnoredEvent, match="not a deploy workflow"):
        parse(delivery)


def test_a_rerun_is_another_deployment_and_a_tag_is_its_version() -> None:
    report = parse(workflow_run(run_attempt=2, head_branch="v4.1.0"))

    assert report is not None
    assert (report.external_id, report.version) == ("13601122334/attempts/2", "v4.1.0")


@pytest.mark.parametrize(
    ("path", "name", "expected"),
    [
        (".github/workflows/deploy-production.yml", "whatever", "production"),
        (".github/workflows/deploy_staging.yaml", None, "staging"),
        (".github/workflows/release.yml", "Deploy to Production", "production"),
        (None, "deploy-eu-west", "eu-west"),
        (None, "Deploy: canary", "canary"),
        (".github/workflows/ci.yml", "CI", None),
        (".github/workflows/deploy.yml", "Deploy", None),
        (None, "Deployment report", None),
    ],
)
def test_the_deploy_workflow_convention(
    path: str | None, name: str | None, expected: str | None
) -> None:
    assert deploy_environment(path, name) == expected


def test_a_ping_is_acknowledged_without_a_report() -> None:
    with pytest.raises(IgnoredEvent) as raised:
        parse(sample("github-ping", SECRETS))

    assert raised.value.code == "webhook-ignored"
    assert raised.value.extensions == {"provider": "github", "event": "ping"}


def test_a_bad_signature_is_refused() -> None:
    delivery = sample("github-deployment-status", SECRETS)
    headers = {**delivery.headers, "X-Hub-Signature-256": github_signature("guess", delivery.body)}

    with pytest.raises(InvalidSignature) as raised:
        parse_webhook(headers, delivery.body, SECRETS)

    assert (raised.value.status, raised.value.code) == (401, "invalid-webhook-signature")


def test_a_body_changed_after_signing_is_refused() -> None:
    delivery = sample("github-deployment-status", SECRETS)

    with pytest.raises(InvalidSignature):
        parse_webhook(delivery.headers, delivery.body.replace(b"success", b"failure"), SECRETS)


@pytest.mark.parametrize("name", ["github-deployment-status", "github-ping"])
def test_a_missing_signature_is_refused_when_a_secret_is_set(name: str) -> None:
    unsigned = sample(name)
    assert "X-Hub-Signature-256" not in unsigned.headers

    with pytest.raises(InvalidSignature, match="missing"):
        parse(unsigned)


@pytest.mark.parametrize("header", ["sha1=abc", "sha256", "", "sha256=ünïcode", "sha256=\ud800"])
def test_a_malformed_signature_is_refused(header: str) -> None:
    delivery = sample("github-deployment-status", SECRETS)

    with pytest.raises(InvalidSignature):
        parse_webhook({**delivery.headers, "X-Hub-Signature-256": header}, delivery.body, SECRETS)


def test_without_a_secret_unsigned_deliveries_are_read() -> None:
    assert parse(sample("github-workflow-run"), ProviderSecrets()) is not None
