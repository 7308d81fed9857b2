"""`changeward events tail`: follow the event topics on Kafka and pretty-print each event."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from rich.text import Text

from changeward.cli_common import ExitCode, Json, fail, stderr, stdout
from shared.events import TYPE_PREFIX
from shared.settings import Settings

events_app = typer.Typer(help="The event stream on Kafka.", no_args_is_help=True)

# What is worth a glance in each event's data, by type.
HIGHLIGHTS: dict[str, tuple[str, ...]] = {
    "change.requested": ("title", "environment", "services"),
    "change.updated": ("title", "version"),
    "change.cancelled": ("reason",),
    "change.assessed": ("impact_level", "ready"),
    "change.approval_recorded": ("decision", "approver", "role"),
    "change.approved": ("impact_level", "approvers"),
    "change.rejected": ("rejected_by", "comment"),
    "change.execution_started": ("executor",),
    "change.accepted": ("outcome", "accepted_by"),
    "deployment.reported": ("service", "environment", "status", "unauthorized"),
}


def short_type(event: dict[str, Any]) -> str:
    return str(event.get("type", "")).removeprefix(TYPE_PREFIX)


def wanted(event: dict[str, Any], change_ids: set[str], types: set[str]) -> bool:
    if change_ids and str(event.get("subject")) not in change_ids:
        return False
    return not types or short_type(event) in types


def describe(event: dict[str, Any]) -> Text:
    """One line: when, which change, its sequence, the type, who, from where, and highlights."""
    kind = short_type(event)
    data = event.get("data") or {}
    highlights = " ".join(
        f"{key}={_compact(data[key])}" for key in HIGHLIGHTS.get(kind, ()) if key in data
    )
    source = str(event.get("source", "")).removeprefix("/changeward/")
    return Text.assemble(
        (str(event.get("time", ""))[:19], "dim"),
        "  ",
        (str(event.get("subject", "")), "cyan"),
        f"  #{event.get('sequence', '?'):<3} ",
        (f"{kind:<25}", "bold"),
        f" by {event.get('actor', '?')} via {source}",
        (f"  {highlights}" if highlights else "", "green"),
    )


def _compact(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


@events_app.command("tail")
def tail(
    bootstrap_servers: Annotated[
        str | None,
        typer.Option(envvar="CHANGEWARD_KAFKA_BOOTSTRAP_SERVERS", help="Kafka, host:port,..."),
    ] = None,
    topic: Annotated[
        list[str] | None,
        typer.Option(help="Topics to follow (repeatable); default: changes and deployments."),
    ] = None,
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="Start from the oldest event kept.")
    ] = False,
    change: Annotated[
        list[str] | None, typer.Option("--change", help="Only these changes (repeatable).")
    ] = None,
    event_type: Annotated[
        list[str] | None,
        typer.Option("--type", help="Only these types, e.g. change.approved (repeatable)."),
    ] = None,
    max_events: Annotated[
        int | None, typer.Option("--max", min=1, help="Stop after this many events.")
    ] = None,
    idle_timeout: Annotated[
        float | None,
        typer.Option(help="Stop when no event arrived for this many seconds."),
    ] = None,
    json_output: Json = False,
) -> None:
    """Follow the topics (no consumer group: nothing is committed) and print each event."""
    settings = Settings()
    servers = bootstrap_servers or settings.kafka_bootstrap_servers
    if not servers:
        fail(
            "no Kafka to follow: set CHANGEWARD_KAFKA_BOOTSTRAP_SERVERS or --bootstrap-servers "
            "(the all-in-one mode without Kafka keeps events in process; read them with "
            "`changeward audit timeline`)",
            ExitCode.USAGE,
        )
    topics = topic or [settings.changes_topic, settings.deployments_topic]
    types = {t.removeprefix(TYPE_PREFIX) for t in event_type or ()}
    follow = _Follow(servers, topics, from_beginning, set(change or ()), types)
    try:
        shown = asyncio.run(follow.run(max_events, idle_timeout, json_output))
    except KafkaError as error:
        fail(f"Kafka at {servers}: {error}")
    except KeyboardInterrupt:
        shown = follow.shown
    stderr.print(f"{shown} event(s)", style="dim")


class _Follow:
    def __init__(
        self,
        servers: str,
        topics: list[str],
        from_beginning: bool,
        change_ids: set[str],
        types: set[str],
    ) -> None:
        self.servers = servers
        self.topics = topics
        self.from_beginning = from_beginning
        self.change_ids = change_ids
        self.types = types
        self.shown = 0

    async def run(self, max_events: int | None, idle_timeout: float | None, as_json: bool) -> int:
        consumer = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=self.servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if self.from_beginning else "latest",
            client_id="changeward-cli-tail",
        )
        await consumer.start()
        try:
            while max_events is None or self.shown < max_events:
                timeout_ms = int((idle_timeout or 1.0) * 1000)
                batches = await consumer.getmany(timeout_ms=timeout_ms)
                if not batches and idle_timeout is not None:
                    break
                for records in batches.values():
                    for record in records:
                        self._show(record.value, as_json)
                        if max_events is not None and self.shown >= max_events:
                            return self.shown
        finally:
            await consumer.stop()
        return self.shown

    def _show(self, raw: bytes | None, as_json: bool) -> None:
        try:
            event = json.loads(raw or b"")
        except ValueError:
            stderr.print(Text(f"skipped a record that is not JSON: {raw!r:.80}", style="yellow"))
            return
        if not isinstance(event, dict) or not wanted(event, self.change_ids, self.types):
            return
        self.shown += 1
        if as_json:
            typer.echo(json.dumps(event, separators=(",", ":")))
        else:
            stdout.print(describe(event), highlight=False)
