"""`changeward exec plan`: show or replace the rollout plan of an execution before it starts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer

from changeward import cli_render as render
from changeward.cli_common import (
    ChangeId,
    ExitCode,
    Json,
    Verbose,
    client,
    fail,
    print_json,
    read_mapping,
    reporting,
    wants_json,
)
from changeward.client import ApiError, ChangewardClient
from changeward.duration import parse_duration

_STAGE = re.compile(r"(?P<share>\d+(?:\.\d+)?)%?(?::(?P<bake>.+))?")

Stages = Annotated[
    list[str] | None,
    typer.Option(
        "--stage",
        "-s",
        help="A stage as SHARE[:BAKE], e.g. 10 or 10:15m (repeatable, in order; the last is "
        "100). Stages given without checks run every check the current plan runs; per-stage "
        "checks need --file.",
        show_default=False,
    ),
]
Bake = Annotated[
    str | None,
    typer.Option(
        help="Bake time of the --stage stages that give none, e.g. 10m.", show_default=False
    ),
]
RollbackSteps = Annotated[
    list[str] | None,
    typer.Option(
        "--rollback-step",
        help="A rollback step (repeatable, in order); default: the current ones.",
        show_default=False,
    ),
]
AutoRollback = Annotated[
    bool | None,
    typer.Option(
        "--auto-rollback/--no-auto-rollback",
        help="Whether a failed stage starts the rollback by itself; default: as now.",
        show_default=False,
    ),
]
PlanFile = Annotated[
    Path | None,
    typer.Option(
        "--file",
        "-f",
        help="The plan as YAML or JSON (stages with checks, rollback_steps, auto_rollback); "
        "- for stdin. The options above override it.",
        show_default=False,
    ),
]


def plan(
    ctx: typer.Context,
    change_id: ChangeId,
    stage: Stages = None,
    bake: Bake = None,
    rollback_step: RollbackSteps = None,
    auto_rollback: AutoRollback = None,
    file: PlanFile = None,
    json_output: Json = False,
    verbose: Verbose = False,
) -> None:
    """Show the rollout plan of an approved change; with options, replace it before it starts.

    The plan is replaced only if nobody changed it since it was read; else exit 5: run again.

    Example: changeward exec plan ID --stage 1 --stage 10:15m --stage 50:30m --stage 100:30m
    """
    changes = _changes(stage, bake, rollback_step, auto_rollback, file)
    with reporting(ctx, verbose), client(ctx) as api:
        execution, read_etag = api.get_tagged(f"/v1/executions/{change_id}")
        if changes is not None:
            body = _replacement(execution, changes)
            execution = _replace(api, change_id, body, read_etag)
    if wants_json(ctx, json_output):
        print_json(execution)
    else:
        render.plan(execution)


def _replace(
    api: ChangewardClient, change_id: str, body: dict[str, Any], read_etag: str | None
) -> Any:
    """PUT the plan only if it is still the one read: another editor's plan is never lost."""
    headers = {"If-Match": read_etag} if read_etag else None
    try:
        return api.put(f"/v1/executions/{change_id}/plan", body, headers=headers)
    except ApiError as error:
        if error.status == 412:
            fail("the plan changed since it was read; run again", ExitCode.CONFLICT)
        raise


def _changes(
    stages: list[str] | None,
    bake: str | None,
    rollback_steps: list[str] | None,
    auto_rollback: bool | None,
    file: Path | None,
) -> dict[str, Any] | None:
    """What the command changes in the plan; None when it only shows it."""
    if bake is not None and not stages:
        fail("--bake applies to --stage stages: give some", ExitCode.USAGE)
    if file is None and not stages and not rollback_steps and auto_rollback is None:
        return None
    changes = read_mapping(file) if file is not None else {}
    if stages:
        default_bake = int(parse_duration(bake).total_seconds()) if bake else 0
        changes["stages"] = [_stage(spec, default_bake) for spec in stages]
    if rollback_steps:
        changes["rollback_steps"] = rollback_steps
    if auto_rollback is not None:
        changes["auto_rollback"] = auto_rollback
    return changes


def _replacement(execution: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The plan to send: the changes, the rest as the current plan has it.

    The API replaces the whole plan and would reset auto_rollback to its default; stages
    given without any checks get the current plan's, so no verification is dropped silently
    (`checks: []` in a file says none on purpose).
    """
    current_stages = execution.get("stages") or []
    body = dict(changes)
    body.setdefault("auto_rollback", execution.get("auto_rollback", True))
    if "stages" not in body:
        body["stages"] = [_planned(stage) for stage in current_stages]
    elif _without_checks(body["stages"]):
        checks = _checks_of(current_stages)
        body["stages"] = [{**stage, "checks": checks} for stage in body["stages"]]
    return body


def _without_checks(stages: Any) -> bool:
    # Anything but a list of mappings goes to the server as is, to be refused with its reasons.
    return isinstance(stages, list) and all(
        isinstance(stage, dict) and "checks" not in stage for stage in stages
    )


def _planned(stage: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": stage.get("name"),
        "target_percent": stage["target_percent"],
        "bake_seconds": stage.get("bake_seconds", 0),
        "checks": stage.get("checks") or [],
    }


def _checks_of(stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every check some stage runs, once each (by name), in the order they first appear."""
    checks: dict[str, dict[str, Any]] = {}
    for stage in stages:
        for check in stage.get("checks") or []:
            checks.setdefault(check["name"], check)
    return list(checks.values())


def _stage(spec: str, default_bake: int) -> dict[str, Any]:
    match = _STAGE.fullmatch(spec.strip())
    if not match:
        fail(f"--stage {spec!r}: use SHARE[:BAKE], e.g. 10 or 10:15m", ExitCode.USAGE)
    share = float(match["share"])
    try:
        bake = int(parse_duration(match["bake"]).total_seconds()) if match["bake"] else None
    except typer.BadParameter as error:
        fail(f"--stage {spec!r}: the bake time: {error.message}", ExitCode.USAGE)
    return {
        "target_percent": int(share) if share.is_integer() else share,
        "bake_seconds": default_bake if bake is None else bake,
    }
