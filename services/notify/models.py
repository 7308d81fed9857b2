"""Tables of the notify schema: subscriptions, what it knows of each change, deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TIMESTAMP
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import service_metadata
from shared.idempotency import idempotency_table
from shared.tables import messaging_tables

metadata = service_metadata("notify")
tables = messaging_tables(metadata)
idempotency_keys = idempotency_table(metadata)

_EMPTY_ARRAY = text("'{}'::text[]")


class Base(DeclarativeBase):
    metadata = metadata


class Subscription(Base):
    """A receiver of webhooks: which events, narrowed by filters, in which format."""

    __tablename__ = "subscription"
    __table_args__ = (
        Index("ix_subscription_created_at_id", "created_at", "id"),
        Index("ix_subscription_event_types", "event_types", postgresql_using="gin"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(Text)
    event_types: Mapped[list[str]] = mapped_column(ARRAY(Text))
    # An empty filter lets everything through.
    services: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=_EMPTY_ARRAY)
    environments: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=_EMPTY_ARRAY)
    impact_levels: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=_EMPTY_ARRAY)
    reminder_lead_seconds: Mapped[int] = mapped_column(Integer)
    # The signing secret, encrypted (services/notify/encryption.py): every delivery is signed
    # with it, so notify must read it back, but the database alone does not give it away.
    encrypted_secret: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    deleted_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    deleted_by: Mapped[str | None] = mapped_column(Text)


class ChangeSummary(Base):
    """What notify has learnt of a change from its events, to filter and word notifications."""

    __tablename__ = "change_summary"

    change_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    title: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(Text)
    services: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=_EMPTY_ARRAY)
    environment: Mapped[str | None] = mapped_column(Text)
    window_start_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    window_end_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    impact_level: Mapped[str | None] = mapped_column(Text)
    requester: Mapped[str | None] = mapped_column(Text)
    emergency: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    contacts: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, server_default=text("'[]'::jsonb")
    )
    status: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Delivery(Base):
    """One event (or reminder) for one subscription: its body, and where sending it stands."""

    __tablename__ = "delivery"
    __table_args__ = (
        Index("ix_delivery_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
        Index("ix_delivery_subscription_id_created_at_id", "subscription_id", "created_at", "id"),
        Index(
            "ix_delivery_pending_subject",
            "subject",
            "event_type",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscription.id", ondelete="CASCADE")
    )
    event_id: Mapped[uuid.UUID] = mapped_column()
    event_type: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    # The CloudEvent and what notify knew of its change then; the body is rendered from them
    # (in the subscription's format) when the delivery is first claimed, and kept.
    event: Mapped[str] = mapped_column(Text)
    change: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    body: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    # Set by the dispatcher that claimed the delivery; a late result of an older claim is ignored.
    lease_id: Mapped[uuid.UUID | None] = mapped_column()
    last_attempt_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    dead_lettered_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    replay_of: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("delivery.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )


class DeliveryAttempt(Base):
    """One try at sending a delivery, as the receiver answered it."""

    __tablename__ = "delivery_attempt"
    __table_args__ = (UniqueConstraint("delivery_id", "number"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("delivery.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    succeeded: Mapped[bool] = mapped_column(Boolean)
