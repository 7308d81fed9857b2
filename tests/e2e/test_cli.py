"""The `changeward` CLI against a running all-in-one server on real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner, Result

from changeward.cli import app
from shared.auth import mint_token
from shared.embedded_postgres import free_port
from tests.conftest import fresh_database
from tests.support.clients import CHANGE_BODY
from tests.support.infra import REPO, unique_name
from tests.support.processes import changeward_process
from tests.support.thin_path import THIN_PATH_EVENTS

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.slow]


class Server:
    def __init__(self, url: str, secret: str, topics: list[str], kafka: str) -> None:
        self.url = url
        self.secret = secret
        self.topics = topics
        self.kafka = kafka

    def token(self, subject: str, *roles: str) -> str:
        return mint_token(self.secret, subject=subject, roles=list(roles))


@pytest.fixture(scope="module")
def server(
    pg_server: str, kafka_servers: str, jwt_secret: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("cli")
    suffix = unique_name("cli")
    topics = [f"changeward.changes.v1.{suffix}", f"changeward.deployments.v1.{suffix}"]
    env = {
        "CHANGEWARD_DATABASE_URL": asyncio.run(fresh_database(pg_server, migrated=False)),
        "CHANGEWARD_JWT_SECRET": jwt_secret,
        "CHANGEWARD_DATA_DIR": str(workdir),
        "CHANGEWARD_KAFKA_BOOTSTRAP_SERVERS": kafka_servers,
        "CHANGEWARD_CHANGES_TOPIC": topics[0],
        "CHANGEWARD_DEPLOYMENTS_TOPIC": topics[1],
        "CHANGEWARD_TOPIC_PARTITIONS": "3",
        "CHANGEWARD_RELAY_IDLE_POLL_SECONDS": "0.2",
    }
    with changeward_process(["run"], env, workdir / "run.log") as url:
        yield Server(url, jwt_secret, topics, kafka_servers)


Cli = Callable[..., Result]


@pytest.fixture
def cli(server: Server, tmp_path: Path) -> Cli:
    runner = CliRunner()

    def invoke(*args: str, token: str | None = None, stdin: str | None = None) -> Result:
        env = {
            "CHANGEWARD_URL": server.url,
            "CHANGEWARD_TOKEN": token or "",
            "CHANGEWARD_CONFIG": str(tmp_path / "absent.toml"),
            # Tables as wide as a terminal's, so that a row's text is not wrapped apart.
            "COLUMNS": "200",
        }
        return runner.invoke(app, list(args), env=env, input=stdin)

    return invoke


def until(
    probe: Callable[[], Result], done: Callable[[Result], bool], timeout: float = 20
) -> Result:
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def change_file(tmp_path: Path, name: str = "change.yaml", **overrides: Any) -> Path:
    path = tmp_path / name
    body = {**CHANGE_BODY, "title": f"CLI change {uuid.uuid4().hex[:8]}", **overrides}
    path.write_text(json.dumps(body) if name.endswith(".json") else yaml.safe_dump(body))
    return path


def test_a_change_from_its_file_to_acceptance(cli: Cli, server: Server, tmp_path: Path) -> None:
    rita = server.token("rita", "requester")
    mona = server.token("mona", "change_manager")
    eddie = server.token("eddie", "executor")
    audra = server.token("audra", "auditor")

    created = cli("change", "create", "--file", str(change_file(tmp_path)), "--json", token=rita)
    assert created.exit_code == 0, created.output
    change = json.loads(created.stdout)
    change_id = change["id"]
    assert change["status"] == "draft"

    submitted = cli("change", "submit", change_id, token=rita)
    assert submitted.exit_code == 0, submitted.output
    assert "submitted" in submitted.stdout
    assert change["title"] in submitted.stdout

    review = until(
        lambda: cli("review", "show", change_id, "--json", token=mona),
        lambda result: result.exit_code == 0,
    )
    assert review.exit_code == 0, review.output
    assert json.loads(review.stdout)["impact_level"] == "important"
    shown = cli("review", "show", change_id, token=mona)
    assert "change_manager" in shown.stdout
    assert "readiness" in shown.stdout

    refused = cli("review", "approve", change_id, token=rita)
    assert refused.exit_code == 1
    assert "lacks a required role" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    detailed = cli("review", "approve", change_id, "-v", token=rita)
    assert '"code": "missing-role"' in detailed.stderr
    assert '"status": 403' in detailed.stderr

    approved = cli("review", "approve", change_id, "-m", "ok", "--json", token=mona)
    assert approved.exit_code == 0, approved.output
    assert json.loads(approved.stdout)["status"] == "approved"

    started = until(
        lambda: cli("exec", "start", change_id, "--json", token=eddie),
        lambda result: result.exit_code == 0,
    )
    assert started.exit_code == 0, started.output
    assert json.loads(started.stdout)["status"] == "in_progress"
    completed = cli("exec", "complete", change_id, "--notes", "12 pods healthy", token=eddie)
    assert completed.exit_code == 0, completed.output
    accepted = cli(
        "exec", "accept", change_id, "--outcome", "successful", "--notes", "p99 240 ms",
        "--json", token=eddie,
    )  # fmt: skip
    assert accepted.exit_code == 0, accepted.output
    assert json.loads(accepted.stdout)["outcome"] == "successful"

    closed = until(
        lambda: cli("change", "show", change_id, "--json", token=audra),
        lambda result: json.loads(result.stdout or "{}").get("status") == "accepted",
    )
    assert json.loads(closed.stdout)["status"] == "accepted"
    again = cli("review", "approve", change_id, token=mona)
    assert again.exit_code == 5, again.output

    timeline = until(
        lambda: cli("audit", "timeline", change_id, "--verify", token=audra),
        lambda result: "change.accepted" in result.stdout,
    )
    assert timeline.exit_code == 0, timeline.output
    assert timeline.stdout.count("included") == len(THIN_PATH_EVENTS)
    assert "OK" in timeline.stderr

    tail = cli(
        "events", "tail", "--bootstrap-servers", server.kafka, "--topic", server.topics[0],
        "--from-beginning", "--change", change_id, "--max", str(len(THIN_PATH_EVENTS)),
        "--idle-timeout", "20", "--json",
    )  # fmt: skip
    assert tail.exit_code == 0, tail.output
    events = [json.loads(line) for line in tail.stdout.splitlines()]
    assert [event["type"].removeprefix("io.changeward.") for event in events] == THIN_PATH_EVENTS
    assert {event["subject"] for event in events} == {change_id}
    pretty = cli(
        "events", "tail", "--bootstrap-servers", server.kafka, "--topic", server.topics[0],
        "--from-beginning", "--change", change_id, "--type", "change.approval_recorded",
        "--idle-timeout", "3",
    )  # fmt: skip
    assert pretty.exit_code == 0, pretty.output
    assert "change.approval_recorded" in pretty.stdout
    assert "decision=approve" in pretty.stdout
    assert "change.requested" not in pretty.stdout


def test_change_create_validates_the_file_against_the_api_schema(
    cli: Cli, server: Server, tmp_path: Path
) -> None:
    requester = f"req-{uuid.uuid4().hex[:8]}"
    token = server.token(requester, "requester")

    def mine() -> list[dict[str, Any]]:
        listed = cli("change", "list", "--requester", requester, "--json", token=token)
        assert listed.exit_code == 0, listed.output
        return list(json.loads(listed.stdout)["items"])

    bad = tmp_path / "bad.yaml"
    body = {**CHANGE_BODY, "category": "firmware", "services": "checkout", "emergency": "soon"}
    body["window"] = {"start": "2026-12-01T02:00:00Z"}
    body["owner"] = "rita"
    bad.write_text(yaml.safe_dump(body))
    refused = cli("change", "create", "-f", str(bad), token=token)
    assert refused.exit_code == 1
    for problem in (
        "category: 'firmware' is not one of",
        "services: 'checkout' is not of type 'array'",
        "emergency: 'soon' is not of type 'boolean'",
        "window: 'end' is a required property",
        "(the document): Additional properties are not allowed ('owner' was unexpected)",
    ):
        assert problem in refused.stderr
    assert mine() == []

    valid = change_file(tmp_path)
    dry = cli("change", "create", "-f", str(valid), "--dry-run", token=token)
    assert dry.exit_code == 0, dry.output
    assert "valid" in dry.stderr
    assert mine() == []

    broken = tmp_path / "broken.yaml"
    broken.write_text("title: [unclosed\n")
    assert "not valid YAML" in cli("change", "create", "-f", str(broken), token=token).stderr

    backwards = change_file(
        tmp_path, window={"start": "2026-12-01T03:00:00Z", "end": "2026-12-01T02:00:00Z"}
    )
    server_side = cli("change", "create", "-f", str(backwards), token=token)
    assert server_side.exit_code == 1
    assert "422 validation-error" in server_side.stderr
    assert "body.window" in server_side.stderr
    assert mine() == []

    from_json = cli("change", "create", "-f", str(change_file(tmp_path, "c.json")), token=token)
    assert from_json.exit_code == 0, from_json.output
    stdin = yaml.safe_dump({**CHANGE_BODY, "title": "From stdin"})
    piped = cli("change", "create", "-f", "-", "--submit", "--json", token=token, stdin=stdin)
    assert piped.exit_code == 0, piped.output
    assert json.loads(piped.stdout)["status"] == "submitted"
    assert len(mine()) == 2


def test_list_cancel_not_found_and_unreachable(cli: Cli, server: Server, tmp_path: Path) -> None:
    requester = f"req-{uuid.uuid4().hex[:8]}"
    token = server.token(requester, "requester")
    ids = []
    for _ in range(3):
        created = cli("change", "create", "-f", str(change_file(tmp_path)), "--json", token=token)
        ids.append(json.loads(created.stdout)["id"])

    listed = cli("change", "list", "--requester", requester, "--limit", "2", "--json", token=token)
    assert [item["id"] for item in json.loads(listed.stdout)["items"]] == ids[::-1][:2]
    table = cli("change", "list", "--requester", requester, "--status", "draft", token=token)
    assert "3 change(s)" in table.stdout

    cancelled = cli("change", "cancel", ids[0], "--reason", "not needed", "--json", token=token)
    assert cancelled.exit_code == 0, cancelled.output
    assert json.loads(cancelled.stdout)["cancel_reason"] == "not needed"
    twice = cli("change", "cancel", ids[0], token=token)
    assert twice.exit_code == 5
    assert "invalid-transition" in twice.stderr
    stale = cli("change", "cancel", ids[1], "--version", "7", token=token)
    assert stale.exit_code == 5, stale.output

    missing = cli("change", "show", str(uuid.uuid4()), token=token)
    assert missing.exit_code == 4
    assert missing.stderr.startswith("error:")
    unauthenticated = cli("change", "show", ids[1])
    assert unauthenticated.exit_code == 1
    assert "401" in unauthenticated.stderr

    result = CliRunner().invoke(
        app,
        ["--url", f"http://127.0.0.1:{free_port()}", "change", "show", ids[1]],
        env={"CHANGEWARD_TOKEN": token, "CHANGEWARD_CONFIG": str(tmp_path / "absent.toml")},
    )
    assert result.exit_code == 1
    assert "cannot reach" in result.stderr


def test_audit_export_is_verifiable_offline(cli: Cli, server: Server, tmp_path: Path) -> None:
    rita = server.token("rita", "requester")
    audra = server.token("audra", "auditor")
    created = cli(
        "change", "create", "-f", str(change_file(tmp_path)), "--submit", "--json", token=rita
    )
    change_id = json.loads(created.stdout)["id"]
    until(
        lambda: cli("audit", "timeline", change_id, "--json", token=audra),
        lambda result: len(json.loads(result.stdout or '{"entries": []}')["entries"]) > 0,
    )

    out = tmp_path / "ledger.ndjson"
    exported = cli("audit", "export", "--out", str(out), token=audra)
    assert exported.exit_code == 0, exported.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["kind"] == "tree_head"
    assert lines[-1] == {"kind": "end", "entries": len(lines) - 2}
    assert f"exported {len(lines)} lines" in exported.stderr

    root_flag = json.loads(cli("--json", "audit", "timeline", change_id, token=audra).stdout)
    assert root_flag["change_id"] == change_id
    public_key = _public_key(server, audra)
    verified = cli("audit", "verify", "--file", str(out), "--public-key", public_key)
    assert verified.exit_code == 0, verified.output
    assert f"OK {len(lines) - 2} entries" in verified.stderr

    only_mine = tmp_path / "mine.csv"
    csv_export = cli(
        "audit", "export", "-o", str(only_mine), "--format", "csv", "--change", change_id,
        token=audra,
    )  # fmt: skip
    assert csv_export.exit_code == 0, csv_export.output
    rows = only_mine.read_text().splitlines()
    assert rows[0].startswith("sequence,")
    assert all(change_id in row for row in rows[1:])


def _public_key(server: Server, token: str) -> str:
    response = httpx.get(
        f"{server.url}/v1/audit/public-key", headers={"Authorization": f"Bearer {token}"}
    )
    return str(response.json()["public_key"])


def test_the_installed_command_reads_its_config_file(server: Server, tmp_path: Path) -> None:
    requester = f"req-{uuid.uuid4().hex[:8]}"
    (tmp_path / "token").write_text(server.token(requester, "requester") + "\n")
    config = tmp_path / "config.toml"
    config.write_text(f'url = "{server.url}"\ntoken_file = "{tmp_path / "token"}"\n')
    env = {"CHANGEWARD_CONFIG": str(config), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "changeward", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    created = run("change", "create", "-f", str(change_file(tmp_path)), "--json")
    assert created.returncode == 0, created.stderr
    listed = run("change", "list", "--requester", requester, "--json")
    assert [item["id"] for item in json.loads(listed.stdout)["items"]] == [
        json.loads(created.stdout)["id"]
    ]
    assert run("change", "show", str(uuid.uuid4())).returncode == 4


def readme_block(containing: str) -> str:
    """The README's bash block that contains `containing`."""
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    return str(next(block for block in blocks if containing in block))


def run_bash(script: str, server: Server, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A README script as a reader runs it, against `server`, with the installed command."""
    script = script.replace("http://127.0.0.1:8080", server.url).replace(
        ".venv/bin/changeward", str(REPO / ".venv" / "bin" / "changeward")
    )
    env = {
        **os.environ,
        "CHANGEWARD_JWT_SECRET": server.secret,
        "CHANGEWARD_CONFIG": str(cwd / "absent.toml"),
        "COLUMNS": "160",
    }
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


WALKTHROUGH = "change create -f change.yaml"


def test_the_readme_cli_walkthrough_runs(server: Server, tmp_path: Path) -> None:
    result = run_bash(readme_block(WALKTHROUGH), server, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "change.accepted" in result.stdout
    assert "every entry is included" in result.stderr
    assert (tmp_path / "ledger.ndjson").read_text().startswith('{"kind":"tree_head"')
