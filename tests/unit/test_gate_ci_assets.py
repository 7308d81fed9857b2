"""The CI integrations in deploy/ci: valid YAML, the inputs they need, the one script they run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

CI = Path(__file__).resolve().parents[2] / "deploy" / "ci"
SCRIPT = (CI / "changeward-ci.sh").read_text()


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def test_the_github_action_is_a_composite_action_with_its_required_inputs() -> None:
    action = _load(CI / "github" / "action.yml")
    assert action["runs"]["using"] == "composite"
    required = {name for name, spec in action["inputs"].items() if spec.get("required")}
    assert required == {"url", "token", "step"}
    assert set(action["inputs"]) >= {"change-id", "change-file", "service", "stage", "results"}
    assert set(action["outputs"]) == {"change-id", "allow"}
    (step,) = action["runs"]["steps"]
    assert step["shell"] == "sh"
    assert step["run"] == SCRIPT
    # Inputs reach the script only through the environment, never pasted into it.
    assert "${{" not in step["run"]
    assert all(value.startswith("${{ inputs.") for value in step["env"].values())


def test_the_gitlab_template_is_a_hidden_job_running_the_same_script() -> None:
    template = _load(CI / "gitlab" / "changeward.gitlab-ci.yml")
    assert list(template) == [".changeward"]
    job = template[".changeward"]
    assert job["script"] == [SCRIPT]
    assert "curl" in job["before_script"][0]
    assert "jq" in job["before_script"][0]


def test_the_script_uses_only_curl_and_jq_and_is_posix_sh() -> None:
    dash = shutil.which("dash") or shutil.which("sh")
    assert dash is not None
    checked = subprocess.run([dash, "-n", str(CI / "changeward-ci.sh")], capture_output=True)
    assert checked.returncode == 0, checked.stderr
    assert "python" not in SCRIPT
    assert "changeward " not in SCRIPT.replace("changeward: ", "")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "CHANGEWARD_URL"),
        ({"CHANGEWARD_URL": "http://x", "CHANGEWARD_TOKEN": "t"}, "CHANGEWARD_STEP"),
        (
            {"CHANGEWARD_URL": "http://x", "CHANGEWARD_TOKEN": "t", "CHANGEWARD_STEP": "gate"},
            "CHANGEWARD_CHANGE_ID",
        ),
    ],
)
def test_the_script_names_what_is_missing(env: dict[str, str], message: str) -> None:
    result = subprocess.run(
        ["sh", str(CI / "changeward-ci.sh")],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert message in result.stderr
