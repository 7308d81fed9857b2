"""deploy/k8s: every manifest validated against the Kubernetes API schemas, then the
properties an operator relies on (replicas, probes, limits, non-root, selectors).

The schemas come bundled in the kubernetes-validate package (no network at test time).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from shared.settings import SERVICES

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
# The oldest minor release still common on managed clusters, and the newest bundled.
KUBERNETES_VERSIONS = ("1.30.0", latest_version())
APPLIED_SEPARATELY = {"secret.yaml", "migrate-job.yaml"}


def _documents() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.name, document)
        for path in sorted(K8S.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


DOCUMENTS = _documents()


def _one(kind: str, name: str) -> dict[str, Any]:
    found = [d for _, d in DOCUMENTS if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(
    ("source", "document"),
    DOCUMENTS,
    ids=[f"{source}:{d['kind']}/{d['metadata']['name']}" for source, d in DOCUMENTS],
)
def test_the_manifest_is_valid_for_kubernetes(
    source: str, document: dict[str, Any], version: str
) -> None:
    # Strict: an unknown or misspelt field is an error, not silently dropped.
    kubernetes_validate.validate(document, version, strict=True)


def test_the_validator_rejects_a_misspelt_field() -> None:
    deployment = yaml.safe_load_all((K8S / "intake.yaml").read_text()).__next__()
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


def test_every_manifest_belongs_to_the_namespace_or_is_it() -> None:
    kinds = {d["kind"] for _, d in DOCUMENTS}
    assert {
        "Namespace",
        "ConfigMap",
        "Secret",
        "Job",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    } <= kinds
    for _, document in DOCUMENTS:
        if document["kind"] != "Namespace":
            assert document["metadata"]["namespace"] == "changeward", document["metadata"]


def test_the_kustomization_lists_every_manifest_but_the_secret_and_the_job() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    manifests = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == manifests - APPLIED_SEPARATELY
    assert {image["name"] for image in kustomization["images"]} == {"changeward"}


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_replicated_probed_limited_and_locked_down(service: str) -> None:
    deployment = _one("Deployment", f"changeward-{service}")
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)

    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert container["args"] == ["serve", service]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    # A read-only root needs somewhere writable for temporary files.
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {
        ref.get("configMapRef", ref.get("secretRef"))["name"] for ref in container["envFrom"]
    } == {"changeward"}
    assert not container["image"].endswith(":latest")
    assert ":" in container["image"]


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_hpa_and_pdb_point_at_the_deployment(service: str) -> None:
    name = f"changeward-{service}"
    deployment = _one("Deployment", name)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()

    exposed = _one("Service", name)
    assert exposed["spec"]["selector"] == selector
    assert exposed["spec"]["ports"][0]["targetPort"] == "http"
    assert _container(deployment)["ports"][0]["name"] == "http"

    autoscaler = _one("HorizontalPodAutoscaler", name)
    assert autoscaler["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": name,
    }
    assert autoscaler["spec"]["minReplicas"] >= 2
    assert autoscaler["spec"]["maxReplicas"] > autoscaler["spec"]["minReplicas"]

    budget = _one("PodDisruptionBudget", name)
    assert budget["spec"]["selector"]["matchLabels"] == selector
    assert budget["spec"]["minAvailable"] < deployment["spec"]["replicas"]


def test_the_migrations_job_migrates_and_the_replicas_do_not() -> None:
    job = _one("Job", "changeward-migrate")
    container = _container(job)
    assert container["args"][0] == "migrate"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    config = _one("ConfigMap", "changeward")["data"]
    assert config["CHANGEWARD_MIGRATE_ON_START"] == "false"
    images = {_container(_one("Deployment", f"changeward-{s}"))["image"] for s in SERVICES}
    assert images == {container["image"]}


def test_the_secret_holds_the_credentials_and_the_config_map_does_not() -> None:
    secret = _one("Secret", "changeward")["stringData"]
    config = _one("ConfigMap", "changeward")["data"]
    assert {"CHANGEWARD_DATABASE_URL", "CHANGEWARD_JWT_SECRET"} <= set(secret)
    assert not {"CHANGEWARD_DATABASE_URL", "CHANGEWARD_JWT_SECRET"} & set(config)
    assert int(config["CHANGEWARD_TOPIC_REPLICATION_FACTOR"]) >= 3
