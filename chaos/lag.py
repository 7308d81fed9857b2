"""Relay lag: how old the oldest unsent outbox row is, sampled through the run."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import asyncpg

from chaos.cluster import SERVICES
from shared.db import asyncpg_dsn

SAMPLE_INTERVAL_S = 0.25

_UNSENT = " UNION ALL ".join(
    f"SELECT created_at FROM {schema}.outbox WHERE sent_at IS NULL" for schema in SERVICES
)
PENDING_QUERY = (
    "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)"
    f" FROM ({_UNSENT}) AS unsent"
)


@dataclass(frozen=True)
class Sample:
    at_s: float
    pending: int
    oldest_s: float


@dataclass
class LagMonitor:
    """Samples every service's unsent outbox rows straight from PostgreSQL (not via the proxy).

    While PostgreSQL is down there are no samples; the ages measured once it is back cover
    the outage, since they count from each row's commit.
    """

    database_url: str
    started: float
    samples: list[Sample] = field(default_factory=list)

    async def run(self) -> None:
        connection: asyncpg.Connection | None = None
        try:
            while True:
                try:
                    if connection is None or connection.is_closed():
                        # ssl=False: no TLS negotiation on loopback, whose abandoned
                        # futures asyncpg reports when a connect times out.
                        connection = await asyncpg.connect(
                            asyncpg_dsn(self.database_url), timeout=5, ssl=False
                        )
                    row = await connection.fetchrow(PENDING_QUERY, timeout=5)
                    assert row is not None
                    self.samples.append(
                        Sample(round(time.monotonic() - self.started, 2), row[0], float(row[1]))
                    )
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                    if connection is not None:
                        connection.terminate()
                    connection = None
                await asyncio.sleep(SAMPLE_INTERVAL_S)
        finally:
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.close()

    @property
    def max_lag_s(self) -> float:
        return round(max((sample.oldest_s for sample in self.samples), default=0.0), 2)

    def back_to_zero_after(self, moment_s: float) -> float | None:
        """Seconds from `moment_s` until a sample saw no unsent row; None if none did."""
        for sample in self.samples:
            if sample.at_s >= moment_s and sample.pending == 0:
                return round(sample.at_s - moment_s, 2)
        return None
