"""`changeward exec` and `changeward gate`: carry out an approved change, stage by stage."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from changeward import cli_render as render
from changeward.cli_common import (
    EXIT_CODES_HELP,
    ChangeId,
    ExitCode,
    Json,
    Verbose,
    client,
    fail,
    print_json,
    read_mapping,
    reporting,
    stderr,
    wants_json,
)
from changeward.client import ChangewardClient
from changeward.duration import parse_duration

exec_app = typer.Typer(
    help="Execution: start, stages, verification, rollback, acceptance.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
)


class StageAction(StrEnum):
    START = "start"
    COMPLETE = "complete"


class CheckResult(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


class Outcome(StrEnum):
    SUCCESSFUL = "successful"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"


Stage = Annotated[int, typer.Argument(min=1, help="The stage's number, from 1.")]
Notes = Annotated[str | None, typer.Option(help="What happened, in a sentence or two.")]
BodyFile = Annotated[
    Path | None,
    typer.Option("--file", "-f", help="More of the request body as YAML or JSON; - for stdin."),
]


@exec_app.command("show")
def show(
    ctx: typer.Context, change_id: ChangeId, json_output: Json = False, verbose: Verbose = False
) -> None:
    """The execution of a change: status, stages, outcome."""
    with reporting(ctx, verbose), client(ctx) as api:
        body = api.get(f"/v1/executions/{change_id}")
    _show(ctx, body, json_output)


@exec_app.command("start")
def start(
    ctx: typer.Context, change_id: ChangeId, json_output: Json = False, verbose: Verbose = False
) -> None:
    """Start executing an approved change."""
    _post(ctx, f"/v1/executions/{change_id}/start", None, json_output, verbose)


@exec_app.command("stage")
def stage(
    ctx: typer.Context,
    change_id: ChangeId,
    number: Stage,
    action: Annotated[StageAction, typer.Argument(help="start or complete.")],
    json_output: Json = False,
    verbose: Verbose = False,
) -> None:
    """Start a rollout stage, or complete it once its bake time passed and its checks passed."""
    path = f"/v1/executions/{change_id}/stages/{number}/{action.value}"
    _post(ctx, path, None, json_output, verbose)


@exec_app.command("verify")
def verify(
    ctx: typer.Context,
    change_id: ChangeId,
    number: Stage,
    check: Annotated[str | None, typer.Option(help="The verification check's name.")] = None,
    result: Annotated[CheckResult | None, typer.Option(help="pass, warn or fail.")] = None,
    value: Annotated[str | None, typer.Option(help="What was measured, e.g. 240ms.")] = None,
    notes: Notes = None,
    file: BodyFile = None,
    json_output: Json = False,
    verbose: Verbose = False,
) -> None:
    """Record a verification result of a stage (a failed one stops the rollout)."""
    body = _document(file)
    if check is not None or result is not None:
        if check is None or result is None:
            fail("give --check with --result", ExitCode.USAGE)
        given = {"name": check, "result": result.value, "measured": _measured(value)}
        given["notes"] = notes
        one = {key: item for key, item in given.items() if item is not None}
        body["results"] = [*body.get("results", []), one]
    if not body.get("results"):
        fail("give --check and --result, or a --file with `results`", ExitCode.USAGE)
    path = f"/v1/executions/{change_id}/stages/{number}/verifications"
    _post(ctx, path, body, json_output, verbose)


@exec_app.command("rollback-step")
def rollback_step(
    ctx: typer.Context,
    change_id: ChangeId,
    number: Stage,
    action: Annotated[StageAction, typer.Argument(help="start or complete.")],
    json_output: Json = False,
    verbose: Verbose = False,
) -> None:
    """Start or complete a step of a rollback (the last completes the rollback)."""
    path = f"/v1/executions/{change_id}/rollback/steps/{number}/{action.value}"
    _post(ctx, path, None, json_output, verbose)


@exec_app.command("complete")
def complete(
    ctx: typer.Context,
    change_id: ChangeId,
    notes: Notes = None,
    json_output: Json = False,
    verbose: Verbose = False,
) -> None:
    """Report the execution finished."""
    _post(ctx, f"/v1/executions/{change_id}/complete", {"notes": notes}, json_output, verbose)


@exec_app.command("rollback")
def rollback(
    ctx: typer.Context,
    change_id: ChangeId,
    reason: Annotated[str, typer.Option(help="Why it is rolled back.")],
    stage_reached: Annotated[
        int | None, typer.Option("--stage", min=1, help="The stage the rollout reached.")
    ] = None,
    json_output: Json = False,
    verbose: Verbose = False,
) -> None:
    """Roll a change back along its emergency plan (cannot be undone)."""
    body: dict[str, Any] = {"reason": reason}
    if stage_reached is not None:
        body["stage_reached"] = stage_reached
    _post(ctx, f"/v1/executions/{change_id}/rollback", body, json_output, verbose)


@exec_app.command("accept")
def accept(
    ctx: typer.Context,
    change_id: ChangeId,
    outcome: Annotated[Outcome, typer.Option(help="successful, failed or rolled_back.")],
    notes: Notes = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            "-f",
            help="Acceptance evidence (functional acceptance, regression results, "
            "monitoring checks) as YAML or JSON.",
        ),
    ] = None,
    json_output: Json = False,
    verbose: Verbose = False,
) -> None:
    """Record acceptance and close the change with its outcome."""
    body = _document(file) | {"outcome": outcome.value}
    if notes is not None:
        body["notes"] = notes
    _post(ctx, f"/v1/executions/{change_id}/acceptance", body, json_output, verbose)


def gate(
    ctx: typer.Context,
    change_id: Annotated[str, typer.Option("--change", help="The change's id.")],
    service: Annotated[str | None, typer.Option(help="The service being deployed.")] = None,
    environment: Annotated[str | None, typer.Option(help="Where it is deployed.")] = None,
    stage_number: Annotated[
        int | None, typer.Option("--stage", min=1, help="Default: the next stage.")
    ] = None,
    wait: Annotated[
        str | None,
        typer.Option(help="Keep asking until allowed or this long passed, e.g. 30m."),
    ] = None,
    interval: Annotated[str, typer.Option(help="With --wait: between questions.")] = "30s",
    json_output: Json = False,
    verbose: Verbose = False,
) -> None:
    """May this deploy proceed now? Exit 0 allow, 3 deny, printing every reason.

    Without --service or --environment, the change's own are asked about (its only service).
    """
    deadline = time.monotonic() + parse_duration(wait).total_seconds() if wait else None
    pause = parse_duration(interval).total_seconds()
    with reporting(ctx, verbose), client(ctx) as api:
        if service is None or environment is None:
            service, environment = _scope_of(api, change_id, service, environment)
        params = {
            "change_id": change_id,
            "service": service,
            "environment": environment,
            "stage": stage_number,
        }
        answer = api.get("/v1/gate", params)
        while not answer.get("allow") and deadline is not None and time.monotonic() < deadline:
            sleep = min(pause, _until(answer.get("next_allowed_at"), pause))
            stderr.print(f"denied; asking again in {sleep:.0f}s", style="dim")
            time.sleep(max(0.0, min(sleep, deadline - time.monotonic())))
            answer = api.get("/v1/gate", params)
    if wants_json(ctx, json_output):
        print_json(answer)
    else:
        render.gate(answer)
    if not answer.get("allow"):
        raise typer.Exit(ExitCode.GATE_DENIED)


def _scope_of(
    api: ChangewardClient, change_id: str, service: str | None, environment: str | None
) -> tuple[str, str]:
    """The service and environment the gate is asked about: as given, else the change's."""
    change = api.get(f"/v1/changes/{change_id}")
    services = list(change.get("services") or [])
    if service is None:
        if len(services) != 1:
            fail(f"the change covers {', '.join(services)}: give --service", ExitCode.USAGE)
        service = services[0]
    return service, environment or str(change["environment"])


def _measured(value: str | None) -> float | str | None:
    """A number when it is one (a metric's value), else the text as typed (e.g. 240ms)."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value


def _until(moment: str | None, default: float) -> float:
    if not moment:
        return default
    try:
        when = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        return default
    return max(1.0, (when - datetime.now(UTC)).total_seconds())


def _document(file: Path | None) -> dict[str, Any]:
    return {} if file is None else read_mapping(file)


def _post(ctx: typer.Context, path: str, body: Any, json_output: bool, verbose: bool) -> None:
    with reporting(ctx, verbose), client(ctx) as api:
        answer = api.post(path, body)
    _show(ctx, answer, json_output)


def _show(ctx: typer.Context, body: dict[str, Any], json_output: bool) -> None:
    if wants_json(ctx, json_output):
        print_json(body)
    else:
        render.execution(body)
