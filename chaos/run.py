"""One fault run: start the cluster, drive the load while injecting faults, settle, check."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from bench.run import machine
from chaos.checks import Snapshot, copies_on_kafka, examine, settle, verify_ledger
from chaos.client import MAX_IN_FLIGHT, ClientLedger, Driver, Tokens
from chaos.cluster import SERVICES, Cluster, cluster
from chaos.faults import FaultRecord, Injector, by_kind, plan
from chaos.lag import LagMonitor
from chaos.profile import Profile
from shared.settings import Settings

# The bound: relay lag back to zero this soon after the last fault is healed.
LAG_RECOVERY_LIMIT_S = 30.0


def run(profile: Profile, workdir: Path, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run `profile` under `workdir`; the results, whether or not the checks passed.

    `say` is told of each phase as it ends.
    """
    started = time.monotonic()
    with cluster(workdir) as built:
        results = asyncio.run(_run(built, profile, workdir, say))
    results["run_s"] = round(time.monotonic() - started, 1)
    results["failures"] = failures(results, profile)
    return results


async def _run(
    built: Cluster, profile: Profile, workdir: Path, say: Callable[[str], None]
) -> dict[str, Any]:
    async with asyncio.timeout(profile.budget_s):
        setup_started = time.monotonic()
        await built.start(say)
        setup_s = round(time.monotonic() - setup_started, 1)
        run_id = uuid.uuid4().hex[:8]
        tokens = Tokens(built.jwt_secret)
        faults = plan(profile.faults, profile.drive_s, random.Random(profile.seed))
        started = time.monotonic()
        monitor = LagMonitor(built.direct_database_url, started)
        sampling = asyncio.create_task(monitor.run(), name="lag-monitor")
        limits = httpx.Limits(max_connections=MAX_IN_FLIGHT)
        async with httpx.AsyncClient(limits=limits) as client:
            driver = Driver(
                client,
                {service: built.api_url(service) for service in SERVICES},
                tokens,
                run=run_id,
                started=started,
            )
            injector = Injector(built, started, say)
            async with asyncio.TaskGroup() as group:
                driving = group.create_task(driver.drive(profile.requests, profile.rate))
                injecting = group.create_task(injector.run(faults))
            ledger: ClientLedger = driving.result()
            records: list[FaultRecord] = injecting.result()
            drive_s = round(time.monotonic() - started, 1)
            say(f"drove {len(ledger.changes)} changes through {len(records)} faults ({drive_s} s)")
            ledger.write(workdir / "client-ledger.jsonl")
            settle_s = await settle(built.direct_database_url, profile.settle_timeout_s)
            say(f"settled ({settle_s} s)")
            sampling.cancel()
            snapshot = await Snapshot.read(built.direct_database_url)
            findings = examine(snapshot, ledger, run_id)
            findings.ledger = await verify_ledger(client, built.api_url("audit"), tokens.auditor)
            copies = await copies_on_kafka(
                f"127.0.0.1:{built.kafka.port}", Settings().changes_topic
            )
    last_healed = max((record.healed_s for record in records), default=0.0)
    client_summary = ledger.summary()
    return {
        "requests": client_summary["changes"],
        "faults": len(records),
        **findings.counts(),
        "max_lag_s": monitor.max_lag_s,
        "ledger_ok": findings.ledger_ok,
        "lag_back_to_zero_s": monitor.back_to_zero_after(last_healed),
        "faults_by_kind": by_kind(records),
        "client": client_summary,
        "ledger_entries": len(snapshot.ledger),
        # Messages on the changes topic beyond one per event: re-published, dropped by inboxes.
        "kafka_extra_copies": sum(copies.values()) - len(copies),
        "ledger_verification": {
            key: findings.ledger[key]
            for key in ("ok", "entries", "first_bad", "error")
            if key in findings.ledger
        },
        "examples": findings.examples(),
        "fault_log": [asdict(record) for record in records],
        "profile": {**asdict(profile), "drive_s_planned": profile.drive_s},
        "setup_s": setup_s,
        "drive_s": drive_s,
        "settle_s": settle_s,
        "machine": machine(),
    }


def failures(results: dict[str, Any], profile: Profile) -> list[str]:
    """What the run proves wrong; empty when every assertion of the suite holds."""
    client = results["client"]
    problems = [
        f"{results[name]} {name.replace('_', ' ')}"
        for name in ("lost", "duplicated", "reordered", "stale_read_models", "unexpected_events")
        if results[name]
    ]
    if not results["ledger_ok"]:
        problems.append(f"the ledger does not verify: {results['ledger_verification']}")
    back = results["lag_back_to_zero_s"]
    if back is None or back > LAG_RECOVERY_LIMIT_S:
        problems.append(f"relay lag not back to zero within {LAG_RECOVERY_LIMIT_S:g} s: {back}")
    if results["faults"] < profile.faults:
        problems.append(f"only {results['faults']} of {profile.faults} faults injected")
    if client["changes_closed"] < profile.requests:
        problems.append(
            f"{client['changes_closed']} of {profile.requests} changes closed"
            f" ({client['refused']} requests refused, {client['gave_up']} given up)"
        )
    return problems
