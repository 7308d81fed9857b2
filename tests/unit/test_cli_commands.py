"""CLI commands whose server side is still being built (gate, stages, verifications, rollback,
the CAB queue), against a small local fake server that answers what the issues specify."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner, Result

from changeward.cli import app

CHANGE = "6f1c1d2e-7a3b-4c5d-8e9f-0a1b2c3d4e5f"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeServer:
    url: str = ""
    # (method, path) -> answers, served in order; the last one repeats.
    answers: dict[tuple[str, str], list[tuple[int, Any]]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)

    def answer(self, method: str, path: str, *responses: tuple[int, Any]) -> None:
        self.answers[(method, path)] = list(responses)


def _handler(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            fake.requests.append(
                Recorded(
                    self.command,
                    url.path,
                    parse_qs(url.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    json.loads(raw) if raw else None,
                )
            )
            queue = fake.answers.get((self.command, url.path))
            status, body = (queue.pop(0) if len(queue) > 1 else queue[0]) if queue else (404, None)
            if body is None:
                body = {
                    "type": "about:blank",
                    "title": "Not Found",
                    "status": 404,
                    "code": "not-found",
                }
            payload = json.dumps(body).encode()
            self.send_response(status)
            kind = "application/problem+json" if status >= 400 else "application/json"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _serve

    return Handler


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    state = FakeServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def cli(fake: FakeServer, tmp_path: Path) -> Any:
    def invoke(*args: str) -> Result:
        env = {
            "CHANGEWARD_URL": fake.url,
            "CHANGEWARD_TOKEN": "t0ken",
            "CHANGEWARD_CONFIG": str(tmp_path / "absent.toml"),
        }
        return CliRunner().invoke(app, list(args), env=env)

    return invoke


DENY: dict[str, Any] = {
    "allow": False,
    "reasons": [
        {"code": "freeze", "message": "Freeze 'Black Friday' until 2026-11-30T00:00:00Z."},
        {"code": "conflict", "message": "Change 42 is in progress on checkout in production."},
    ],
    "next_allowed_at": "2026-11-30T00:00:00Z",
}
ALLOW = {"allow": True, "reasons": [{"code": "approved", "message": "Approved."}]}


def test_gate_allows_with_exit_0_and_sends_every_criterion(cli: Any, fake: FakeServer) -> None:
    fake.answer("GET", "/v1/gate", (200, ALLOW))
    args = ["--service", "checkout", "--environment", "production", "--stage", "2"]
    result = cli("gate", "--change", CHANGE, *args)
    assert result.exit_code == 0, result.output
    assert "ALLOW" in result.stdout
    (request,) = fake.requests
    assert request.query == {
        "change_id": [CHANGE],
        "service": ["checkout"],
        "environment": ["production"],
        "stage": ["2"],
    }
    assert request.headers["authorization"] == "Bearer t0ken"


def test_gate_denies_with_exit_3_printing_every_reason(cli: Any, fake: FakeServer) -> None:
    fake.answer("GET", "/v1/gate", (200, DENY))
    scope = ["--service", "checkout", "--environment", "production"]
    result = cli("gate", "--change", CHANGE, *scope)
    assert result.exit_code == 3
    assert "DENY" in result.stdout
    for reason in DENY["reasons"]:
        assert f"[{reason['code']}] {reason['message']}" in result.stdout
    assert "next allowed at 2026-11-30T00:00:00Z" in result.stdout
    as_json = cli("gate", "--change", CHANGE, *scope, "--json")
    assert as_json.exit_code == 3
    assert json.loads(as_json.stdout) == DENY


def test_gate_waits_until_allowed(cli: Any, fake: FakeServer) -> None:
    fake.answer("GET", "/v1/gate", (200, DENY), (200, ALLOW))
    scope = ["--service", "checkout", "--environment", "production"]
    result = cli("gate", "--change", CHANGE, *scope, "--wait", "30s", "--interval", "1s")
    assert result.exit_code == 0, result.output
    assert len(fake.requests) == 2
    assert "asking again" in result.stderr


def test_gate_on_a_server_without_it_is_not_found(cli: Any, fake: FakeServer) -> None:
    result = cli("gate", "--change", CHANGE)
    assert result.exit_code == 4
    assert result.stderr.startswith("error: Not Found")


@pytest.mark.parametrize("action", ["start", "complete"])
def test_exec_stage_posts_the_action_with_an_idempotency_key(
    cli: Any, fake: FakeServer, action: str
) -> None:
    path = f"/v1/executions/{CHANGE}/stages/2/{action}"
    fake.answer("POST", path, (200, {"change_id": CHANGE, "status": "in_progress"}))
    result = cli("exec", "stage", CHANGE, "2", action)
    assert result.exit_code == 0, result.output
    assert "in_progress" in result.stdout
    (request,) = fake.requests
    assert (request.method, request.path) == ("POST", path)
    assert len(request.headers["idempotency-key"]) == 36


def test_exec_stage_rejects_an_unknown_action_or_stage(cli: Any, fake: FakeServer) -> None:
    assert cli("exec", "stage", CHANGE, "2", "finish").exit_code == 2
    assert cli("exec", "stage", CHANGE, "0", "start").exit_code == 2
    assert fake.requests == []


def test_exec_verify_sends_the_result(cli: Any, fake: FakeServer, tmp_path: Path) -> None:
    path = f"/v1/executions/{CHANGE}/stages/1/verifications"
    fake.answer("POST", path, (201, {"change_id": CHANGE, "status": "in_progress"}))
    args = ["--check", "p99", "--result", "fail", "--value", "900ms", "--notes", "too slow"]
    result = cli("exec", "verify", CHANGE, "1", *args)
    assert result.exit_code == 0, result.output
    assert fake.requests[0].body == {
        "results": [{"name": "p99", "result": "fail", "measured": "900ms", "notes": "too slow"}]
    }
    results = tmp_path / "results.yaml"
    results.write_text("results:\n  - {name: smoke, kind: smoke_test, result: pass}\n")
    args = ["--file", str(results), "--check", "error_rate", "--result", "warn", "--value", "0.5"]
    from_file = cli("exec", "verify", CHANGE, "1", *args)
    assert from_file.exit_code == 0, from_file.output
    assert fake.requests[1].body == {
        "results": [
            {"name": "smoke", "kind": "smoke_test", "result": "pass"},
            {"name": "error_rate", "result": "warn", "measured": 0.5},
        ]
    }


def test_exec_verify_needs_a_check_and_a_known_result(cli: Any, fake: FakeServer) -> None:
    assert cli("exec", "verify", CHANGE, "1", "--check", "p99").exit_code == 2
    assert cli("exec", "verify", CHANGE, "1", "--check", "p99", "--result", "ok").exit_code == 2
    assert fake.requests == []


def test_exec_shows_the_stages_of_the_rollout(cli: Any, fake: FakeServer) -> None:
    stages = [
        {"number": 1, "name": "canary", "target_percent": 1.0, "status": "completed"},
        {"number": 2, "name": "early", "target_percent": 10.0, "status": "running"},
    ]
    body = {"change_id": CHANGE, "status": "in_progress", "stages": stages}
    fake.answer("GET", f"/v1/executions/{CHANGE}", (200, body))
    result = cli("exec", "show", CHANGE)
    assert result.exit_code == 0, result.output
    assert "canary" in result.stdout
    assert "10%" in result.stdout
    assert "running" in result.stdout


@pytest.mark.parametrize("action", ["start", "complete"])
def test_exec_rollback_step(cli: Any, fake: FakeServer, action: str) -> None:
    path = f"/v1/executions/{CHANGE}/rollback/steps/1/{action}"
    fake.answer("POST", path, (200, {"change_id": CHANGE, "status": "in_progress"}))
    assert cli("exec", "rollback-step", CHANGE, "1", action).exit_code == 0
    assert fake.requests[0].path == path


def test_exec_rollback_sends_the_reason_and_stage(cli: Any, fake: FakeServer) -> None:
    path = f"/v1/executions/{CHANGE}/rollback"
    fake.answer("POST", path, (200, {"change_id": CHANGE, "status": "rolled_back"}))
    result = cli("exec", "rollback", CHANGE, "--reason", "5xx at 10%", "--stage", "2")
    assert result.exit_code == 0, result.output
    assert "rolled_back" in result.stdout
    assert fake.requests[0].body == {"reason": "5xx at 10%", "stage_reached": 2}


def test_a_refused_transition_is_one_line_and_exit_5(cli: Any, fake: FakeServer) -> None:
    problem = {
        "type": "https://changeward.dev/problems/stage-running",
        "title": "A stage is still running",
        "status": 409,
        "detail": "Stage 2 is running; complete it first.",
        "code": "stage-running",
    }
    fake.answer("POST", f"/v1/executions/{CHANGE}/acceptance", (409, problem))
    result = cli("exec", "accept", CHANGE, "--outcome", "successful")
    assert result.exit_code == 5
    assert result.stderr.strip() == (
        "error: A stage is still running: Stage 2 is running; complete it first. "
        "(409 stage-running)"
    )
    verbose = cli("exec", "accept", CHANGE, "--outcome", "successful", "-v")
    assert json.loads(verbose.stderr.split("\n", 2)[2]) == problem


def test_review_queue_follows_the_pages(cli: Any, fake: FakeServer) -> None:
    first = {"items": [_queued(1)], "next_cursor": "abc"}
    second = {"items": [_queued(2)], "next_cursor": None}
    fake.answer("GET", "/v1/reviews", (200, first), (200, second))
    result = cli("review", "queue", "--json")
    assert result.exit_code == 0, result.output
    assert [item["change_id"] for item in json.loads(result.stdout)["items"]] == ["c-1", "c-2"]
    assert fake.requests[0].query["pending_for"] == ["me"]
    assert fake.requests[1].query["cursor"] == ["abc"]
    fake.answer("GET", "/v1/reviews", (200, second))
    table = cli("review", "queue")
    assert "1 awaiting you" in table.stdout
    assert "1 x change_lead" in table.stdout


def _queued(number: int) -> dict[str, Any]:
    return {
        "change_id": f"c-{number}",
        "impact_level": "critical",
        "status": "pending",
        "assessed_at": "2026-11-27T10:00:00Z",
        "required_approvals": [{"role": "change_lead", "count": 1}],
    }
