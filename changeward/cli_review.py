"""`changeward review`: a change's assessment, the approval queue, and decisions."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from changeward import cli_render as render
from changeward.cli_common import (
    EXIT_CODES_HELP,
    ChangeId,
    Json,
    Verbose,
    client,
    print_json,
    reporting,
    wants_json,
)

review_app = typer.Typer(
    help="Reviews and approvals.", epilog=EXIT_CODES_HELP, no_args_is_help=True
)

Comment = Annotated[str | None, typer.Option("--comment", "-m", help="Why; kept in the ledger.")]


@review_app.command("show")
def show(
    ctx: typer.Context, change_id: ChangeId, json_output: Json = False, verbose: Verbose = False
) -> None:
    """A change's assessment: impact level, readiness, required approvals, decisions so far."""
    with reporting(ctx, verbose), client(ctx) as api:
        body = api.get(f"/v1/reviews/{change_id}")
    _show(ctx, body, json_output)


@review_app.command("queue")
def queue(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, oldest first.")] = 50,
    json_output: Json = False,
    verbose: Verbose = False,
) -> None:
    """What awaits your decision (the CAB queue), oldest first."""
    params = {"pending_for": "me", "limit": min(limit, 200)}
    with reporting(ctx, verbose), client(ctx) as api:
        items = list(api.pages("/v1/reviews", params, limit=limit))
    if wants_json(ctx, json_output):
        print_json({"items": items})
    else:
        render.review_queue(items)


@review_app.command("approve")
def approve(
    ctx: typer.Context,
    change_id: ChangeId,
    comment: Comment = None,
    json_output: Json = False,
    verbose: Verbose = False,
) -> None:
    """Approve a change (you cannot approve your own)."""
    _decide(ctx, change_id, "approve", comment, json_output, verbose)


@review_app.command("reject")
def reject(
    ctx: typer.Context,
    change_id: ChangeId,
    comment: Annotated[str, typer.Option("--comment", "-m", help="Why; required to reject.")],
    json_output: Json = False,
    verbose: Verbose = False,
) -> None:
    """Reject a change; any required approver's rejection rejects it."""
    _decide(ctx, change_id, "reject", comment, json_output, verbose)


def _decide(
    ctx: typer.Context,
    change_id: str,
    decision: str,
    comment: str | None,
    json_output: bool,
    verbose: bool,
) -> None:
    with reporting(ctx, verbose), client(ctx) as api:
        body = api.post(
            f"/v1/reviews/{change_id}/approvals", {"decision": decision, "comment": comment}
        )
    _show(ctx, body, json_output)


def _show(ctx: typer.Context, body: dict[str, Any], json_output: bool) -> None:
    if wants_json(ctx, json_output):
        print_json(body)
    else:
        render.review(body)
