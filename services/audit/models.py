"""Tables of the audit schema: the hash-chained ledger, its Merkle tree, heads and search index."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSON, TIMESTAMP
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import service_metadata
from shared.idempotency import idempotency_table
from shared.tables import messaging_tables

metadata = service_metadata("audit")
tables = messaging_tables(metadata)
idempotency_keys = idempotency_table(metadata)

HEAD_ID = 1
# Created by the audit migration; see `shared.settings.Settings.audit_writer_role`.
WRITER_ROLE = "changeward_audit_writer"


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
        Index("ix_ledger_entry_recorded_at", "recorded_at"),
        Index("ix_ledger_entry_actor_sequence", "actor", "sequence"),
        Index("ix_ledger_entry_event_type_sequence", "event_type", "sequence"),
    )

    # Assigned by the writer under the head's lock: a database sequence would leave gaps.
    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    event_type: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    source_sequence: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(Text)
    # `json`, not `jsonb`: PostgreSQL keeps `json` text byte for byte, and the hash is over
    # those bytes. The JSON type's own (de)serializer would re-encode it, so the repository
    # writes and reads it as text (`cast`), never as a Python dict.
    entry: Mapped[Any] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(Text)
    hash: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))


class LedgerHead(Base):
    """The single row naming the ledger's size, last hash and Merkle frontier.

    Locking it serializes appends. The one ledger table the writer may UPDATE: it is a
    cache of the chain's and tree's tips, checked by verification and signed tree heads.
    """

    __tablename__ = "ledger_head"
    __table_args__ = (CheckConstraint(f"id = {HEAD_ID}", name="single_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    head_hash: Mapped[str] = mapped_column(Text)
    # The roots of the perfect subtrees covering the ledger, largest first (see merkle.py).
    frontier: Mapped[list[bytes]] = mapped_column(ARRAY(LargeBinary), server_default="{}")


class MerkleNode(Base):
    """A perfect subtree's hash: 2**level leaves from leaf index * 2**level (level 0: a leaf).

    Final once written, so append-only like the ledger; proofs are assembled from these.
    """

    __tablename__ = "merkle_node"
    __table_args__ = (CheckConstraint("level >= 0 AND index >= 0", name="coordinates"),)

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class SignedTreeHeadRow(Base):
    """A signed tree head as the ledger issued it (append-only)."""

    __tablename__ = "tree_head"
    __table_args__ = (Index("ix_tree_head_size", "size"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[bytes] = mapped_column(LargeBinary)
    signed_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(Text)


class LedgerSubject(Base):
    """What the ledger has learnt about each subject (a change), for searching its entries.

    A derived index, not evidence: rebuilt from the entries if in doubt.
    """

    __tablename__ = "ledger_subject"
    __table_args__ = (
        Index("ix_ledger_subject_services", "services", postgresql_using="gin"),
        Index("ix_ledger_subject_environment", "environment"),
    )

    subject: Mapped[str] = mapped_column(Text, primary_key=True)
    services: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    environment: Mapped[str | None] = mapped_column(Text)
    impact_level: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(Text)


# -- state the audit service owns besides the ledger: incidents and post-change reviews.
# Ordinary tables, written by requests; every change to them is also an event, so the
# ledger keeps their history.

_NOW = func.now()


class Incident(Base):
    __tablename__ = "incident"
    __table_args__ = (
        CheckConstraint("resolved_at IS NULL OR resolved_at >= started_at", name="resolved_after"),
        Index("ix_incident_created_at_id", "created_at", "id"),
        Index("ix_incident_service_environment_started_at", "service", "environment", "started_at"),
        # A paging tool's redelivery finds the incident it already reported.
        Index(
            "uq_incident_source_external_id",
            "source",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    service: Mapped[str] = mapped_column(Text)
    environment: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    external_url: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=_NOW)


class IncidentLink(Base):
    """An incident attributed to a change; feeds change failure rate and time to restore."""

    __tablename__ = "incident_link"
    __table_args__ = (
        UniqueConstraint("incident_id", "change_id", name="uq_incident_link_incident_change"),
        Index("ix_incident_link_change_id", "change_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("audit.incident.id"))
    change_id: Mapped[uuid.UUID] = mapped_column()
    origin: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    linked_by: Mapped[str] = mapped_column(Text)
    linked_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=_NOW)


class Retrospective(Base):
    """The post-change review of one change."""

    __tablename__ = "retrospective"
    __table_args__ = (Index("ix_retrospective_created_at_id", "created_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    change_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    services: Mapped[list[str]] = mapped_column(ARRAY(Text))
    findings: Mapped[str] = mapped_column(Text)
    process_gaps: Mapped[list[str]] = mapped_column(ARRAY(Text))
    recorded_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=_NOW)


class ActionItem(Base):
    __tablename__ = "action_item"
    __table_args__ = (
        UniqueConstraint(
            "retrospective_id", "position", name="uq_action_item_retrospective_position"
        ),
        Index("ix_action_item_created_at_id", "created_at", "id"),
        Index(
            "ix_action_item_open_due_on",
            "due_on",
            postgresql_where=text("status IN ('open', 'in_progress')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    retrospective_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("audit.retrospective.id"))
    # The item's place in its review, as the reviewers listed them.
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(Text)
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=_NOW)
    updated_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=_NOW)
    closed_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
