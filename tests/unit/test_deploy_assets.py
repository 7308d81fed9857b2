"""deploy/Dockerfile and deploy/compose.yaml, checked without a container engine.

The compose file is validated against the compose-spec JSON Schema that the
check-jsonschema package vendors; the Dockerfile is parsed with dockerfile-parse.
"""

from __future__ import annotations

import json
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from shared.settings import SERVICES, Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
APP_SERVICES = list(SERVICES)
VARIABLE = re.compile(r"\bCHANGEWARD_[A-Z0-9_]+\b")


@pytest.fixture(scope="module")
def dockerfile() -> DockerfileParser:
    return DockerfileParser(path=str(DOCKERFILE))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def _compose_validator() -> Validator:
    """The compose-spec schema as check-jsonschema vendors it, with the dialect it declares."""
    vendored = files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    schema = json.loads(vendored.read_text())
    validator: Validator = validator_for(schema)(schema)
    return validator


def _instructions(parser: DockerfileParser, name: str) -> list[str]:
    return [i["value"] for i in parser.structure if i["instruction"] == name]


def _final_stage(parser: DockerfileParser) -> list[dict[str, Any]]:
    last_from = max(i for i, ins in enumerate(parser.structure) if ins["instruction"] == "FROM")
    return list(parser.structure[last_from:])


def _unpinned(image: str) -> bool:
    name = image.split("@")[0]
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""
    return "@sha256:" not in image and tag in ("", "latest")


def test_the_dockerfile_is_multi_stage_on_a_pinned_python_3_11_slim(
    dockerfile: DockerfileParser,
) -> None:
    assert dockerfile.is_multistage
    assert len(dockerfile.parent_images) >= 2
    for image in dockerfile.parent_images:
        assert image.startswith("python:3.11-slim"), image
        assert not _unpinned(image), image


def test_the_image_runs_as_a_non_root_user(dockerfile: DockerfileParser) -> None:
    users = [i["value"] for i in _final_stage(dockerfile) if i["instruction"] == "USER"]
    assert users, "the runtime stage sets no USER, so it runs as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    uid = next(
        line["value"].split("=", 1)[1]
        for line in _final_stage(dockerfile)
        if line["instruction"] == "ARG" and line["value"].startswith("UID=")
    )
    assert user == "${UID}"
    assert int(uid) >= 10000  # clear of host system and login users


def test_the_image_runs_changeward_with_a_health_check(dockerfile: DockerfileParser) -> None:
    final = _final_stage(dockerfile)
    entrypoint = [i["value"] for i in final if i["instruction"] == "ENTRYPOINT"]
    command = [i["value"] for i in final if i["instruction"] == "CMD"]
    assert json.loads(entrypoint[-1]) == ["changeward"]
    assert json.loads(command[-1]) == ["serve", "intake"]
    healthchecks = [i["value"] for i in final if i["instruction"] == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    assert "/app/healthcheck.py" in healthchecks[0]
    assert "EXPOSE" in {i["instruction"] for i in final}
    env = dockerfile.envs
    assert env["CHANGEWARD_HOST"] == "0.0.0.0"
    assert _instructions(dockerfile, "EXPOSE")[-1] == env["CHANGEWARD_PORT"]


def test_everything_the_dockerfile_copies_exists(dockerfile: DockerfileParser) -> None:
    for value in _instructions(dockerfile, "COPY"):
        parts = [part for part in value.split() if not part.startswith("--")]
        if any(part.startswith("--from") for part in value.split()):
            continue
        for source in parts[:-1]:
            assert (REPO / source).exists(), f"COPY {source}: not in the build context"
    # migrations/ is not inside a package, so the runtime must copy it.
    copied = " ".join(_instructions(dockerfile, "COPY"))
    assert "migrations" in copied


def test_the_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    errors = [
        f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in _compose_validator().iter_errors(compose)
    ]
    assert errors == []


def test_the_compose_schema_check_catches_mistakes(compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["intake"]["depends_on"]["kafka"]["condition"] = "service_ready"
    broken["services"]["review"]["helthcheck"] = {}
    errors = [
        "/".join(str(p) for p in e.absolute_path) for e in _compose_validator().iter_errors(broken)
    ]
    assert "services/intake/depends_on" in errors
    assert "services/review" in errors


def test_compose_runs_the_four_services_after_the_migrations_job(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert {"postgres", "kafka", "migrate", *APP_SERVICES} <= set(services)
    assert services["migrate"]["command"][0] == "migrate"
    assert services["migrate"]["restart"] == "no"
    for name in APP_SERVICES:
        service = services[name]
        assert service["command"] == ["serve", name]
        assert service["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "kafka": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }
        assert "/readyz" in service["healthcheck"]["test"]
        assert service["read_only"] is True
        assert service["environment"]["CHANGEWARD_MIGRATE_ON_START"] == "false"
    for name in ("postgres", "kafka"):
        assert services[name]["healthcheck"]["test"]
    # The audit ledger's signing key must survive a restart: its data folder is a volume.
    audit = services["audit"]
    assert f"audit-data:{audit['environment']['CHANGEWARD_DATA_DIR']}" in audit["volumes"]
    assert audit["environment"]["CHANGEWARD_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"


def test_compose_runs_kafka_in_kraft_mode_and_pins_every_image(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert set(kafka["environment"]["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "ZOOKEEPER" not in json.dumps(kafka).upper()
    for name, service in compose["services"].items():
        image = service["image"]
        if image.startswith("${"):
            assert "build" in service, name
            continue
        assert not _unpinned(image), f"{name}: {image}"


def test_every_changeward_variable_in_the_deploy_assets_is_a_setting() -> None:
    known = {f"CHANGEWARD_{name.upper()}" for name in Settings.model_fields}
    sources = [DOCKERFILE, COMPOSE, *sorted((DEPLOY / "k8s").glob("*.yaml"))]
    used = {
        variable: source.name
        for source in sources
        for variable in VARIABLE.findall(source.read_text())
    }
    assert len(used) >= 5
    unknown = {variable: where for variable, where in used.items() if variable not in known}
    assert unknown == {}


def test_every_deploy_path_the_readme_names_exists() -> None:
    readme = (REPO / "README.md").read_text()
    deploying = readme.split("## Deploying", 1)[1].split("\n## ", 1)[0]
    paths = set(re.findall(r"\bdeploy/[\w./-]*[\w/]", deploying))
    assert {"deploy/Dockerfile", "deploy/compose.yaml", "deploy/k8s/migrate-job.yaml"} <= paths
    missing = sorted(path for path in paths if not (REPO / path).exists())
    assert missing == []
