"""The messaging tables every service has in its own schema: outbox, event sequence, inbox."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Identity,
    Index,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import TIMESTAMP


@dataclass(frozen=True)
class MessagingTables:
    schema: str
    outbox: Table
    event_sequence: Table
    inbox: Table


def messaging_tables(metadata: MetaData) -> MessagingTables:
    assert metadata.schema, "service metadata must name its schema"
    outbox = Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("event_type", Text, nullable=False),
        Column("partition_key", Text, nullable=False),
        Column("payload", Text, nullable=False),
        Column("created_at", TIMESTAMP(timezone=True), nullable=False, server_default=func.now()),
        Column("sent_at", TIMESTAMP(timezone=True)),
        Index("ix_outbox_unsent", "id", postgresql_where="sent_at IS NULL"),
    )
    event_sequence = Table(
        "event_sequence",
        metadata,
        Column("subject", Text, primary_key=True),
        Column("last_sequence", BigInteger, nullable=False),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("event_id", Uuid, primary_key=True),
        Column("event_type", Text, nullable=False),
        Column("subject", Text, nullable=False),
        Column("source", Text, nullable=False),
        Column("outcome", Text, nullable=False, server_default="applied"),
        Column("error", Text),
        Column("processed_at", TIMESTAMP(timezone=True), nullable=False, server_default=func.now()),
    )
    return MessagingTables(metadata.schema, outbox, event_sequence, inbox)
