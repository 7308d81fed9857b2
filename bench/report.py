"""bench.json, bench.md and the table printed at the end of a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

# Headline key, what it is, the target (None: no target, just context).
ROWS: tuple[tuple[str, str, str], ...] = (
    ("ceiling_rps", "(a) bare FastAPI + asyncpg insert, req/s", ""),
    ("intake_rps", "(b) POST /v1/changes, req/s", ""),
    ("intake_vs_ceiling", "(b) / (a)", ">= 0.6"),
    ("gate_p50_ms", "(c) GET /v1/gate p50, ms", ""),
    ("gate_p99_ms", "(c) GET /v1/gate p99, ms", "< 10"),
    ("e2e_kafka_p50_ms", "(d) submit 200 -> Kafka p50, ms", ""),
    ("e2e_kafka_p99_ms", "(d) submit 200 -> Kafka p99, ms", "< 250"),
    ("e2e_ledger_p50_ms", "(d) submit 200 -> ledger p50, ms", ""),
    ("e2e_ledger_p99_ms", "(d) submit 200 -> ledger p99, ms", "< 250"),
    ("e2e_sustained_rps", "(d) highest rate with both p99 < 250 ms, submits/s", ""),
    ("relay_drain_eps", "(e) relay drain to Kafka, events/s", ">= 5000"),
    ("relay_drain_in_process_eps", "(e) relay drain in-process, events/s", ""),
    ("audit_ingest_eps", "(f) audit ingest, entries/s", ""),
    ("verify_eps", "(f) full verification, entries/s", ">= 100000"),
)


def write_results(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    (out / "bench.md").write_text(markdown(results))
    Console().print(table(results))


def _shown(value: Any) -> str:
    return "not measured" if value is None else f"{value:,}"


def table(results: dict[str, Any]) -> Table:
    machine = results["machine"]
    grid = Table(title=f"Changeward benchmarks ({machine['cpu_count']} x {machine['cpu_model']})")
    for column in ("measure", "result", "target"):
        grid.add_column(column)
    for key, label, target in ROWS:
        grid.add_row(label, _shown(results.get(key)), target)
    return grid


def markdown(results: dict[str, Any]) -> str:
    machine = results["machine"]
    lines = [
        "# Changeward benchmarks",
        "",
        f"{machine['cpu_count']} x {machine['cpu_model']}, Python {machine['python']},"
        f" profile `{results.get('profile')}`; `make bench` wrote this file.",
        "",
        "| measure | result | target |",
        "| --- | ---: | --- |",
    ]
    lines += [f"| {label} | {_shown(results.get(k))} | {t} |" for k, label, t in ROWS]
    lines += ["", "## Notes", ""]
    lines += [f"- **{key}**: {note}" for key, note in sorted(results["notes"].items())]
    return "\n".join(lines) + "\n"
