"""Tables of the audit schema: the hash-chained ledger and its head."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, SmallInteger, Text
from sqlalchemy.dialects.postgresql import JSON, TIMESTAMP
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import service_metadata
from shared.tables import messaging_tables

metadata = service_metadata("audit")
tables = messaging_tables(metadata)

HEAD_ID = 1


class Base(DeclarativeBase):
    metadata = metadata


class LedgerEntry(Base):
    """One event in the ledger, chained to the entry before it by `prev_hash`.

    `entry` is the hashed text; the other columns are copies of its fields for
    queries, which verification checks against it.
    """

    __tablename__ = "ledger_entry"
    __table_args__ = (
        CheckConstraint("sequence >= 1", name="sequence_positive"),
        Index("ix_ledger_entry_subject_sequence", "subject", "sequence"),
    )

    # Assigned by the writer under the head's lock: a database sequence would leave gaps.
    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    event_type: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    source_sequence: Mapped[int] = mapped_column(BigInteger)
    # `json`, not `jsonb`: PostgreSQL keeps `json` text byte for byte, and the hash is over
    # those bytes. The JSON type's own (de)serializer would re-encode it, so the repository
    # writes and reads it as text (`cast`), never as a Python dict.
    entry: Mapped[Any] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(Text)
    hash: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))


class LedgerHead(Base):
    """The single row naming the ledger's size and last hash; locking it serializes appends."""

    __tablename__ = "ledger_head"
    __table_args__ = (CheckConstraint(f"id = {HEAD_ID}", name="single_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    head_hash: Mapped[str] = mapped_column(Text)
