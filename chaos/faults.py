"""The faults: planned from a seeded RNG across the run, each healed (process restarted,
broker or database back, toxic removed) before the next of its kind begins."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from chaos.cluster import SERVICES, Cluster
from chaos.toxiproxy import Proxy

# A latency toxic adds this much to every answer, each way the issue asks for.
LATENCY_MS = 2000
# A timeout toxic stops the data, then closes the connection after this long.
TIMEOUT_MS = 2000


class FaultKind(StrEnum):
    KILL_RELAY = "kill -9 relay"
    KILL_CONSUMER = "kill -9 consumer"
    KILL_API = "kill -9 api"
    KILL_KAFKA = "kill -9 kafka"
    STOP_POSTGRES = "postgres immediate stop"
    CUT_POSTGRES = "cut postgres"
    CUT_KAFKA = "cut kafka"
    TIMEOUT_POSTGRES = "timeout postgres"
    TIMEOUT_KAFKA = "timeout kafka"
    LATENCY_POSTGRES = "2 s latency postgres"
    LATENCY_KAFKA = "2 s latency kafka"


KILLED_ROLE = {
    FaultKind.KILL_RELAY: "relay",
    FaultKind.KILL_CONSUMER: "consumer",
    FaultKind.KILL_API: "api",
}
# How long each kind of fault lasts before it is healed (seconds, drawn uniformly).
DURATIONS: dict[FaultKind, tuple[float, float]] = {
    FaultKind.KILL_RELAY: (1.0, 4.0),
    FaultKind.KILL_CONSUMER: (1.0, 4.0),
    FaultKind.KILL_API: (1.0, 4.0),
    FaultKind.KILL_KAFKA: (1.0, 4.0),
    FaultKind.STOP_POSTGRES: (1.0, 4.0),
    FaultKind.CUT_POSTGRES: (2.0, 6.0),
    FaultKind.CUT_KAFKA: (2.0, 6.0),
    FaultKind.TIMEOUT_POSTGRES: (2.0, 6.0),
    FaultKind.TIMEOUT_KAFKA: (2.0, 6.0),
    FaultKind.LATENCY_POSTGRES: (4.0, 10.0),
    FaultKind.LATENCY_KAFKA: (4.0, 10.0),
}


@dataclass(frozen=True)
class PlannedFault:
    kind: FaultKind
    target: str
    at_s: float
    duration_s: float


@dataclass(frozen=True)
class FaultRecord:
    kind: str
    target: str
    at_s: float
    # From the fault's start until it is healed: the process answers again, the toxic is gone.
    healed_s: float
    duration_s: float


def plan(count: int, drive_s: float, rng: random.Random) -> list[PlannedFault]:
    """`count` faults spread over the drive: every kind at least once when count allows."""
    kinds = list(FaultKind)
    rng.shuffle(kinds)
    chosen = kinds[:count] + [rng.choice(list(FaultKind)) for _ in range(count - len(kinds))]
    rng.shuffle(chosen)
    start, end = 0.08 * drive_s, 0.85 * drive_s
    slot = (end - start) / max(count, 1)
    faults = []
    for number, kind in enumerate(chosen):
        low, high = DURATIONS[kind]
        duration = min(rng.uniform(low, high), max(low, 0.4 * slot))
        target = rng.choice(SERVICES) if kind in KILLED_ROLE else _target(kind)
        at = start + number * slot + rng.uniform(0, 0.2 * slot)
        faults.append(PlannedFault(kind, target, round(at, 2), round(duration, 2)))
    return faults


def _target(kind: FaultKind) -> str:
    return "kafka" if "kafka" in kind.value else "postgres"


def by_kind(records: list[FaultRecord]) -> dict[str, int]:
    counts = Counter(record.kind for record in records)
    return {kind.value: counts.get(kind.value, 0) for kind in FaultKind}


class Injector:
    """Injects planned faults on `cluster`, each at its time on the run's clock.

    Faults of different kinds may overlap (a relay dies while the broker restarts); one of
    the same kind waits until the one before it is healed.
    """

    def __init__(self, cluster: Cluster, started: float, say: Callable[[str], None]) -> None:
        self._cluster = cluster
        self._started = started
        self._say = say
        self.records: list[FaultRecord] = []

    async def run(self, faults: list[PlannedFault]) -> list[FaultRecord]:
        healed_first = {kind: asyncio.Lock() for kind in FaultKind}
        async with asyncio.TaskGroup() as group:
            for fault in faults:
                group.create_task(self._at_its_time(fault, healed_first[fault.kind], len(faults)))
        self.records.sort(key=lambda record: record.at_s)
        return self.records

    async def _at_its_time(self, fault: PlannedFault, lock: asyncio.Lock, total: int) -> None:
        delay = self._started + fault.at_s - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        async with lock:
            begun = self._now()
            await self._inject(fault)
            healed = self._now()
        duration = round(healed - begun, 2)
        record = FaultRecord(fault.kind.value, fault.target, begun, healed, duration)
        self.records.append(record)
        self._say(
            f"fault {len(self.records)}/{total} at {begun:.0f} s: {record.kind}"
            f" ({record.target}), healed after {record.duration_s:.1f} s"
        )

    def _now(self) -> float:
        return round(time.monotonic() - self._started, 2)

    async def _inject(self, fault: PlannedFault) -> None:
        cluster = self._cluster
        kind, duration = fault.kind, fault.duration_s
        if kind in KILLED_ROLE:
            process = cluster.processes[(fault.target, KILLED_ROLE[kind])]
            await asyncio.to_thread(process.kill)
            await asyncio.sleep(duration)
            process.start()
            await process.wait_ready()
        elif kind is FaultKind.KILL_KAFKA:
            await asyncio.to_thread(cluster.kafka.kill)
            await asyncio.sleep(duration)
            await asyncio.to_thread(cluster.kafka.start)
        elif kind is FaultKind.STOP_POSTGRES:
            await asyncio.to_thread(cluster.postgres.stop, "immediate")
            await asyncio.sleep(duration)
            await asyncio.to_thread(cluster.postgres.start)
        else:
            await self._network_fault(kind, self._proxy(fault.target), duration)

    def _proxy(self, target: str) -> Proxy:
        proxy = self._cluster.kafka_proxy if target == "kafka" else self._cluster.postgres_proxy
        assert proxy is not None
        return proxy

    async def _network_fault(self, kind: FaultKind, proxy: Proxy, duration: float) -> None:
        toxiproxy = self._cluster.toxiproxy
        if kind in (FaultKind.CUT_POSTGRES, FaultKind.CUT_KAFKA):
            await toxiproxy.set_enabled(proxy, False)
            try:
                await asyncio.sleep(duration)
            finally:
                await toxiproxy.set_enabled(proxy, True)
            return
        if kind in (FaultKind.TIMEOUT_POSTGRES, FaultKind.TIMEOUT_KAFKA):
            toxic, attributes = "chaos-timeout", {"timeout": TIMEOUT_MS}
            await toxiproxy.add_toxic(proxy, toxic, "timeout", attributes)
        else:
            toxic, attributes = "chaos-latency", {"latency": LATENCY_MS, "jitter": 0}
            await toxiproxy.add_toxic(proxy, toxic, "latency", attributes)
        try:
            await asyncio.sleep(duration)
        finally:
            await toxiproxy.remove_toxic(proxy, toxic)
