"""After the run: every acknowledged request against the services' tables, their outboxes and
inboxes, and the audit ledger; then the ledger's own verification.

- lost: an acknowledged request without its row or without one of its events in the
  ledger; an event in an outbox the ledger never recorded; an event a consuming service
  has no inbox row for, or recorded as failed.
- duplicated: a second row or ledger entry for what one request asked once; a second
  live approval.
- reordered: a change whose ledger entries are out of their sources' sequence order or
  out of the lifecycle's causal order.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer

from chaos.client import ChangeRecord, ClientLedger, title_prefix
from chaos.cluster import SERVICES
from services.audit.app import SERVICE as AUDIT
from services.execution.app import SERVICE as EXECUTION
from services.intake.app import SERVICE as INTAKE
from services.review.app import SERVICE as REVIEW
from shared.contracts import EventType
from shared.db import asyncpg_dsn

# The events each acknowledged step must have caused, each exactly once.
EXPECTED_EVENTS: dict[str, tuple[str, ...]] = {
    "submit": ("change.requested", "change.assessed"),
    "approve": ("change.approval_recorded", "change.approved"),
    "start": ("change.execution_started",),
    "complete": ("change.completed",),
    "accept": ("change.accepted",),
}
# The lifecycle's causal order: each event is caused by one before it.
LIFECYCLE = [event for events in EXPECTED_EVENTS.values() for event in events]
CAUSAL_RANK = {event_type: rank for rank, event_type in enumerate(LIFECYCLE)}
# Published on a topic no service consumes into its inbox or the ledger.
UNRECORDED = {EventType.TREE_HEAD_PUBLISHED.value}


def handled_types() -> dict[str, set[str]]:
    """The event types each service's consumer applies (and records in its inbox)."""
    handled = {
        service.name: {event_type.value for event_type in service.handlers}
        for service in (INTAKE, REVIEW, EXECUTION)
    }
    handled[AUDIT.name] = {event_type.value for event_type in EventType} - UNRECORDED
    return handled


@dataclass
class Snapshot:
    """What the database holds, read straight from PostgreSQL."""

    changes: list[asyncpg.Record]
    ledger: list[asyncpg.Record]
    outbox: list[asyncpg.Record]
    inbox: dict[str, list[asyncpg.Record]]
    approvals: list[asyncpg.Record]
    executions: list[asyncpg.Record]

    @classmethod
    async def read(cls, database_url: str) -> Snapshot:
        connection = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10, ssl=False)
        try:
            outbox_query = " UNION ALL ".join(
                f"SELECT '{schema}' AS schema, event_id::text, event_type, partition_key,"
                f" sent_at IS NOT NULL AS sent FROM {schema}.outbox"
                for schema in SERVICES
            )
            return cls(
                changes=await connection.fetch(
                    "SELECT id::text, title, status, outcome FROM intake.change_request"
                ),
                ledger=await connection.fetch(
                    "SELECT sequence, event_id::text, event_type, subject, source,"
                    " source_sequence FROM audit.ledger_entry ORDER BY sequence"
                ),
                outbox=await connection.fetch(outbox_query),
                inbox={
                    schema: await connection.fetch(
                        f"SELECT event_id::text, event_type, outcome FROM {schema}.inbox"
                    )
                    for schema in SERVICES
                },
                approvals=await connection.fetch(
                    "SELECT change_id::text, approver FROM review.approval"
                    " WHERE invalidated_at IS NULL"
                ),
                executions=await connection.fetch(
                    "SELECT change_id::text, status FROM execution.execution"
                ),
            )
        finally:
            await connection.close()

    def progress(self) -> tuple[int, ...]:
        """Changes as long as anything still flows; used to tell when the system has settled."""
        return (
            len(self.ledger),
            sum(not row["sent"] for row in self.outbox),
            *(len(rows) for rows in self.inbox.values()),
        )

    def settled(self) -> bool:
        recorded = [row for row in self.outbox if row["event_type"] not in UNRECORDED]
        return all(row["sent"] for row in self.outbox) and len(self.ledger) >= len(recorded)


async def settle(database_url: str, timeout_s: float, quiet_s: float = 3.0) -> float:
    """Wait until every outbox row is sent, the ledger holds them all and nothing moves for
    `quiet_s`; returns how long that took (or `timeout_s`, and the checks will tell why)."""
    started = time.monotonic()
    last: tuple[int, ...] | None = None
    quiet_since = started
    while time.monotonic() - started < timeout_s:
        try:
            snapshot = await Snapshot.read(database_url)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            await asyncio.sleep(1)
            continue
        progress = snapshot.progress()
        if progress != last:
            last, quiet_since = progress, time.monotonic()
        elif snapshot.settled() and time.monotonic() - quiet_since >= quiet_s:
            return round(time.monotonic() - started, 1)
        await asyncio.sleep(0.5)
    return timeout_s


@dataclass
class Findings:
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    reordered: list[str] = field(default_factory=list)
    # Closed changes whose status in intake's read model is not what their events say.
    stale_read_models: list[str] = field(default_factory=list)
    unexpected_events: list[str] = field(default_factory=list)
    ledger: dict[str, Any] = field(default_factory=dict)
    # (change id, event type) already counted lost, not to count it twice.
    missing_events: set[tuple[str, str]] = field(default_factory=set)

    @property
    def ledger_ok(self) -> bool:
        return bool(self.ledger.get("ok"))

    def counts(self) -> dict[str, int]:
        return {
            "lost": len(self.lost),
            "duplicated": len(self.duplicated),
            "reordered": len(self.reordered),
            "stale_read_models": len(self.stale_read_models),
            "unexpected_events": len(self.unexpected_events),
        }

    def examples(self, limit: int = 10) -> dict[str, list[str]]:
        return {
            name: items[:limit]
            for name, items in (
                ("lost", self.lost),
                ("duplicated", self.duplicated),
                ("reordered", self.reordered),
                ("stale_read_models", self.stale_read_models),
                ("unexpected_events", self.unexpected_events),
            )
            if items
        }


def examine(snapshot: Snapshot, ledger: ClientLedger, run: str) -> Findings:
    findings = Findings()
    _check_requests(snapshot, ledger, run, findings)
    _check_events(snapshot, findings)
    _check_order(snapshot, findings)
    return findings


def _check_requests(snapshot: Snapshot, ledger: ClientLedger, run: str, findings: Findings) -> None:
    rows_by_id = {row["id"]: row for row in snapshot.changes}
    titles = Counter(row["title"] for row in snapshot.changes)
    entries: dict[str, Counter[str]] = defaultdict(Counter)
    for entry in snapshot.ledger:
        entries[entry["subject"]][entry["event_type"]] += 1
    approvals = Counter(row["change_id"] for row in snapshot.approvals)
    executions = {row["change_id"] for row in snapshot.executions}
    for change in ledger.changes:
        title = f"{title_prefix(run)}{change.index}:"
        copies = sum(n for t, n in titles.items() if t.startswith(title))
        if copies > 1:
            findings.duplicated.append(f"change #{change.index}: {copies} rows")
        if not change.acknowledged("create") or change.change_id is None:
            continue
        row = rows_by_id.get(change.change_id)
        if row is None:
            findings.lost.append(f"change #{change.index} {change.change_id}: no row")
            continue
        _check_change(change, row, entries[change.change_id], findings)
        if change.acknowledged("approve") and approvals[change.change_id] == 0:
            findings.lost.append(f"{change.change_id}: acknowledged approval, no approval row")
        if approvals[change.change_id] > 1:
            findings.duplicated.append(
                f"{change.change_id}: {approvals[change.change_id]} live approvals"
            )
        if change.acknowledged("start") and change.change_id not in executions:
            findings.lost.append(f"{change.change_id}: acknowledged start, no execution row")


def _check_change(
    change: ChangeRecord,
    row: asyncpg.Record,
    recorded: Mapping[str, int],
    findings: Findings,
) -> None:
    expected = {
        event_type
        for step, events in EXPECTED_EVENTS.items()
        if change.acknowledged(step)
        for event_type in events
    }
    for event_type in sorted(expected):
        count = recorded.get(event_type, 0)
        if count == 0:
            findings.lost.append(f"{change.change_id}: {event_type} not in the ledger")
            findings.missing_events.add((str(change.change_id), event_type))
        elif count > 1:
            findings.duplicated.append(f"{change.change_id}: {event_type} x{count} in the ledger")
    for event_type, count in recorded.items():
        if event_type not in CAUSAL_RANK:
            findings.unexpected_events.append(f"{change.change_id}: {event_type} x{count}")
        elif count > 1 and event_type not in expected:
            findings.duplicated.append(f"{change.change_id}: {event_type} x{count} in the ledger")
    if change.closed and (row["status"], row["outcome"]) != ("accepted", "successful"):
        findings.stale_read_models.append(
            f"{change.change_id}: status {row['status']}, outcome {row['outcome']}"
        )


def _check_events(snapshot: Snapshot, findings: Findings) -> None:
    """Every published event in the ledger once, and applied by each service that handles it."""
    in_ledger = Counter(entry["event_id"] for entry in snapshot.ledger)
    for event_id, count in in_ledger.items():
        if count > 1:
            findings.duplicated.append(f"event {event_id}: {count} ledger entries")
    handled = handled_types()
    inboxes = {
        schema: {row["event_id"]: row for row in rows} for schema, rows in snapshot.inbox.items()
    }
    for row in snapshot.outbox:
        if row["event_type"] in UNRECORDED:
            continue
        missing = (row["partition_key"], row["event_type"]) in findings.missing_events
        if row["event_id"] not in in_ledger and not missing:
            findings.lost.append(
                f"{row['partition_key']}: {row['event_type']} {row['event_id']} from"
                f" {row['schema']}'s outbox not in the ledger"
            )
        for service, types in handled.items():
            if row["event_type"] not in types:
                continue
            applied = inboxes[service].get(row["event_id"])
            if applied is None:
                findings.lost.append(
                    f"{row['partition_key']}: {service} never applied {row['event_type']}"
                    f" {row['event_id']}"
                )
            elif applied["outcome"] != "applied":
                findings.lost.append(
                    f"{row['partition_key']}: {service} recorded {row['event_type']}"
                    f" {row['event_id']} as {applied['outcome']}"
                )


def _check_order(snapshot: Snapshot, findings: Findings) -> None:
    """Per change: each source's sequence rises, and no event precedes its cause."""
    by_subject: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for entry in snapshot.ledger:
        by_subject[entry["subject"]].append(entry)
    for subject, entries in by_subject.items():
        last_sequence: dict[str, int] = {}
        last_rank = -1
        for entry in entries:
            source, sequence = entry["source"], entry["source_sequence"]
            rank = CAUSAL_RANK.get(entry["event_type"], last_rank)
            if sequence <= last_sequence.get(source, 0) or rank < last_rank:
                findings.reordered.append(
                    f"{subject}: {entry['event_type']} (#{sequence} of {source}) at ledger"
                    f" position {entry['sequence']}"
                )
                break
            last_sequence[source], last_rank = sequence, rank


async def verify_ledger(
    client: httpx.AsyncClient, audit_url: str, auditor: dict[str, str]
) -> dict[str, Any]:
    """The audit service's own verification of the hash chain, Merkle tree and signed heads."""
    for _ in range(10):
        try:
            response = await client.get(
                f"{audit_url}/v1/audit/verify", headers=auditor, timeout=120
            )
        except httpx.TransportError:
            await asyncio.sleep(2)
            continue
        if response.status_code == 200:
            body: dict[str, Any] = response.json()
            return body
        await asyncio.sleep(2)
    return {"ok": False, "error": "the audit service did not answer /v1/audit/verify"}


async def copies_on_kafka(servers: str, topic: str) -> Counter[str]:
    """How many times each event id is on `topic`: more than once where a relay died or lost
    its connection between publishing and marking its rows sent (the inboxes drop them)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=servers,
        group_id=f"chaos-reader-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    copies: Counter[str] = Counter()
    try:
        # Everything was published before the checks; two quiet seconds mean the end.
        while batches := await consumer.getmany(timeout_ms=2000, max_records=5000):
            for records in batches.values():
                copies.update(json.loads(record.value)["id"] for record in records)
    finally:
        await consumer.stop()
    return copies
