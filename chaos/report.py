"""chaos.json and the summary table printed at the end of a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def write_results(results: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


def table(results: dict[str, Any]) -> Table:
    client = results["client"]
    summary = Table(title=f"Fault suite ({results['profile']['name']} run)", show_header=False)
    summary.add_column("what")
    summary.add_column("value", justify="right")
    rows: list[tuple[str, Any]] = [
        ("change requests", results["requests"]),
        ("  closed (accepted)", client["changes_closed"]),
        ("  HTTP requests / acknowledged", f"{client['http_requests']} / {client['acknowledged']}"),
        ("  retried after an unknown outcome", client["retries"]),
        ("  replayed from the Idempotency-Key", client["replayed"]),
        ("  sent again as too early (event not there yet)", client["early"]),
        ("faults", results["faults"]),
        *((f"  {kind}", count) for kind, count in results["faults_by_kind"].items()),
        ("lost", _flag(results["lost"])),
        ("duplicated", _flag(results["duplicated"])),
        ("reordered", _flag(results["reordered"])),
        ("stale read models", _flag(results["stale_read_models"])),
        ("max relay lag, s", results["max_lag_s"]),
        ("lag back to zero after the last fault, s", results["lag_back_to_zero_s"]),
        ("ledger verifies", _flag(0 if results["ledger_ok"] else 1, str(results["ledger_ok"]))),
        ("ledger entries", results["ledger_entries"]),
        ("extra copies of events on Kafka (the inboxes dropped them)",
         results.get("kafka_extra_copies", "?")),
        ("setup / drive / settle / total, s",
         f"{results['setup_s']} / {results['drive_s']} / {results['settle_s']}"
         f" / {results.get('run_s', '?')}"),
    ]  # fmt: skip
    for name, value in rows:
        summary.add_row(name, str(value))
    return summary


def _flag(count: int, shown: str | None = None) -> str:
    text = shown if shown is not None else str(count)
    return f"[green]{text}[/]" if count == 0 else f"[bold red]{text}[/]"


def print_summary(results: dict[str, Any], console: Console) -> None:
    console.print(table(results))
    for problem in results["failures"]:
        console.print(f"[bold red]FAIL[/] {problem}")
    for name, items in results["examples"].items():
        console.print(f"[yellow]{name}[/], e.g.:")
        for item in items:
            console.print(f"  {item}", highlight=False)
    if not results["failures"]:
        console.print("[bold green]every assertion holds[/]")
