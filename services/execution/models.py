"""Tables of the execution schema."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TIMESTAMP
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import service_metadata
from shared.idempotency import idempotency_table
from shared.tables import messaging_tables

metadata = service_metadata("execution")
tables = messaging_tables(metadata)
idempotency_keys = idempotency_table(metadata)

_FALSE = text("false")


class Base(DeclarativeBase):
    metadata = metadata


class Execution(Base):
    """How one approved change is carried out, from ready to accepted (one per change)."""

    __tablename__ = "execution"
    __table_args__ = (
        # The gate's conflict lookup: active executions on a service and environment.
        Index(
            "ix_execution_active_services",
            "services",
            postgresql_using="gin",
            postgresql_where=text("status IN ('in_progress', 'rolling_back')"),
        ),
    )

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
    emergency: Mapped[bool] = mapped_column(Boolean, server_default=_FALSE)
    retrospective_required: Mapped[bool] = mapped_column(Boolean, server_default=_FALSE)
    approval_expires_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    freeze_override: Mapped[str | None] = mapped_column(Text)
    auto_rollback: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # `default` (derived from the change) or `custom` (replaced by an executor before start).
    plan_source: Mapped[str] = mapped_column(Text, server_default="default")
    # The emergency plan's steps, taken as rollback stages if a rollback starts.
    rollback_plan: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    failure_reason: Mapped[str | None] = mapped_column(Text)
    rollback_reason: Mapped[str | None] = mapped_column(Text)
    rollback_from_stage: Mapped[int | None] = mapped_column(Integer)
    rollback_requested_by: Mapped[str | None] = mapped_column(Text)
    rollback_started_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    # Functional acceptance, regression results and monitoring checks, as recorded.
    acceptance: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class PlannedChange(Base):
    """What execution keeps of a change request: enough to derive its rollout plan."""

    __tablename__ = "planned_change"

    change_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(Text)
    plans: Mapped[dict[str, Any]] = mapped_column(JSONB)
    emergency: Mapped[bool] = mapped_column(Boolean, server_default=_FALSE)
    version: Mapped[int] = mapped_column(Integer)


class ExecutionStage(Base):
    """A rollout stage (phase `rollout`) or a rollback step (phase `rollback`)."""

    __tablename__ = "execution_stage"
    __table_args__ = (PrimaryKeyConstraint("change_id", "phase", "number"),)

    change_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("execution.execution.change_id", ondelete="CASCADE")
    )
    phase: Mapped[str] = mapped_column(Text)
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Text)
    target_percent: Mapped[float | None] = mapped_column(Float)
    bake_seconds: Mapped[int] = mapped_column(Integer, server_default="0")
    checks: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    status: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    started_by: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    finished_by: Mapped[str | None] = mapped_column(Text)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)


class Verification(Base):
    """One verification result reported for a rollout stage."""

    __tablename__ = "verification"
    __table_args__ = (Index("ix_verification_change_id_stage", "change_id", "stage"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    change_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("execution.execution.change_id", ondelete="CASCADE")
    )
    stage: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    result: Mapped[str] = mapped_column(Text)
    measured: Mapped[Any] = mapped_column(JSONB, nullable=True)
    expected: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )


class FreezeWindow(Base):
    """Execution's copy of review's freeze windows, kept from their events for the gate."""

    __tablename__ = "freeze_window"
    __table_args__ = (
        Index("ix_freeze_window_live_end_at", "end_at", postgresql_where=text("lifted_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    services: Mapped[list[str]] = mapped_column(ARRAY(Text))
    environment: Mapped[str | None] = mapped_column(Text)
    start_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    end_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    reason: Mapped[str] = mapped_column(Text)
    declared_by: Mapped[str] = mapped_column(Text)
    lifted_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    lifted_by: Mapped[str | None] = mapped_column(Text)


class Deployment(Base):
    """A CI/CD deployment as intake reported it, attached to its execution and stage."""

    __tablename__ = "deployment"
    __table_args__ = (
        Index("ix_deployment_change_id", "change_id"),
        Index("ix_deployment_unauthorized", "received_at", postgresql_where=text("unauthorized")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    change_id: Mapped[uuid.UUID | None] = mapped_column()
    stage: Mapped[int | None] = mapped_column(Integer)
    provider: Mapped[str] = mapped_column(Text)
    service: Mapped[str] = mapped_column(Text)
    environment: Mapped[str] = mapped_column(Text)
    version: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    pipeline_url: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    # `change` (named by the report or intake), `active_execution` (the one in progress on
    # the service and environment) or `none`.
    correlation: Mapped[str] = mapped_column(Text)
    unauthorized: Mapped[bool] = mapped_column(Boolean)
    reported_by: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )


class GateCheck(Base):
    """A pipeline asked the gate and was told this (published as `change.gate_checked`)."""

    __tablename__ = "gate_check"
    __table_args__ = (Index("ix_gate_check_change_id_asked_at", "change_id", "asked_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    change_id: Mapped[uuid.UUID] = mapped_column()
    service: Mapped[str] = mapped_column(Text)
    environment: Mapped[str] = mapped_column(Text)
    stage: Mapped[int | None] = mapped_column(Integer)
    allow: Mapped[bool] = mapped_column(Boolean)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    next_allowed_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    pipeline_url: Mapped[str | None] = mapped_column(Text)
    asked_by: Mapped[str] = mapped_column(Text)
    asked_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now())
