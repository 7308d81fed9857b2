"""`make bench` runs end to end: its smoke profile, with no timing assertions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.infra import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.slow]

# What issue 8 asks bench.json to hold, besides the machine it ran on.
HEADLINE = (
    "ceiling_rps",
    "intake_rps",
    "intake_vs_ceiling",
    "gate_p99_ms",
    "e2e_kafka_p99_ms",
    "e2e_ledger_p99_ms",
    "relay_drain_eps",
    "audit_ingest_eps",
    "verify_eps",
)


def test_the_smoke_profile_measures_everything(kafka_servers: str, tmp_path: Path) -> None:
    out = tmp_path / "results"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out), "--kafka", kafka_servers],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]

    results = json.loads((out / "bench.json").read_text())
    measured = {key: results[key] for key in HEADLINE}
    assert all(isinstance(value, int | float) and value >= 0 for value in measured.values()), (
        measured
    )
    assert results["ceiling_rps"] > 0
    assert results["intake_rps"] > 0
    assert results["machine"]["cpu_count"] >= 1
    details = results["details"]
    assert details["intake"]["throughput"]["errors"] == 0
    assert details["e2e"]["to_kafka"]["errors"] == 0, "a submitted change never reached Kafka"
    assert details["e2e"]["to_ledger"]["errors"] == 0, "a submitted change never reached the ledger"
    assert details["audit_verify"]["ok"] is True

    table = (out / "bench.md").read_text()
    assert "(b) / (a)" in table
    assert "full verification" in table
