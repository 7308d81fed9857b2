"""Follow Changeward's change events on Kafka, flagging gaps and repeats.

A starting point for an SRE tool: copy it, keep the bookkeeping, replace `handle`.
It needs only `aiokafka` (pip install aiokafka) and Python 3.11+.

    python examples/consume_changes.py --bootstrap-servers 127.0.0.1:9092
    python examples/consume_changes.py --from-beginning --exit-when-idle 5

Every event is a CloudEvents 1.0 JSON document (the catalog: GET /v1/events/asyncapi.json).
The topic is keyed by change id, so one change's events arrive in order. `sequence`
counts per change (`subject`) and per publishing service (`source`): the next one
expected is the last plus one. Delivery is at least once, so a repeat (a sequence
already seen) is normal after a redelivery and is skipped; a jump means events
are missing (for example, expired by retention before this consumer read them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer


@dataclass
class SequenceTracker:
    """The last sequence seen per (change, source)."""

    last: dict[tuple[str, str], int] = field(default_factory=dict)

    def check(self, event: dict[str, Any]) -> str:
        """`ok`, `first` (nothing seen before for this stream), `repeat` or `gap`."""
        stream = (event["subject"], event["source"])
        sequence = int(event["sequence"])
        previous = self.last.get(stream)
        if previous is not None and sequence <= previous:
            return "repeat"
        self.last[stream] = sequence
        if previous is None:
            return "ok" if sequence == 1 else "first"
        return "ok" if sequence == previous + 1 else "gap"


def describe(event: dict[str, Any]) -> str:
    change = event["subject"]
    kind = event["type"].removeprefix("io.changeward.")
    service = event["source"].removeprefix("/changeward/")
    return (
        f"{event['time']}  {change}  #{event['sequence']:<3} {kind:<26} "
        f"by {event['actor']} via {service}"
    )


def handle(event: dict[str, Any], verdict: str, previous: int | None) -> None:
    """What to do with each event; this one prints."""
    if verdict == "repeat":
        print(f"REPEAT {describe(event)} (already seen; skipped)", flush=True)
        return
    if verdict == "gap":
        missing = f"#{(previous or 0) + 1}..#{int(event['sequence']) - 1}"
        print(f"GAP    {event['subject']} from {event['source']}: missing {missing}", flush=True)
    elif verdict == "first":
        print(
            f"JOINED {event['subject']} at #{event['sequence']} (earlier events not read)",
            flush=True,
        )
    print(f"       {describe(event)}", flush=True)


async def consume(args: argparse.Namespace) -> int:
    consumer = AIOKafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap_servers,
        group_id=args.group,
        # No offsets committed yet for this group: start from the oldest event kept,
        # or only from new ones.
        auto_offset_reset="earliest" if args.from_beginning else "latest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    tracker = SequenceTracker()
    seen = 0
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=int(args.exit_when_idle * 1000) or 1000)
            if not batches and args.exit_when_idle:
                return seen
            for records in batches.values():
                for record in records:
                    event = json.loads(record.value)
                    stream = (event["subject"], event["source"])
                    previous = tracker.last.get(stream)
                    handle(event, tracker.check(event), previous)
                    seen += 1
            # Only after handling: a crash before this line means redelivery, not loss.
            await consumer.commit()
    finally:
        await consumer.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="changeward.changes.v1")
    parser.add_argument("--group", default="sre-change-follower", help="Kafka consumer group.")
    parser.add_argument(
        "--from-beginning",
        action="store_true",
        help="Start at the oldest event kept when the group has no committed offset.",
    )
    parser.add_argument(
        "--exit-when-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="Stop after this long without events (default: follow forever).",
    )
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    try:
        seen = asyncio.run(consume(args))
    except KeyboardInterrupt:
        return
    print(f"read {seen} events", flush=True)


if __name__ == "__main__":
    main()
