"""Relay processes that SIGKILL themselves at a chosen step of a batch (real PostgreSQL, Kafka).

    python -m tests.support.crashing_relay --at acked
        this process relays intake's outbox and kills itself after the broker acked a batch.
    python -m tests.support.crashing_relay --at claimed --at sent --rounds 20
        forks one relay per step per round, one after the other, each killing itself at its
        step; prints how many died at each step as JSON (forking skips the imports per kill).

Configured by CHANGEWARD_* variables (`relay_environment` builds them); `--at` defaults to
CRASHING_RELAY_AT, else `acked`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import traceback
from collections import Counter
from collections.abc import Sequence
from typing import NoReturn

from services.intake.models import tables
from shared.bus import KafkaBus
from shared.db import Database
from shared.outbox import OutboxRelay, RelayStep
from shared.settings import Settings

GIVE_UP_AFTER_SECONDS = 60
IDLE_SECONDS = 0.01
DID_NOT_DIE = 3


def relay_environment(database_url: str, settings: Settings) -> dict[str, str]:
    """The environment of a relay process on `database_url` and the broker and topics of
    `settings`."""
    return {
        **os.environ,
        "CHANGEWARD_DATABASE_URL": database_url,
        "CHANGEWARD_KAFKA_BOOTSTRAP_SERVERS": str(settings.kafka_bootstrap_servers),
        "CHANGEWARD_CHANGES_TOPIC": settings.changes_topic,
        "CHANGEWARD_DEPLOYMENTS_TOPIC": settings.deployments_topic,
        "CHANGEWARD_TREE_HEADS_TOPIC": settings.tree_heads_topic,
        "CHANGEWARD_RELAY_BATCH_SIZE": str(settings.relay_batch_size),
        "CHANGEWARD_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "CHANGEWARD_JWT_SECRET": "unused",
    }


class DiesAt(OutboxRelay):
    def __init__(self, step: RelayStep, database: Database, bus: KafkaBus, settings: Settings):
        super().__init__(tables, database, bus, settings)
        self._dies_at = step

    async def reached(self, step: RelayStep) -> None:
        if step is self._dies_at:
            os.kill(os.getpid(), signal.SIGKILL)


async def relay_until_killed(step: RelayStep) -> None:
    """Drain until a batch reaches `step`; waits for rows (or another relay's lock) meanwhile."""
    settings = Settings()
    assert settings.database_url
    database = Database(settings.database_url)
    bus = KafkaBus(settings)
    await bus.start()
    relay = DiesAt(step, database, bus, settings)
    async with asyncio.timeout(GIVE_UP_AFTER_SECONDS):
        while True:
            await relay.drain_once()
            await asyncio.sleep(IDLE_SECONDS)


def die_at(step: RelayStep) -> NoReturn:
    """Never returns: a forked relay must not go on with its parent's loop."""
    try:
        asyncio.run(relay_until_killed(step))
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(DID_NOT_DIE)


def kill_rounds(steps: Sequence[RelayStep], rounds: int) -> Counter[RelayStep]:
    """Fork a relay per step per round, in turn; each must die by SIGKILL at its step."""
    killed: Counter[RelayStep] = Counter()
    for _ in range(rounds):
        for step in steps:
            child = os.fork()
            if child == 0:
                die_at(step)
            _, status = os.waitpid(child, 0)
            if os.waitstatus_to_exitcode(status) != -signal.SIGKILL:
                raise SystemExit(f"the relay meant to die at {step} ended with status {status}")
            killed[step] += 1
    return killed


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--at", action="append", type=RelayStep, choices=list(RelayStep), dest="steps"
    )
    parser.add_argument("--rounds", type=int, help="fork this many relays per step")
    args = parser.parse_args(argv)
    steps = args.steps or [RelayStep(os.environ.get("CRASHING_RELAY_AT", RelayStep.ACKED))]
    if args.rounds is None:
        (step,) = steps
        die_at(step)
    killed = kill_rounds(steps, args.rounds)
    sys.stdout.write(json.dumps({step.value: count for step, count in killed.items()}) + "\n")


if __name__ == "__main__":
    main()
