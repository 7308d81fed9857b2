"""Load generators: closed-loop for the most a server sustains, open-loop for latency.

Open-loop latency is measured from each request's scheduled send time, so a server that
falls behind shows it in the tail instead of quietly slowing the client down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

# Sends one request; returns when its response is complete; raises or returns False on failure.
Send = Callable[[int], Awaitable[bool]]


@dataclass(frozen=True)
class Stats:
    requests: int
    errors: int
    seconds: float
    p50_ms: float | None
    p99_ms: float | None

    @property
    def rps(self) -> float:
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
        }


def percentile(samples: list[float], fraction: float) -> float | None:
    if not samples:
        return None
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def summarize(latencies_s: list[float], errors: int, seconds: float) -> Stats:
    millis = [latency * 1000 for latency in latencies_s]
    p50, p99 = percentile(millis, 0.50), percentile(millis, 0.99)
    return Stats(
        requests=len(latencies_s) + errors,
        errors=errors,
        seconds=seconds,
        p50_ms=None if p50 is None else round(p50, 2),
        p99_ms=None if p99 is None else round(p99, 2),
    )


async def closed_loop(send: Send, *, concurrency: int, duration_s: float) -> Stats:
    """`concurrency` workers back to back for `duration_s`: the sustained throughput."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(10**9))
    started = time.perf_counter()
    deadline = started + duration_s

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            if await _succeeds(send, next(counter)):
                latencies.append(time.perf_counter() - sent)
            else:
                errors += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return summarize(latencies, errors, time.perf_counter() - started)


async def open_loop(
    send: Send, *, rate: float, count: int, on_done: Callable[[int, float], None] | None = None
) -> Stats:
    """`count` requests at `rate` per second whatever the responses do; latency from schedule.

    `on_done(i, wall_clock)` is told when request i succeeded, for end-to-end timing.
    """
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()

    async def one(index: int, scheduled: float) -> None:
        nonlocal errors
        if await _succeeds(send, index):
            latencies.append(time.perf_counter() - scheduled)
            if on_done is not None:
                on_done(index, time.time())
        else:
            errors += 1

    tasks = []
    for index in range(count):
        scheduled = started + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, scheduled)))
    await asyncio.gather(*tasks)
    return summarize(latencies, errors, time.perf_counter() - started)


async def _succeeds(send: Send, index: int) -> bool:
    try:
        return await send(index)
    except Exception:  # noqa: BLE001 - a failed request is counted, never fatal to the run
        return False
