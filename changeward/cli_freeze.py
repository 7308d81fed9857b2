"""`changeward freeze`: declare, list, read and lift freeze (blackout) windows."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import click
import typer

from changeward import cli_render as render
from changeward.cli_common import (
    EXIT_CODES_HELP,
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
from changeward.duration import parse_duration

freeze_app = typer.Typer(
    help="Freeze (blackout) windows: no non-emergency execution of what they cover.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
)

MOMENT_HELP = "ISO 8601 with a zone (2026-12-20T00:00:00Z), now, or relative to now (+2h, -5m)"
_RELATIVE = re.compile(r"(?:now)?\s*(?P<sign>[+-])\s*(?P<duration>\S+)")

FreezeId = Annotated[str, typer.Argument(help="The freeze window's id.", show_default=False)]


def parse_moment(text: str) -> datetime:
    """An instant as people type it: `now`, `+2h`, `now-5m`, or ISO 8601 with a zone."""
    now = _invocation_time()
    value = text.strip()
    if value == "now":
        return now
    relative = _RELATIVE.fullmatch(value)
    if relative:
        offset = parse_duration(relative["duration"])
        return now + offset if relative["sign"] == "+" else now - offset
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: use {MOMENT_HELP}") from None
    if moment.tzinfo is None:
        raise typer.BadParameter(f"{text!r} has no zone: add Z or an offset such as +01:00")
    return moment


def _invocation_time() -> datetime:
    """One `now` per command, so that `--start now --end +2h` are exactly 2 h apart."""
    context = click.get_current_context(silent=True)
    now = datetime.now(UTC).replace(microsecond=0)
    if context is None:
        return now
    moment: datetime = context.meta.setdefault("changeward.now", now)
    return moment


@freeze_app.command("list")
def list_windows(
    ctx: typer.Context,
    service: Annotated[str | None, typer.Option(help="Covering this service.")] = None,
    environment: Annotated[str | None, typer.Option(help="Covering this environment.")] = None,
    active_at: Annotated[
        datetime | None,
        typer.Option(
            parser=parse_moment, metavar="<when>", help=f"In force at this instant: {MOMENT_HELP}."
        ),
    ] = None,
    include_lifted: Annotated[bool, typer.Option(help="Lifted ones too.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, latest start first.")] = 50,
    json_output: Json = False,
    verbose: Verbose = False,
) -> None:
    """Freeze windows, latest start first; follows the server's pages up to --limit."""
    params: dict[str, Any] = {
        "service": service,
        "environment": environment,
        "active_at": active_at.isoformat() if active_at else None,
        "include_lifted": include_lifted or None,
        "limit": min(limit, 200),
    }
    with reporting(ctx, verbose), client(ctx) as api:
        items = list(api.pages("/v1/freeze-windows", params, limit=limit))
    if wants_json(ctx, json_output):
        print_json({"items": items})
    else:
        render.freeze_windows(items)


@freeze_app.command("create")
def create(
    ctx: typer.Context,
    reason: Annotated[
        str | None, typer.Option(help="Why; stakeholders and the ledger see it.")
    ] = None,
    start: Annotated[
        datetime | None,
        typer.Option(parser=parse_moment, metavar="<when>", help=f"From: {MOMENT_HELP}."),
    ] = None,
    end: Annotated[
        datetime | None,
        typer.Option(parser=parse_moment, metavar="<when>", help=f"Until: {MOMENT_HELP}."),
    ] = None,
    service: Annotated[
        list[str] | None, typer.Option(help="A service it covers (repeatable); default: all.")
    ] = None,
    environment: Annotated[
        str | None, typer.Option(help="The environment it covers; default: all.")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", "-f", help="The window as YAML or JSON; - for stdin. Options override it."
        ),
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Make retries safe across runs.")
    ] = None,
    json_output: Json = False,
    verbose: Verbose = False,
) -> None:
    """Declare a freeze window (change_lead); it blocks the gate of what it covers."""
    body = read_mapping(file) if file is not None else {}
    given = {
        "reason": reason,
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
        "services": service or None,
        "environment": environment,
    }
    body |= {key: value for key, value in given.items() if value is not None}
    missing = [f"--{key}" for key in ("reason", "start", "end") if not body.get(key)]
    if missing:
        fail(f"give {', '.join(missing)} (or a --file with them)", ExitCode.USAGE)
    with reporting(ctx, verbose), client(ctx) as api:
        created = api.post("/v1/freeze-windows", body, idempotency_key=idempotency_key)
    _show(ctx, created, json_output)


@freeze_app.command("show")
def show(
    ctx: typer.Context, freeze_id: FreezeId, json_output: Json = False, verbose: Verbose = False
) -> None:
    """One freeze window."""
    with reporting(ctx, verbose), client(ctx) as api:
        body = api.get(f"/v1/freeze-windows/{freeze_id}")
    _show(ctx, body, json_output)


@freeze_app.command("lift")
def lift(
    ctx: typer.Context,
    freeze_id: FreezeId,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Make retries safe across runs.")
    ] = None,
    json_output: Json = False,
    verbose: Verbose = False,
) -> None:
    """Lift a freeze window (change_lead); it stays listed with --include-lifted."""
    with reporting(ctx, verbose), client(ctx) as api:
        body = api.delete(f"/v1/freeze-windows/{freeze_id}", idempotency_key=idempotency_key)
    _show(ctx, body, json_output)


def _show(ctx: typer.Context, body: dict[str, Any], json_output: bool) -> None:
    if wants_json(ctx, json_output):
        print_json(body)
    else:
        render.freeze_window(body)
