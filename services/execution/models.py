"""Tables of the execution schema."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Integer, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import service_metadata
from shared.idempotency import idempotency_table
from shared.tables import messaging_tables

metadata = service_metadata("execution")
tables = messaging_tables(metadata)
idempotency_keys = idempotency_table(metadata)


class Base(DeclarativeBase):
    metadata = metadata


class Execution(Base):
    """How one approved change is carried out, from ready to accepted.

    Keyed by the change id (one execution per change), so stages, verifications
    and rollbacks can later hang off it as their own tables.
    """

    __tablename__ = "execution"

    change_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    services: Mapped[list[str]] = mapped_column(ARRAY(Text))
    environment: Mapped[str] = mapped_column(Text)
    impact_level: Mapped[str] = mapped_column(Text)
    window_start_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    window_end_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    approvers: Mapped[list[str]] = mapped_column(ARRAY(Text))
    status: Mapped[str] = mapped_column(Text, index=True)
    executor: Mapped[str | None] = mapped_column(Text)
    completion_notes: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(Text)
    acceptance_notes: Mapped[str | None] = mapped_column(Text)
    ready_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)
