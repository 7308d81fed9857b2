"""A relay process that dies (SIGKILL) right after the broker acked its batch.

Run as `python -m tests.support.crashing_relay`; configured by CHANGEWARD_* variables.
"""

from __future__ import annotations

import asyncio
import os
import signal

from services.intake.models import tables
from shared.bus import KafkaBus, Message
from shared.db import Database
from shared.outbox import OutboxRelay
from shared.settings import Settings


class DiesAfterPublishing(OutboxRelay):
    async def publish(self, messages: list[Message]) -> None:
        await super().publish(messages)
        os.kill(os.getpid(), signal.SIGKILL)


async def main() -> None:
    settings = Settings()
    assert settings.database_url
    database = Database(settings.database_url)
    bus = KafkaBus(settings)
    await bus.start()
    await DiesAfterPublishing(tables, database, bus, settings).drain_once()
    raise SystemExit("the relay published nothing, so it did not die")


if __name__ == "__main__":
    asyncio.run(main())
