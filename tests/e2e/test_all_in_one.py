"""The all-in-one mode as a newcomer runs it: embedded PostgreSQL, data kept across restarts,
and the README's walkthrough working as written."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from shared.embedded_postgres import EmbeddedPostgres, free_port
from tests.support.clients import CHANGE_BODY, Tokens
from tests.support.infra import REPO
from tests.support.processes import changeward_process

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _embedded_env(data_dir: Path, jwt_secret: str) -> dict[str, str]:
    return {
        "CHANGEWARD_DATA_DIR": str(data_dir),
        "CHANGEWARD_JWT_SECRET": jwt_secret,
        "CHANGEWARD_EMBEDDED_POSTGRES_PORT": str(free_port()),
        # The embedded database is the point here, whatever the outer environment says.
        "CHANGEWARD_DATABASE_URL": "",
        "CHANGEWARD_KAFKA_BOOTSTRAP_SERVERS": "",
    }


def test_embedded_data_survives_a_restart(tmp_path: Path, jwt_secret: str, tokens: Tokens) -> None:
    env = _embedded_env(tmp_path / "data", jwt_secret)
    headers = tokens.headers("rita", "requester")
    with changeward_process(["run"], env, tmp_path / "first.log") as base:
        created = httpx.post(f"{base}/v1/changes", json=CHANGE_BODY, headers=headers, timeout=10)
        assert created.status_code == 201
        change_id = created.json()["id"]
    assert (tmp_path / "data" / "postgres" / "PG_VERSION").exists()
    # Stopping Changeward (SIGTERM) stops its embedded PostgreSQL too.
    assert not EmbeddedPostgres(tmp_path / "data" / "postgres").is_running()

    with changeward_process(["run"], env, tmp_path / "second.log") as base:
        again = httpx.get(f"{base}/v1/changes/{change_id}", headers=headers, timeout=10)
        assert again.status_code == 200
        assert again.json()["title"] == CHANGE_BODY["title"]


def test_the_readme_walkthrough_runs(tmp_path: Path, jwt_secret: str) -> None:
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    walkthrough = next(block for block in blocks if "/v1/changes" in block)
    env = _embedded_env(tmp_path / "data", jwt_secret)
    with changeward_process(["run"], env, tmp_path / "run.log") as base:
        script = walkthrough.replace("cw=http://127.0.0.1:8080", f"cw={base}")
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=REPO,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    assert '"accepted"' in result.stdout
    assert '"ok": true' in result.stdout
    assert '"change.accepted"' in result.stdout
