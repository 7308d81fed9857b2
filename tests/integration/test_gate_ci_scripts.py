"""The CI script the GitHub action and GitLab template embed, run with sh against a server."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from shared.contracts import ChangeApproved, EventType, ImpactLevel, Window
from tests.conftest import fresh_database
from tests.integration.test_execution_support import (
    PLANS,
    publish_as_review,
    quick_plan,
    replace_plan,
    unique_service,
)
from tests.support.clients import Tokens, eventually, fetch, scalar
from tests.support.processes import changeward_process

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "ci" / "changeward-ci.sh"


@pytest.fixture(scope="module")
def server(
    pg_server: str, jwt_secret: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """A `changeward run` process on its own database: (base URL, database URL)."""
    workdir = tmp_path_factory.mktemp("ci-scripts")
    database_url = asyncio.run(fresh_database(pg_server, migrated=False))
    env = {
        "CHANGEWARD_DATABASE_URL": database_url,
        "CHANGEWARD_JWT_SECRET": jwt_secret,
        "CHANGEWARD_DATA_DIR": str(workdir),
        "CHANGEWARD_RELAY_IDLE_POLL_SECONDS": "0.2",
    }
    with changeward_process(["run"], env, workdir / "run.log") as base_url:
        yield base_url, database_url


def _run(base_url: str, token: str, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "CHANGEWARD_URL": base_url}
    env["CHANGEWARD_TOKEN"] = token
    env |= {f"CHANGEWARD_{name.upper()}": value for name, value in variables.items()}
    return subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)


async def test_a_pipeline_walks_a_rollout_with_the_script(
    server: tuple[str, str], tokens: Tokens, tmp_path: Path
) -> None:
    base_url, database_url = server
    token = tokens.headers("ci-bot", "executor", "requester")["Authorization"].split()[1]
    service = unique_service()
    now = datetime.now(UTC)
    window = {
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(hours=3)).isoformat(),
    }
    change_file = tmp_path / "change.json"
    change_file.write_text(
        json.dumps(
            {
                "title": f"Deploy {service} 2.14",
                "category": "application",
                "services": [service],
                "environment": "production",
                "window": window,
                "plans": PLANS,
            }
        )
    )
    run = await asyncio.to_thread(
        _run, base_url, token, step="create", change_file=str(change_file)
    )
    assert run.returncode == 0, run.stderr
    change_id = run.stdout.strip().rsplit("change-id=", 1)[1]
    await eventually(
        lambda: scalar(
            database_url,
            "SELECT count(*) FROM execution.planned_change WHERE change_id = $1",
            UUID(change_id),
        ),
        lambda count: count == 1,
    )
    await publish_as_review(
        database_url,
        EventType.CHANGE_APPROVED,
        subject=change_id,
        data=ChangeApproved(
            impact_level=ImpactLevel.IMPORTANT,
            approvers=["mona"],
            services=[service],
            environment="production",
            window=Window.model_validate(window),
        ),
    )
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers) as client:
        await eventually(
            lambda: client.get(f"/v1/executions/{change_id}"),
            lambda response: response.status_code == 200,
        )
        planned = await replace_plan(client, change_id, quick_plan(10, 100))
        assert planned.status_code == 200, planned.text

    common = {
        "change_id": change_id,
        "service": service,
        "environment": "production",
        "pipeline_url": "https://ci.example.com/runs/7",
    }
    denied = await asyncio.to_thread(_run, base_url, token, step="start", stage="2", **common)
    assert denied.returncode == 1
    assert "DENY previous_stage_not_verified" in denied.stdout
    assert "allow=false" in denied.stdout
    assert "the gate denies this deploy" in denied.stderr

    results = json.dumps(
        [
            {"name": "5xx rate", "result": "pass", "measured": 0.02},
            {"name": "checkout smoke", "result": "pass", "measured": "42/42"},
        ]
    )
    for stage in ("1", "2"):
        for step, extra in (("start", {}), ("verify", {"results": results}), ("complete", {})):
            done = await asyncio.to_thread(
                _run, base_url, token, step=step, stage=stage, **common, **extra
            )
            assert done.returncode == 0, (step, stage, done.stdout, done.stderr)
        assert f"stage {stage} completed" in done.stdout
    finished = await asyncio.to_thread(_run, base_url, token, step="finish", **common)
    assert finished.returncode == 0, finished.stderr

    checks = await fetch(
        database_url,
        "SELECT allow, stage, pipeline_url FROM execution.gate_check WHERE change_id = $1 "
        "ORDER BY asked_at",
        UUID(change_id),
    )
    assert [(row["allow"], row["stage"]) for row in checks] == [(False, 2), (True, 1), (True, 2)]
    assert {row["pipeline_url"] for row in checks} == {"https://ci.example.com/runs/7"}
    status = await scalar(
        database_url, "SELECT status FROM execution.execution WHERE change_id = $1", UUID(change_id)
    )
    assert status == "completed"


async def test_a_refused_call_fails_the_job_with_the_reason(
    server: tuple[str, str], tokens: Tokens
) -> None:
    base_url, _ = server
    token = tokens.headers("ci-bot", "executor")["Authorization"].split()[1]
    missing = await asyncio.to_thread(
        _run,
        base_url,
        token,
        step="verify",
        change_id="00000000-0000-0000-0000-000000000000",
        stage="1",
        results='[{"name": "5xx rate", "result": "fail"}]',
    )
    assert missing.returncode == 1
    assert "HTTP 409" in missing.stderr
    assert "not approved" in missing.stderr
