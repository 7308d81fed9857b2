"""How the CLI shows the API's resources to a person (machines get `--json`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from changeward.cli_common import short_time, stdout

STATUS_STYLES = {
    "draft": "dim",
    "submitted": "cyan",
    "assessed": "cyan",
    "approved": "green",
    "in_progress": "yellow",
    "completed": "green",
    "accepted": "bold green",
    "rejected": "red",
    "failed": "red",
    "rolled_back": "red",
    "cancelled": "dim",
    "pending": "yellow",
}


def styled(status: str | None) -> Text:
    value = status or "-"
    return Text(value, style=STATUS_STYLES.get(value, ""))


def _add_row(table: Table, *cells: Any) -> None:
    """Adds a row whose text is shown as is: data is never read as rich markup."""
    table.add_row(*(c if isinstance(c, Text) else Text("" if c is None else str(c)) for c in cells))


def _fields(rows: Iterable[tuple[str, Any]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in rows:
        table.add_row(name, value if isinstance(value, Text) else Text(str(value)))
    return table


def change(body: dict[str, Any]) -> None:
    window = body.get("window") or {}
    approvals = body.get("approvals") or []
    execution = body.get("execution") or {}
    rows: list[tuple[str, Any]] = [
        ("id", body["id"]),
        ("status", styled(body.get("status"))),
        ("category", body.get("category")),
        ("services", ", ".join(body.get("services", []))),
        ("environment", body.get("environment")),
        ("window", f"{short_time(window.get('start'))} -> {short_time(window.get('end'))}"),
        ("impact level", body.get("impact_level") or "not assessed yet"),
        ("requester", body.get("requester")),
        ("emergency", "yes" if body.get("emergency") else "no"),
        ("version", body.get("version")),
    ]
    if approvals:
        rows.append(
            ("approvals", "; ".join(f"{a['decision']} by {a['approver']}" for a in approvals))
        )
    if execution:
        rows.append(("execution", f"by {execution.get('executor')}, {execution.get('stage')}"))
    if body.get("outcome"):
        rows.append(("outcome", styled(body["outcome"])))
    if body.get("cancel_reason"):
        rows.append(("cancelled because", body["cancel_reason"]))
    stdout.print(Panel(_fields(rows), title=Text(str(body.get("title"))), title_align="left"))


def change_list(items: list[dict[str, Any]]) -> None:
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("status")
    table.add_column("impact")
    table.add_column("window start", no_wrap=True)
    table.add_column("environment")
    table.add_column("services", overflow="fold")
    table.add_column("title", overflow="fold")
    for item in items:
        _add_row(
            table,
            item["id"],
            styled(item.get("status")),
            item.get("impact_level") or "-",
            short_time((item.get("window") or {}).get("start")),
            item.get("environment"),
            ", ".join(item.get("services", [])),
            item.get("title"),
        )
    stdout.print(table)
    stdout.print(f"{len(items)} change(s)", style="dim")


def review(body: dict[str, Any]) -> None:
    readiness = body.get("readiness") or {}
    required = ", ".join(f"{r['count']} x {r['role']}" for r in body.get("required_approvals", []))
    rows: list[tuple[str, Any]] = [
        ("change", body["change_id"]),
        ("status", styled(body.get("status"))),
        ("impact level", body.get("impact_level")),
        ("ready", "yes" if readiness.get("ready") else "no"),
        ("required", required or "none"),
    ]
    risk = body.get("risk") or {}
    if risk.get("score") is not None:
        rows.append(("risk score", f"{risk['score']} / 100"))
    checklist = Table(show_edge=False, pad_edge=False, title="readiness", title_justify="left")
    checklist.add_column("item")
    checklist.add_column("status")
    checklist.add_column("reason", overflow="fold")
    for item in readiness.get("items", []):
        style = {"pass": "green", "fail": "red"}.get(item["status"], "yellow")
        _add_row(checklist, item["name"], Text(item["status"], style=style), item.get("reason", ""))
    decisions = Table(show_edge=False, pad_edge=False, title="decisions", title_justify="left")
    for column in ("approver", "role", "decision", "at", "comment"):
        decisions.add_column(column, overflow="fold")
    for approval in body.get("approvals", []):
        _add_row(
            decisions,
            approval["approver"],
            approval["role"],
            styled("approved" if approval["decision"] == "approve" else "rejected"),
            short_time(approval.get("recorded_at")),
            approval.get("comment") or "",
        )
    parts: list[Any] = [_fields(rows), checklist]
    if body.get("approvals"):
        parts.append(decisions)
    stdout.print(Panel(Group(*parts), title="review", title_align="left"))


def review_queue(items: list[dict[str, Any]]) -> None:
    table = Table(show_edge=False, pad_edge=False)
    for column in ("change", "impact", "status", "assessed", "needs"):
        table.add_column(column, no_wrap=column == "change", overflow="fold")
    for item in items:
        needs = ", ".join(f"{r['count']} x {r['role']}" for r in item.get("required_approvals", []))
        _add_row(
            table,
            str(item.get("change_id")),
            item.get("impact_level") or "-",
            styled(item.get("status")),
            short_time(item.get("assessed_at")),
            needs,
        )
    stdout.print(table)
    stdout.print(f"{len(items)} awaiting you", style="dim")


def execution(body: dict[str, Any]) -> None:
    rows: list[tuple[str, Any]] = [
        ("change", body.get("change_id", "-")),
        ("status", styled(body.get("status"))),
        ("services", ", ".join(body.get("services", []))),
        ("environment", body.get("environment")),
        ("executor", body.get("executor") or "-"),
        ("started", short_time(body.get("started_at")) or "-"),
        ("finished", short_time(body.get("finished_at")) or "-"),
    ]
    if body.get("outcome"):
        rows.append(("outcome", styled(body["outcome"])))
    parts: list[Any] = [_fields(rows)]
    stages = body.get("stages") or []
    if stages:
        table = Table(show_edge=False, pad_edge=False, title="stages", title_justify="left")
        for column in ("#", "stage", "share", "status", "started", "finished"):
            table.add_column(column)
        for number, stage in enumerate(stages, start=1):
            share = stage.get("target_percent")
            _add_row(
                table,
                stage.get("number", number),
                stage.get("name", ""),
                "" if share is None else f"{share:g}%",
                styled(stage.get("status")),
                short_time(stage.get("started_at")),
                short_time(stage.get("finished_at")),
            )
        parts.append(table)
    stdout.print(Panel(Group(*parts), title="execution", title_align="left"))


def gate(body: dict[str, Any]) -> None:
    verdict = Text("ALLOW", style="bold green") if body.get("allow") else Text("DENY", "bold red")
    stdout.print(Text.assemble("gate: ", verdict))
    for reason in body.get("reasons", []):
        stdout.print(Text(f"  - [{reason.get('code')}] {reason.get('message')}"))
    if body.get("next_allowed_at"):
        stdout.print(Text(f"next allowed at {body['next_allowed_at']}"))


def timeline(body: dict[str, Any], proofs: dict[int, str] | None = None) -> None:
    table = Table(show_edge=False, pad_edge=False)
    for column in ("#", "time", "event", "actor", "source"):
        table.add_column(column, no_wrap=column in ("#", "time"))
    if proofs is not None:
        table.add_column("proof")
    for entry in body.get("entries", []):
        row = [
            str(entry["sequence"]),
            short_time(entry.get("time")),
            entry["type"],
            entry.get("actor", ""),
            entry.get("source", "").removeprefix("/changeward/"),
        ]
        cells: list[Any] = list(row)
        if proofs is not None:
            verdict = proofs.get(entry["sequence"], "-")
            cells.append(Text(verdict, style="green" if verdict == "included" else "red"))
        _add_row(table, *cells)
    stdout.print(table)
    stdout.print(f"{len(body.get('entries', []))} ledger entries", style="dim")


def _bake(seconds: int | None) -> str:
    if not seconds:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def plan(body: dict[str, Any]) -> None:
    """An execution's rollout plan: its stages with their bake times and checks."""
    rows: list[tuple[str, Any]] = [
        ("change", body.get("change_id", "-")),
        ("status", styled(body.get("status"))),
        ("source", body.get("plan_source") or "-"),
        ("auto rollback", "yes" if body.get("auto_rollback") else "no"),
    ]
    table = Table(show_edge=False, pad_edge=False, title="stages", title_justify="left")
    for column in ("#", "stage", "share", "bake", "checks"):
        table.add_column(column, overflow="fold")
    for number, stage in enumerate(body.get("stages") or [], start=1):
        share = stage.get("target_percent")
        checks = "; ".join(
            f"{check['name']} ({check['expected']})" for check in stage.get("checks") or []
        )
        _add_row(
            table,
            stage.get("number", number),
            stage.get("name", ""),
            "" if share is None else f"{share:g}%",
            _bake(stage.get("bake_seconds")),
            checks or "-",
        )
    stdout.print(Panel(Group(_fields(rows), table), title="rollout plan", title_align="left"))


def _freeze_scope(body: dict[str, Any]) -> str:
    services = ", ".join(body.get("services") or []) or "all services"
    return f"{services} in {body.get('environment') or 'all environments'}"


def freeze_window(body: dict[str, Any]) -> None:
    rows: list[tuple[str, Any]] = [
        ("id", body["id"]),
        ("from", short_time(body.get("start"))),
        ("until", short_time(body.get("end"))),
        ("covers", _freeze_scope(body)),
        ("reason", body.get("reason")),
        ("declared", f"by {body.get('declared_by')} at {short_time(body.get('declared_at'))}"),
    ]
    if body.get("lifted_at"):
        lifted = f"by {body.get('lifted_by')} at {short_time(body['lifted_at'])}"
        rows.append(("lifted", Text(lifted, style="dim")))
    stdout.print(Panel(_fields(rows), title="freeze window", title_align="left"))


def freeze_windows(items: list[dict[str, Any]]) -> None:
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("from")
    table.add_column("until")
    table.add_column("covers", overflow="fold")
    table.add_column("reason", overflow="fold")
    for item in items:
        lifted = bool(item.get("lifted_at"))
        reason = f"{item.get('reason')} (lifted)" if lifted else item.get("reason")
        table.add_row(
            *(
                Text(str(cell), style="dim" if lifted else "")
                for cell in (
                    item["id"],
                    short_time(item.get("start")),
                    short_time(item.get("end")),
                    _freeze_scope(item),
                    reason,
                )
            )
        )
    stdout.print(table)
    stdout.print(f"{len(items)} freeze window(s)", style="dim")
