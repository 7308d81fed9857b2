"""Argo CD notifications: the template we ship, and how its body is normalized."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import yaml

from services.intake.providers import (
    InvalidSignature,
    NormalizedDeployment,
    ProviderSecrets,
    UnsupportedPayload,
    parse_webhook,
)
from shared.contracts import DeploymentStatus
from tests.fixtures.deployments import document, sample

TEMPLATE_FILE = Path(__file__).parents[2] / "deploy" / "ci" / "argocd-notifications.yaml"
TOKEN = "argo-webhook-token"
SECRETS = ProviderSecrets(argocd_token=TOKEN)

# The two constructs the shipped template uses: `{{.path}}` and `{{toJson .path}}`.
_ACTION = re.compile(r"\{\{\s*(toJson\s+)?\.([\w.]+)\s*\}\}")


def render_go_template(template: str, variables: dict[str, Any]) -> str:
    """Render as Argo CD does: a missing value prints `<no value>`, toJson prints null."""

    def value(match: re.Match[str]) -> str:
        found: Any = variables
        for key in match[2].split("."):
            found = found.get(key) if isinstance(found, dict) else None
        if match[1]:
            return json.dumps(found, separators=(",", ":"), sort_keys=True)  # as Go encodes
        return "<no value>" if found is None else str(found)

    return _ACTION.sub(value, template)


def shipped_body_template() -> str:
    config_map = next(yaml.safe_load_all(TEMPLATE_FILE.read_text()))
    template = yaml.safe_load(config_map["data"]["template.changeward-deployment"])
    body: str = template["webhook"]["changeward"]["body"]
    return body


def rendered(application: dict[str, Any]) -> bytes:
    variables = {"app": application, "context": {"argocdUrl": "https://argocd.acme.example"}}
    return render_go_template(shipped_body_template(), variables).encode()


def notify(body: bytes, *, token: str | None = TOKEN) -> NormalizedDeployment | None:
    headers = {"X-Changeward-Source": "argocd", "Content-Type": "application/json"}
    if token is not None:
        headers["X-Changeward-Webhook-Token"] = token
    return parse_webhook(headers, body, SECRETS)


def application(**status: Any) -> dict[str, Any]:
    app = copy.deepcopy(document("argocd-application"))
    for path, value in status.items():
        *parents, leaf = path.split("__")
        node = app
        for key in parents:
            node = node[key]
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return app


def test_the_shipped_template_renders_the_sample_notification() -> None:
    assert json.loads(rendered(document("argocd-application"))) == document("argocd-notification")


def test_the_sample_notification_normalizes() -> None:
    delivery = sample("argocd-notification", SECRETS)

    assert parse_webhook(delivery.headers, delivery.body, SECRETS) == NormalizedDeployment(
        provider="argocd",
        service="orders",
        environment="production",
        version="a17c4e9b03d58f26e1b7c4a9d0e35f82b6c91d47",
        status=DeploymentStatus.SUCCEEDED,
        started_at=datetime(2026, 3, 5, 16, 2, 10, tzinfo=UTC),
        finished_at=datetime(2026, 3, 5, 16, 2, 48, tzinfo=UTC),
        pipeline_url="https://argocd.acme.example/applications/argocd/orders-production",
        commit="a17c4e9b03d58f26e1b7c4a9d0e35f82b6c91d47",
        change_id=UUID("6a1f3e8d-9c2b-4d5e-8f7a-3b4c1d2e9f60"),
        external_id="argocd/orders-production@2026-03-05T16:02:10+00:00",
    )


@pytest.mark.parametrize(
    ("phase", "health", "expected"),
    [
        ("Running", "Progressing", DeploymentStatus.IN_PROGRESS),
        ("Terminating", "Healthy", DeploymentStatus.IN_PROGRESS),
        ("Failed", "Healthy", DeploymentStatus.FAILED),
        ("Error", "Degraded", DeploymentStatus.FAILED),
        ("Succeeded", "Healthy", DeploymentStatus.SUCCEEDED),
        ("Succeeded", "Degraded", DeploymentStatus.FAILED),
        ("Succeeded", "Progressing", DeploymentStatus.IN_PROGRESS),
        ("Succeeded", "Suspended", DeploymentStatus.IN_PROGRESS),
        ("Succeeded", "Missing", DeploymentStatus.IN_PROGRESS),
    ],
)
def test_phase_and_health_map_to_a_status(
    phase: str, health: str, expected: DeploymentStatus
) -> None:
    app = application(status__operationState__phase=phase, status__health__status=health)

    report = notify(rendered(app))

    assert report is not None
    assert report.status is expected
    assert (report.finished_at is not None) == (expected is not DeploymentStatus.IN_PROGRESS)


def test_a_running_sync_has_no_finish_yet() -> None:
    running = application(
        status__operationState__phase="Running", status__operationState__finishedAt=None
    )

    report = notify(rendered(running))

    assert report is not None
    assert report.status is DeploymentStatus.IN_PROGRESS
    assert report.started_at == datetime(2026, 3, 5, 16, 2, 10, tzinfo=UTC)
    assert report.finished_at is None


def test_an_application_without_labels_cannot_name_its_environment() -> None:
    unlabelled = application(metadata__labels=None)

    with pytest.raises(UnsupportedPayload) as raised:
        notify(rendered(unlabelled))

    assert "changeward.dev/environment" in raised.value.detail
    assert raised.value.extensions["errors"][0]["loc"] == [
        "body",
        "labels",
        "changeward.dev/environment",
    ]


def test_service_defaults_to_the_application_name() -> None:
    app = application()
    del app["metadata"]["labels"]["changeward.dev/service"]

    report = notify(rendered(app))

    assert report is not None
    assert report.service == "orders-production"


def test_a_malformed_change_id_annotation_is_named() -> None:
    app = application()
    app["metadata"]["annotations"]["changeward.dev/change-id"] = "CHG-1234"

    with pytest.raises(UnsupportedPayload) as raised:
        notify(rendered(app))

    assert raised.value.extensions["errors"][0]["loc"] == [
        "body",
        "labels",
        "changeward.dev/change-id",
    ]


def test_an_unknown_phase_is_unsupported() -> None:
    app = application(status__operationState__phase="Exploded")

    with pytest.raises(UnsupportedPayload, match="operation_phase is 'Exploded'"):
        notify(rendered(app))


def test_a_helm_revision_is_a_version_but_not_a_commit() -> None:
    app = application()
    app["status"]["operationState"]["syncResult"]["revision"] = "5.8.1"

    report = notify(rendered(app))

    assert report is not None
    assert (report.version, report.commit) == ("5.8.1", None)


@pytest.mark.parametrize("token", [None, "", "argo-webhook-tokeN", "argo-webhook-token "])
def test_a_missing_or_wrong_token_is_refused(token: str | None) -> None:
    with pytest.raises(InvalidSignature):
        notify(rendered(application()), token=token)


def test_without_a_configured_token_any_notification_is_read() -> None:
    body = rendered(application())

    report = parse_webhook({"x-changeward-source": "ArgoCD"}, body, ProviderSecrets())

    assert report is not None
    assert report.provider == "argocd"


def test_another_source_is_not_argo_cd() -> None:
    body = rendered(application())

    assert parse_webhook({"X-Changeward-Source": "jenkins"}, body, SECRETS) is None
