"""The CLI as a pipeline runs it: gate, the CAB queue, a staged rollout, a rollback, a freeze.

Every command is the installed `changeward` run as a subprocess against a real
`changeward run` process (real PostgreSQL and Kafka); the API is called directly only to
set up an approved change and to wait for events.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.e2e.test_cli import Server, server

__all__ = ["server"]

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.slow]

T = TypeVar("T")
CHECK = "5xx rate"
ROLLBACK_STEPS = ["Revert to 2.13", "Purge the CDN cache"]


def changeward(
    server: Server, token: str, *args: str, config: Path
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CHANGEWARD_URL": server.url,
        "CHANGEWARD_TOKEN": token,
        "CHANGEWARD_CONFIG": str(config),
        "COLUMNS": "200",
    }
    command = [sys.executable, "-m", "changeward", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(server: Server, tmp_path: Path) -> Run:
    def invoke(token: str, *args: str) -> subprocess.CompletedProcess[str]:
        return changeward(server, token, *args, config=tmp_path / "absent.toml")

    return invoke


def wait_for(probe: Callable[[], T], done: Callable[[T], bool], timeout: float = 20) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not done within {timeout} s; last: {result!r}")
        time.sleep(0.2)


def change_body(service: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "title": f"Roll out {service} 2.14",
        "category": "application",
        "services": [service],
        "environment": "production",
        # The gate allows only inside the window; review refuses a window that has ended.
        "window": {
            "start": (now - timedelta(minutes=5)).isoformat(),
            "end": (now + timedelta(hours=1)).isoformat(),
        },
        "details": {
            "kind": "bug_fix",
            "repository": "github.com/acme/checkout",
            "version_from": "2.13.0",
            "version_to": "2.14.0",
            "rollout_strategy": "canary",
        },
        "plans": {
            "implementation": "Deploy 2.14 through the canary pipeline",
            "rollback": "\n".join(f"{n}. {step}" for n, step in enumerate(ROLLBACK_STEPS, 1)),
            "verification": "Error rate at each stage of the canary",
            "verification_checks": [{"name": CHECK, "kind": "metric", "expected": "< 0.1%"}],
        },
        "test_evidence": [{"suite": "e2e", "passed": 120, "failed": 0}],
        "contacts": [{"name": "Checkout on-call", "role": "on-call", "chat": "#checkout"}],
    }


class Api:
    """Direct calls that set up an approved change, and that wait on events."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.url, timeout=10)

    def headers(self, subject: str, *roles: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.server.token(subject, *roles)}"}

    def review(self, change_id: str, done: Callable[[dict[str, Any]], bool]) -> Any:
        return wait_for(
            lambda: self.http.get(
                f"/v1/reviews/{change_id}", headers=self.headers("audra", "auditor")
            ),
            lambda r: r.status_code == 200 and done(r.json()),
        ).json()

    def execution(self, change_id: str) -> Any:
        return wait_for(
            lambda: self.http.get(
                f"/v1/executions/{change_id}", headers=self.headers("audra", "auditor")
            ),
            lambda r: r.status_code == 200 and bool(r.json()["stages"]),
        ).json()

    def approved_change(self, service: str) -> str:
        created = self.http.post(
            "/v1/changes", json=change_body(service), headers=self.headers("rita", "requester")
        )
        assert created.status_code == 201, created.text
        change_id = str(created.json()["id"])
        submitted = self.http.post(
            f"/v1/changes/{change_id}/submit", headers=self.headers("rita", "requester")
        )
        assert submitted.status_code == 200, submitted.text
        self.review(change_id, lambda body: body["status"] == "pending")
        approved = self.http.post(
            f"/v1/reviews/{change_id}/approvals",
            json={"decision": "approve"},
            headers=self.headers("mona", "change_manager"),
        )
        assert approved.status_code == 201, approved.text
        self.execution(change_id)
        return change_id

    def gate(self, change_id: str, service: str) -> Any:
        params = {"change_id": change_id, "service": service, "environment": "production"}
        headers = self.headers("ci", "executor")
        return self.http.get("/v1/gate", params=params, headers=headers).json()


@pytest.fixture(scope="module")
def api(server: Server) -> Api:
    return Api(server)


def unique_service() -> str:
    return f"svc-{uuid.uuid4().hex[:10]}"


def plan(run: Run, token: str, change_id: str, *shares: int, auto_rollback: bool = True) -> None:
    """Stages without bake time, each running the change's check, and the rollback steps."""
    stages = [arg for share in shares for arg in ("--stage", str(share))]
    steps = [arg for step in ROLLBACK_STEPS for arg in ("--rollback-step", step)]
    flag = "--auto-rollback" if auto_rollback else "--no-auto-rollback"
    result = run(token, "exec", "plan", change_id, *stages, *steps, flag, "--json")
    assert result.returncode == 0, result.stderr
    execution = json.loads(result.stdout)
    assert [stage["target_percent"] for stage in execution["stages"]] == list(shares)
    assert [[c["name"] for c in stage["checks"]] for stage in execution["stages"]] == [
        [CHECK]
    ] * len(shares)


def test_the_gate_denies_until_the_change_is_approved(
    run: Run, server: Server, api: Api, tmp_path: Path
) -> None:
    service = unique_service()
    # A requester who is also a change manager: the queue never offers one's own change.
    rita = server.token(f"rita-{service}", "requester", "change_manager")
    mona = server.token(f"mona-{service}", "change_manager")
    ci = server.token("ci", "executor")
    change_file = tmp_path / "change.json"
    change_file.write_text(json.dumps(change_body(service)))

    created = run(rita, "change", "create", "-f", str(change_file), "--submit", "--json")
    assert created.returncode == 0, created.stderr
    change_id = json.loads(created.stdout)["id"]
    scope = ["--change", change_id, "--service", service, "--environment", "production"]

    denied = run(ci, "gate", *scope)
    assert denied.returncode == 3, denied.stderr
    assert "gate: DENY" in denied.stdout
    assert "[not_approved] The change is not approved" in denied.stdout

    api.review(change_id, lambda body: body["status"] == "pending")
    queue = run(mona, "review", "queue", "--json")
    assert queue.returncode == 0, queue.stderr
    assert change_id in [item["change_id"] for item in json.loads(queue.stdout)["items"]]
    table = run(mona, "review", "queue")
    assert change_id in table.stdout
    assert "awaiting you" in table.stdout
    own = run(rita, "review", "queue", "--json")
    assert own.returncode == 0, own.stderr
    assert change_id not in [item["change_id"] for item in json.loads(own.stdout)["items"]]

    approved = run(mona, "review", "approve", change_id, "-m", "canary is safe")
    assert approved.returncode == 0, approved.stderr
    api.execution(change_id)

    allowed = run(ci, "gate", *scope, "--json")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    answer = json.loads(allowed.stdout)
    assert answer["allow"] is True
    assert answer["reasons"][0]["code"] == "approved"
    assert "stage 1 (1%)" in answer["reasons"][0]["message"]
    # Without --service and --environment the gate asks about the change's own.
    text = run(ci, "gate", "--change", change_id)
    assert text.returncode == 0, text.stdout + text.stderr
    assert "gate: ALLOW" in text.stdout
    assert f"may deploy {service} to production now" in text.stdout

    elsewhere = run(ci, "gate", "--change", change_id, "--service", "web", "--environment", "dev")
    assert elsewhere.returncode == 3
    assert f"[service_not_in_change] The change covers {service}, not web." in elsewhere.stdout
    assert "[environment_mismatch] The change is for production, not dev." in elsewhere.stdout


def test_a_staged_rollout_verified_stage_by_stage(run: Run, server: Server, api: Api) -> None:
    service = unique_service()
    eddie = server.token("eddie", "executor")
    change_id = api.approved_change(service)
    plan(run, eddie, change_id, 1, 10, 50, 100)

    started = run(eddie, "exec", "start", change_id, "--json")
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout)["status"] == "in_progress"
    skipping = run(eddie, "gate", "--change", change_id, "--stage", "2")
    assert skipping.returncode == 3
    assert "[previous_stage_not_verified] Stage 1 (1%) is pending" in skipping.stdout

    for number in ("1", "2", "3", "4"):
        stage = run(eddie, "exec", "stage", change_id, number, "start")
        assert stage.returncode == 0, stage.stderr
        assert "running" in stage.stdout
        if number == "1":
            unverified = run(eddie, "exec", "stage", change_id, number, "complete")
            assert unverified.returncode == 5
            assert "(409 checks-incomplete)" in unverified.stderr
        verified = run(
            eddie, "exec", "verify", change_id, number, "--check", CHECK, "--result", "pass",
            "--value", "0.02", "--json",
        )  # fmt: skip
        assert verified.returncode == 0, verified.stderr
        [result] = json.loads(verified.stdout)["verifications"]
        assert (result["name"], result["result"], result["measured"]) == (CHECK, "pass", 0.02)
        done = run(eddie, "exec", "stage", change_id, number, "complete", "--json")
        assert done.returncode == 0, done.stderr
        stages = json.loads(done.stdout)["stages"]
        assert [s["status"] for s in stages][: int(number)] == ["completed"] * int(number)

    shown = run(eddie, "exec", "show", change_id)
    assert shown.returncode == 0, shown.stderr
    for share in ("1%", "10%", "50%", "100%"):
        assert share in shown.stdout
    assert shown.stdout.count("completed") >= 4
    completed = run(eddie, "exec", "complete", change_id, "--notes", "100% on 2.14")
    assert completed.returncode == 0, completed.stderr
    accepted = run(
        eddie, "exec", "accept", change_id, "--outcome", "successful", "--notes", "p99 240 ms",
        "--json",
    )  # fmt: skip
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["outcome"] == "successful"


def test_a_rollback_step_by_step(run: Run, server: Server, api: Api) -> None:
    service = unique_service()
    eddie = server.token("eddie", "executor")
    change_id = api.approved_change(service)
    plan(run, eddie, change_id, 10, 100, auto_rollback=False)
    assert run(eddie, "exec", "start", change_id).returncode == 0
    assert run(eddie, "exec", "stage", change_id, "1", "start").returncode == 0

    reason = "5xx at 4% after stage 1"
    rolling = run(eddie, "exec", "rollback", change_id, "--reason", reason, "--json")
    assert rolling.returncode == 0, rolling.stderr
    rollback = json.loads(rolling.stdout)["rollback"]
    assert (rollback["reason"], rollback["stage_reached"]) == (reason, 1)
    assert [step["name"] for step in rollback["steps"]] == ROLLBACK_STEPS
    # The first step starts with the rollback; the next waits for it.
    assert [step["status"] for step in rollback["steps"]] == ["running", "pending"]
    out_of_order = run(eddie, "exec", "rollback-step", change_id, "2", "start")
    assert out_of_order.returncode == 5
    assert "previous-step-not-completed" in out_of_order.stderr

    assert run(eddie, "exec", "rollback-step", change_id, "1", "complete").returncode == 0
    assert run(eddie, "exec", "rollback-step", change_id, "2", "start").returncode == 0
    step = run(eddie, "exec", "rollback-step", change_id, "2", "complete", "--json")
    assert step.returncode == 0, step.stderr
    final = json.loads(step.stdout)
    assert final["status"] == "rolled_back"
    assert [s["status"] for s in final["rollback"]["steps"]] == ["completed", "completed"]
    again = run(eddie, "exec", "rollback", change_id, "--reason", "twice")
    assert again.returncode == 5
    gate = run(eddie, "gate", "--change", change_id)
    assert gate.returncode == 3
    assert "[execution_not_active] The execution is rolled_back" in gate.stdout


def test_a_freeze_window_denies_the_gate_until_lifted(run: Run, server: Server, api: Api) -> None:
    service = unique_service()
    ci = server.token("ci", "executor")
    change_id = api.approved_change(service)
    scope = ["--change", change_id, "--service", service, "--environment", "production"]
    assert run(ci, "gate", *scope).returncode == 0

    lena = server.token("lena", "change_lead")
    freeze = run(
        lena, "freeze", "create", "--reason", "Black Friday peak", "--service", service,
        "--environment", "production", "--start", "-1m", "--end", "+1h", "--json",
    )  # fmt: skip
    assert freeze.returncode == 0, freeze.stderr
    freeze_id = json.loads(freeze.stdout)["id"]
    wait_for(lambda: api.gate(change_id, service), lambda answer: not answer["allow"])

    frozen = run(ci, "gate", *scope)
    assert frozen.returncode == 3
    assert "gate: DENY" in frozen.stdout
    assert f"[freeze_in_force] Freeze {freeze_id} until" in frozen.stdout
    assert "Black Friday peak" in frozen.stdout
    as_json = json.loads(run(ci, "gate", *scope, "--json").stdout)
    assert [r["code"] for r in as_json["reasons"] if r["blocking"]] == ["freeze_in_force"]

    lifted = run(lena, "freeze", "lift", freeze_id)
    assert lifted.returncode == 0, lifted.stderr
    assert "lifted" in lifted.stdout
    wait_for(lambda: api.gate(change_id, service), lambda answer: bool(answer["allow"]))
    thawed = run(ci, "gate", *scope)
    assert thawed.returncode == 0, thawed.stdout
    assert "gate: ALLOW" in thawed.stdout
    assert "freeze" not in thawed.stdout
