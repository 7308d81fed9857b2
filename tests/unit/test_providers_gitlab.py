"""GitLab Deployment Hook deliveries, authenticated with X-Gitlab-Token."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
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
from shared.contracts import DeploymentStatus
from tests.fixtures.deployments import Delivery, document, sample

TOKEN = "glpat-webhook-7f3a"
SECRETS = ProviderSecrets(gitlab_token=TOKEN)
FULL_SHA = "4be71c0d9a2e83f5b61c7d04e9a3f28b5c1d6e70"
CHANGED_AT = datetime(2026, 3, 4, 10, 22, 41, tzinfo=timezone(timedelta(hours=1)))


def parse(delivery: Delivery, secrets: ProviderSecrets = SECRETS) -> NormalizedDeployment | None:
    return parse_webhook(delivery.headers, delivery.body, secrets)


def hook(**changes: Any) -> Delivery:
    body = copy.deepcopy(document("gitlab-deployment"))
    body.update(changes)
    return sample("gitlab-deployment", SECRETS).with_body(body, SECRETS)


def test_the_sample_normalizes() -> None:
    assert parse(sample("gitlab-deployment", SECRETS)) == NormalizedDeployment(
        provider="gitlab",
        service="inventory-service",
        environment="production",
        version=FULL_SHA,
        status=DeploymentStatus.SUCCEEDED,
        started_at=None,
        finished_at=CHANGED_AT,
        pipeline_url="https://gitlab.acme.example/acme/platform/inventory-service/-/jobs/5561823",
        commit=FULL_SHA,
        change_id=UUID("c4d2a8e1-5b7f-4a3c-9d6e-1f8b2c7a4e95"),
        external_id="90412",
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("created", DeploymentStatus.QUEUED),
        ("blocked", DeploymentStatus.QUEUED),
        ("running", DeploymentStatus.IN_PROGRESS),
        ("success", DeploymentStatus.SUCCEEDED),
        ("failed", DeploymentStatus.FAILED),
        ("canceled", DeploymentStatus.CANCELLED),
    ],
)
def test_statuses_map_and_place_the_change_time(status: str, expected: DeploymentStatus) -> None:
    report = parse(hook(status=status))

    assert report is not None
    assert report.status is expected
    running = expected is DeploymentStatus.IN_PROGRESS
    queued = expected is DeploymentStatus.QUEUED
    assert report.started_at == (CHANGED_AT if running else None)
    assert report.finished_at == (None if running or queued else CHANGED_AT)


@pytest.mark.parametrize("status", ["approved", "rejected"])
def test_approval_decisions_are_ignored(status: str) -> None:
    with pytest.raises(IgnoredEvent):
        parse(hook(status=status))


def test_an_unknown_status_is_named() -> None:
    with pytest.raises(UnsupportedPayload, match="status is 'paused'"):
        parse(hook(status="paused"))


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2026-03-04 09:22:41 UTC", datetime(2026, 3, 4, 9, 22, 41, tzinfo=UTC)),
        ("2026-03-04T09:22:41.000Z", datetime(2026, 3, 4, 9, 22, 41, tzinfo=UTC)),
        ("2026-03-04 10:22:41 +0100", CHANGED_AT),
        ("2026-03-04 09:22:41", datetime(2026, 3, 4, 9, 22, 41, tzinfo=UTC)),
    ],
)
def test_gitlab_timestamps_are_read_in_every_documented_form(
    written: str, expected: datetime
) -> None:
    report = parse(hook(status_changed_at=written))

    assert report is not None
    assert report.finished_at == expected


def test_an_unreadable_timestamp_is_named() -> None:
    with pytest.raises(UnsupportedPayload) as raised:
        parse(hook(status_changed_at="yesterday at noon"))

    assert raised.value.extensions["errors"][0]["loc"] == ["body", "status_changed_at"]


def test_an_api_created_deployment_has_no_job_and_a_short_sha() -> None:
    report = parse(hook(deployable_url=None, commit_url=None, deployment_id=None))

    assert report is not None
    assert (report.pipeline_url, report.commit, report.version) == (None, "4be71c0d", "4be71c0d")
    assert report.external_id is None


def test_a_ref_other_than_the_default_branch_is_the_version() -> None:
    assert (report := parse(hook(ref="v3.2.0"))) is not None
    assert report.version == "v3.2.0"
    assert (report := parse(hook(ref="main"))) is not None
    assert report.version == FULL_SHA


def test_a_body_that_is_not_a_deployment_is_unsupported() -> None:
    with pytest.raises(UnsupportedPayload, match="object_kind is 'build'"):
        parse(hook(object_kind="build"))


def test_a_blank_environment_is_named() -> None:
    with pytest.raises(UnsupportedPayload) as raised:
        parse(hook(environment="  "))

    assert raised.value.extensions["errors"][0]["loc"] == ["body", "environment"]


def test_other_gitlab_events_are_ignored() -> None:
    delivery = sample("gitlab-deployment", SECRETS)

    with pytest.raises(IgnoredEvent):
        parse_webhook({**delivery.headers, "X-Gitlab-Event": "Pipeline Hook"}, b"{}", SECRETS)


@pytest.mark.parametrize("token", [None, "", "glpat-webhook-7f3b", "glpat-webhook-7f3a\x00"])
def test_a_missing_or_wrong_token_is_refused(token: str | None) -> None:
    headers = dict(sample("gitlab-deployment").headers)
    if token is not None:
        headers["X-Gitlab-Token"] = token

    with pytest.raises(InvalidSignature) as raised:
        parse_webhook(headers, sample("gitlab-deployment").body, SECRETS)

    assert raised.value.status == 401


def test_the_token_is_checked_before_the_body_is_read() -> None:
    with pytest.raises(InvalidSignature):
        parse_webhook({"X-Gitlab-Event": "Deployment Hook"}, b"not json", SECRETS)


def test_without_a_configured_token_any_delivery_is_read() -> None:
    assert parse(sample("gitlab-deployment"), ProviderSecrets()) is not None
