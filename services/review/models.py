"""Tables of the review schema."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TIMESTAMP
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import service_metadata
from shared.idempotency import idempotency_table
from shared.tables import messaging_tables

metadata = service_metadata("review")
tables = messaging_tables(metadata)
idempotency_keys = idempotency_table(metadata)


class Base(DeclarativeBase):
    metadata = metadata


class Assessment(Base):
    """Review's view of one change: what it concluded on arrival and where approval stands."""

    __tablename__ = "assessment"

    change_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    requester: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    services: Mapped[list[str]] = mapped_column(ARRAY(Text))
    environment: Mapped[str] = mapped_column(Text)
    window_start_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    window_end_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    impact_level: Mapped[str] = mapped_column(Text)
    ready: Mapped[bool] = mapped_column(Boolean)
    readiness: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    required_approvals: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(Text, index=True)
    assessed_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    decided_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)

    approvals: Mapped[list[Approval]] = relationship(
        back_populates="assessment",
        lazy="raise",
        order_by="(Approval.recorded_at, Approval.id)",
    )


class Approval(Base):
    """One approver's decision on a change; one person counts once."""

    __tablename__ = "approval"
    __table_args__ = (UniqueConstraint("change_id", "approver"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    change_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assessment.change_id"))
    approver: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    decision: Mapped[str] = mapped_column(Text)
    comment: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )

    assessment: Mapped[Assessment] = relationship(back_populates="approvals", lazy="raise")
