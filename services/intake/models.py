"""Tables of the intake schema."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Index, Integer, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TIMESTAMP
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import service_metadata
from shared.idempotency import idempotency_table
from shared.tables import messaging_tables

metadata = service_metadata("intake")
tables = messaging_tables(metadata)
idempotency_keys = idempotency_table(metadata)

_EMPTY_LIST = text("'[]'::jsonb")


class Base(DeclarativeBase):
    metadata = metadata
    # Server-made columns (created_at, updated_at...) come back with the INSERT or UPDATE
    # itself (RETURNING) instead of a SELECT after it.
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012 - read by SQLAlchemy, never mutated


class ChangeRequest(Base):
    """A change as requested, with its overall status kept current from every lifecycle event."""

    __tablename__ = "change_request"
    __table_args__ = (
        Index("ix_change_request_created_at_id", "created_at", "id"),
        Index("ix_change_request_services", "services", postgresql_using="gin"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    title: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    services: Mapped[list[str]] = mapped_column(ARRAY(Text))
    environment: Mapped[str] = mapped_column(Text)
    window_start_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    window_end_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    plans: Mapped[dict[str, Any]] = mapped_column(JSONB)
    requester: Mapped[str] = mapped_column(Text, index=True)
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    business_justification: Mapped[str | None] = mapped_column(Text)
    test_evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=_EMPTY_LIST)
    contacts: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=_EMPTY_LIST)
    standard: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    template_id: Mapped[uuid.UUID | None] = mapped_column()
    status: Mapped[str] = mapped_column(Text, index=True)
    impact_level: Mapped[str | None] = mapped_column(Text)
    # The sequence of the review event that set `impact_level`, so a late one cannot undo it.
    impact_level_sequence: Mapped[int | None] = mapped_column(BigInteger)
    approvals: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=_EMPTY_LIST)
    execution: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    outcome: Mapped[str | None] = mapped_column(Text)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    submitted_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))


class ChangeTemplate(Base):
    """A standard change: a known, low-risk change requested again and again the same way."""

    __tablename__ = "change_template"
    __table_args__ = (Index("ix_change_template_created_at_id", "created_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(Text, unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    services: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    environment: Mapped[str | None] = mapped_column(Text)
    plans: Mapped[dict[str, Any]] = mapped_column(JSONB)
    business_justification: Mapped[str | None] = mapped_column(Text)
    contacts: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )


class DeploymentReport(Base):
    """One CI/CD deployment as a pipeline or provider reported it; never rejected, never lost."""

    __tablename__ = "deployment_report"
    __table_args__ = (
        # A provider redelivering one status of one deployment is stored once; its next
        # status (queued, in progress, succeeded) is a report of its own.
        UniqueConstraint("provider", "external_id", "status", name="uq_deployment_report_delivery"),
        Index("ix_deployment_report_received_at_id", "received_at", "id"),
        Index("ix_deployment_report_service_environment", "service", "environment"),
        Index(
            "ix_deployment_report_unauthorized",
            "received_at",
            postgresql_where=text("unauthorized"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    provider: Mapped[str] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(Text)
    service: Mapped[str] = mapped_column(Text)
    environment: Mapped[str] = mapped_column(Text)
    version: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    pipeline_url: Mapped[str | None] = mapped_column(Text)
    commit: Mapped[str | None] = mapped_column(Text)
    change_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    correlation: Mapped[str] = mapped_column(Text)
    unauthorized: Mapped[bool] = mapped_column(Boolean)
    reported_by: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
