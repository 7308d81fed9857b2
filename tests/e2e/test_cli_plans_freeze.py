"""`changeward exec plan` and `changeward freeze` against a running all-in-one server."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import Result

from changeward.client import ChangewardClient
from tests.e2e.test_cli import (
    WALKTHROUGH,
    Cli,
    Server,
    cli,
    readme_block,
    run_bash,
    server,
)
from tests.e2e.test_cli_rollout import CHECK, Api, unique_service

__all__ = ["cli", "server"]

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.slow]


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _shares_and_bakes(execution: dict[str, Any]) -> list[tuple[float, int]]:
    return [(stage["target_percent"], stage["bake_seconds"]) for stage in execution["stages"]]


def _check_names(execution: dict[str, Any]) -> list[list[str]]:
    return [[check["name"] for check in stage["checks"]] for stage in execution["stages"]]


def test_exec_plan_shows_and_replaces_the_plan_until_the_execution_starts(
    cli: Cli, server: Server, tmp_path: Path
) -> None:
    eddie = server.token("eddie", "executor")
    change_id = Api(server).approved_change(unique_service())

    shown = cli("exec", "plan", change_id, token=eddie)
    assert shown.exit_code == 0, shown.output
    for text in ("rollout plan", "default", "1%", "10%", "50%", "100%", "10m", "30m", CHECK):
        assert text in shown.stdout

    replaced = _json(
        cli(
            "exec",
            "plan",
            change_id,
            "--stage",
            "5",
            "--stage",
            "50:20m",
            "--stage",
            "100",
            "--bake",
            "1m",
            "--no-auto-rollback",
            "--json",
            token=eddie,
        )  # fmt: skip
    )
    assert _shares_and_bakes(replaced) == [(5, 60), (50, 1200), (100, 60)]
    # The change's verification check stays on every stage.
    assert _check_names(replaced) == [[CHECK]] * 3
    assert (replaced["plan_source"], replaced["auto_rollback"]) == ("custom", False)

    # What an option leaves out stays as it was, auto_rollback included.
    steps = _json(
        cli("exec", "plan", change_id, "--rollback-step", "Revert", "--json", token=eddie)
    )
    assert _shares_and_bakes(steps) == _shares_and_bakes(replaced)
    assert steps["auto_rollback"] is False

    plan_file = tmp_path / "plan.yaml"
    smoke = {"name": "smoke", "kind": "smoke_test", "expected": "green"}
    plan_file.write_text(
        yaml.safe_dump(
            {
                "stages": [
                    {"target_percent": 20, "bake_seconds": 300, "checks": [smoke]},
                    {"target_percent": 100, "checks": []},
                ],
                "auto_rollback": True,
            }
        )
    )
    from_file = _json(cli("exec", "plan", change_id, "-f", str(plan_file), "--json", token=eddie))
    assert _shares_and_bakes(from_file) == [(20, 300), (100, 0)]
    assert _check_names(from_file) == [["smoke"], []]
    assert from_file["auto_rollback"] is True
    overridden = _json(
        cli("exec", "plan", change_id, "-f", str(plan_file), "--stage", "100", "--json",
            token=eddie)
    )  # fmt: skip
    assert _shares_and_bakes(overridden) == [(100, 0)]

    backwards = cli("exec", "plan", change_id, "--stage", "50", "--stage", "10", token=eddie)
    assert backwards.exit_code == 1
    assert "422 validation-error" in backwards.stderr
    assert "must be above the one before" in backwards.stderr
    unchanged = _json(cli("exec", "plan", change_id, "--json", token=eddie))
    assert _shares_and_bakes(unchanged) == [(100, 0)]

    rita = server.token("rita", "requester")
    refused = cli("exec", "plan", change_id, "--stage", "100", token=rita)
    assert refused.exit_code == 1
    assert "lacks a required role" in refused.stderr
    assert cli("exec", "plan", str(uuid.uuid4()), token=eddie).exit_code == 4
    usage = cli("exec", "plan", change_id, "--stage", "ten", token=eddie)
    assert usage.exit_code == 2
    assert "SHARE[:BAKE]" in usage.stderr

    assert cli("exec", "start", change_id, token=eddie).exit_code == 0
    locked = cli("exec", "plan", change_id, "--stage", "100", token=eddie)
    assert locked.exit_code == 5
    assert "(409 plan-locked)" in locked.stderr


def test_exec_plan_never_overwrites_a_plan_changed_since_it_read_it(
    cli: Cli, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    eddie = server.token("eddie", "executor")
    api = Api(server)
    change_id = api.approved_change(unique_service())
    manager = api.headers("mona", "change_manager")
    sent_if_match: list[str | None] = []
    put = ChangewardClient.put

    def another_editor_first(
        client: ChangewardClient, path: str, body: Any, *, headers: Any = None
    ) -> Any:
        """Mona replaces the plan between the command's read and its write."""
        sent_if_match.append((headers or {}).get("If-Match"))
        read = api.http.get(f"/v1/executions/{change_id}", headers=manager)
        hers = {"stages": [{"target_percent": 30}, {"target_percent": 100}]}
        replaced = api.http.put(
            path, json=hers, headers={**manager, "If-Match": read.headers["etag"]}
        )
        assert replaced.status_code == 200, replaced.text
        return put(client, path, body, headers=headers)

    before = api.http.get(f"/v1/executions/{change_id}", headers=manager)
    with monkeypatch.context() as patched:
        patched.setattr(ChangewardClient, "put", another_editor_first)
        raced = cli("exec", "plan", change_id, "--stage", "5", "--stage", "100", token=eddie)
    assert raced.exit_code == 5, raced.output
    assert "the plan changed since it was read; run again" in raced.stderr
    assert sent_if_match == [before.headers["etag"]]
    assert _shares_and_bakes(api.execution(change_id)) == [(30, 0), (100, 0)]

    # Run again: it reads Mona's plan and replaces it.
    rerun = _json(cli("exec", "plan", change_id, "--stage", "5", "--stage", "100", "--json",
                      token=eddie))  # fmt: skip
    assert _shares_and_bakes(rerun) == [(5, 0), (100, 0)]


def test_freeze_windows_are_declared_listed_and_lifted(
    cli: Cli, server: Server, tmp_path: Path
) -> None:
    service = unique_service()
    lena = server.token("lena", "change_lead")
    rita = server.token("rita", "requester")

    before = datetime.now(UTC)
    now = _json(
        cli(
            "freeze",
            "create",
            "--reason",
            "Black Friday peak",
            "--service",
            service,
            "--service",
            f"{service}-web",
            "--environment",
            "production",
            "--start",
            "-1m",
            "--end",
            "+1h",
            "--json",
            token=lena,
        )  # fmt: skip
    )
    assert now["services"] == [service, f"{service}-web"]
    assert (now["environment"], now["declared_by"], now["lifted_at"]) == (
        "production",
        "lena",
        None,
    )
    start = datetime.fromisoformat(now["start"])
    assert before - timedelta(minutes=2) < start < before
    assert datetime.fromisoformat(now["end"]) - start == timedelta(minutes=61)

    file = tmp_path / "freeze.yaml"
    later_start = before + timedelta(days=20)
    file.write_text(
        yaml.safe_dump(
            {
                "services": [service],
                "start": later_start.isoformat(),
                "end": (later_start + timedelta(days=2)).isoformat(),
                "reason": "Year-end closing",
            }
        )
    )
    later = _json(
        cli("freeze", "create", "-f", str(file), "--environment", "staging", "--json", token=lena)
    )
    assert (later["reason"], later["environment"]) == ("Year-end closing", "staging")

    def listed(*args: str) -> list[str]:
        body = _json(cli("freeze", "list", "--service", service, *args, "--json", token=rita))
        return [item["id"] for item in body["items"]]

    assert listed() == [later["id"], now["id"]]
    assert listed("--active-at", "now") == [now["id"]]
    assert listed("--active-at", later_start.isoformat(), "--environment", "staging") == [
        later["id"]
    ]
    table = cli("freeze", "list", "--service", service, token=rita)
    assert table.exit_code == 0, table.output
    assert "Black Friday peak" in table.stdout
    assert "2 freeze window(s)" in table.stdout
    shown = cli("freeze", "show", now["id"], token=rita)
    assert shown.exit_code == 0, shown.output
    assert "Black Friday peak" in shown.stdout
    assert f"{service}-web" in shown.stdout

    denied = cli("freeze", "create", "--reason", "x", "--start", "now", "--end", "+1h", token=rita)
    assert denied.exit_code == 1
    assert "lacks a required role" in denied.stderr
    backwards = cli(
        "freeze", "create", "--reason", "x", "--start", "+2h", "--end", "+1h", token=lena
    )
    assert backwards.exit_code == 1
    assert "422 validation-error" in backwards.stderr
    no_reason = cli("freeze", "create", "--start", "now", "--end", "+1h", token=lena)
    assert no_reason.exit_code == 2
    assert "--reason" in no_reason.stderr
    naive = cli("freeze", "create", "--reason", "x", "--start", "2026-12-20T00:00:00",
                "--end", "+1h", token=lena)  # fmt: skip
    assert naive.exit_code == 2
    assert "has no zone" in naive.stderr
    assert listed() == [later["id"], now["id"]]

    lifted = _json(cli("freeze", "lift", now["id"], "--json", token=lena))
    assert lifted["lifted_by"] == "lena"
    again = cli("freeze", "lift", now["id"], token=lena)
    assert again.exit_code == 5
    assert "lifted by lena already" in again.stderr
    assert listed() == [later["id"]]
    assert listed("--include-lifted") == [later["id"], now["id"]]
    assert cli("freeze", "show", str(uuid.uuid4()), token=rita).exit_code == 4


def test_the_readme_plan_and_freeze_examples_run(server: Server, tmp_path: Path) -> None:
    walkthrough = readme_block(WALKTHROUGH)
    # The examples run "in the same shell": they need its as_user and change.yaml only.
    setup = walkthrough[: walkthrough.index("\nEOF\n") + len("\nEOF\n")]
    script = setup + readme_block("freeze create")
    result = run_bash(script, server, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("rollout plan") == 3
    for text in ("p99 (< 300 ms)", "smoke (green)", "Incident 4711 under way", "1 freeze"):
        assert text in result.stdout
