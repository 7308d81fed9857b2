"""`changeward change`: request, list, read, submit and cancel changes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

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
    read_document,
    reporting,
    stderr,
    wants_json,
)
from changeward.cli_schema import SchemaUnavailable, body_problems, request_body_validator
from shared.contracts import ChangeStatus

change_app = typer.Typer(help="Change requests.", epilog=EXIT_CODES_HELP, no_args_is_help=True)

STATUSES = [status.value for status in ChangeStatus]


@change_app.command("create")
def create(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Option("--file", "-f", help="The change as YAML or JSON; - for stdin.")
    ],
    submit: Annotated[bool, typer.Option(help="Submit it for review right away.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only validate the file against the API's schema.")
    ] = False,
    idempotency_key: Annotated[
        str | None,
        typer.Option(help="Make retries safe across runs, e.g. your pipeline's run id."),
    ] = None,
    json_output: Json = False,
    verbose: Verbose = False,
) -> None:
    """Create a draft change from a file, validated locally against the API's schema first."""
    body = read_document(file)
    if not isinstance(body, dict):
        fail(f"{file} must hold one object (a mapping), not {type(body).__name__}")
    with reporting(ctx, verbose), client(ctx) as api:
        try:
            validator = request_body_validator(api.get("/openapi.json"), "/v1/changes", "post")
        except SchemaUnavailable as error:
            fail(str(error))
        problems = body_problems(validator, body)
        if problems:
            stderr.print(
                f"[bold red]error:[/] {escape(str(file))} does not match the API's schema:"
            )
            for problem in problems:
                stderr.print(f"  {escape(problem)}", highlight=False)
            raise typer.Exit(ExitCode.ERROR)
        if dry_run:
            stderr.print(f"[green]valid[/] {escape(str(file))}")
            return
        created = api.post("/v1/changes", body, idempotency_key=idempotency_key)
        if submit:
            created = api.post(f"/v1/changes/{created['id']}/submit")
    _show(ctx, created, json_output)


@change_app.command("show")
def show(
    ctx: typer.Context, change_id: ChangeId, json_output: Json = False, verbose: Verbose = False
) -> None:
    """A change with its status, approvals, execution and outcome."""
    with reporting(ctx, verbose), client(ctx) as api:
        body = api.get(f"/v1/changes/{change_id}")
    _show(ctx, body, json_output)


@change_app.command("list")
def list_changes(
    ctx: typer.Context,
    status: Annotated[
        list[str] | None, typer.Option(help=f"Any of these (repeatable): {', '.join(STATUSES)}.")
    ] = None,
    service: Annotated[str | None, typer.Option(help="Affects this service.")] = None,
    environment: Annotated[str | None, typer.Option()] = None,
    category: Annotated[str | None, typer.Option()] = None,
    impact_level: Annotated[str | None, typer.Option("--impact", help="Impact level.")] = None,
    requester: Annotated[str | None, typer.Option()] = None,
    window_from: Annotated[
        datetime | None, typer.Option("--from", help="Window ends after (ISO 8601, with zone).")
    ] = None,
    window_to: Annotated[
        datetime | None, typer.Option("--to", help="Window starts before (ISO 8601, with zone).")
    ] = None,
    search: Annotated[
        str | None, typer.Option("--search", "-q", help="Words in the title.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    json_output: Json = False,
    verbose: Verbose = False,
) -> None:
    """Changes, newest first, filtered; follows the server's pages up to --limit."""
    params: dict[str, Any] = {
        "status": status,
        "service": service,
        "environment": environment,
        "category": category,
        "impact_level": impact_level,
        "requester": requester,
        "window_from": window_from.isoformat() if window_from else None,
        "window_to": window_to.isoformat() if window_to else None,
        "q": search,
        "limit": min(limit, 200),
    }
    with reporting(ctx, verbose), client(ctx) as api:
        items = list(api.pages("/v1/changes", params, limit=limit))
    if wants_json(ctx, json_output):
        print_json({"items": items})
    else:
        render.change_list(items)


@change_app.command("submit")
def submit(
    ctx: typer.Context, change_id: ChangeId, json_output: Json = False, verbose: Verbose = False
) -> None:
    """Submit a draft for review."""
    with reporting(ctx, verbose), client(ctx) as api:
        body = api.post(f"/v1/changes/{change_id}/submit")
    _show(ctx, body, json_output)


@change_app.command("cancel")
def cancel(
    ctx: typer.Context,
    change_id: ChangeId,
    reason: Annotated[
        str | None, typer.Option(help="Why; stakeholders and the ledger see it.")
    ] = None,
    version: Annotated[
        int | None, typer.Option(help="Cancel only if the change is still at this version.")
    ] = None,
    json_output: Json = False,
    verbose: Verbose = False,
) -> None:
    """Cancel a change before its execution starts."""
    headers = {"If-Match": f'"{version}"'} if version is not None else None
    with reporting(ctx, verbose), client(ctx) as api:
        body = api.post(f"/v1/changes/{change_id}/cancel", {"reason": reason}, headers=headers)
    _show(ctx, body, json_output)


def _show(ctx: typer.Context, body: dict[str, Any], json_output: bool) -> None:
    if wants_json(ctx, json_output):
        print_json(body)
    else:
        render.change(body)
