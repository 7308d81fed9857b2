"""Tables of the review schema."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Text,
    Uuid,
    func,
    text,
)
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
    """Review's view of one change: its latest assessment and where approval stands."""

    __tablename__ = "assessment"
    __table_args__ = (
        Index("ix_assessment_pending_created", "created_at", postgresql_where="status = 'pending'"),
        Index("ix_assessment_services", "services", postgresql_using="gin"),
    )

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
    # When the change entered review; the CAB queue is oldest first by it.
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    # The change as last assessed, to re-score it when its neighbours or the policies move.
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    assessed_version: Mapped[int | None] = mapped_column(Integer)
    standard: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    rule_impact_level: Mapped[str | None] = mapped_column(Text)
    impact_override: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    risk_score: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    risk_breakdown: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb")
    )
    rules_fired: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, server_default=text("'[]'::jsonb")
    )
    risk_policy_version: Mapped[int | None] = mapped_column(Integer)
    conflicts: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(Uuid), server_default=text("'{}'::uuid[]")
    )
    pre_approved: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    retrospective_required: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    approval_expires_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    freeze_override: Mapped[str | None] = mapped_column(Text)
    # Execution finished (completed, failed, rolled back or accepted): it conflicts no more.
    finished_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))

    approvals: Mapped[list[Approval]] = relationship(
        back_populates="assessment",
        lazy="raise",
        order_by="(Approval.recorded_at, Approval.id)",
    )
    waivers: Mapped[list[Waiver]] = relationship(
        lazy="raise", order_by="(Waiver.waived_at, Waiver.id)"
    )


class Approval(Base):
    """One approver's decision on a change; one person counts once among the live ones."""

    __tablename__ = "approval"
    __table_args__ = (
        Index(
            "uq_approval_live_vote",
            "change_id",
            "approver",
            unique=True,
            postgresql_where="invalidated_at IS NULL",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    change_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assessment.change_id"))
    approver: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    decision: Mapped[str] = mapped_column(Text)
    comment: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    # Set when a re-assessment or the policy's vote validity voided the decision.
    invalidated_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    invalidated_because: Mapped[str | None] = mapped_column(Text)

    assessment: Mapped[Assessment] = relationship(back_populates="approvals", lazy="raise")


class Waiver(Base):
    """A change_manager accepted a failing readiness item of one version of a change."""

    __tablename__ = "waiver"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    change_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assessment.change_id"), index=True)
    item: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    waived_by: Mapped[str] = mapped_column(Text)
    change_version: Mapped[int] = mapped_column(Integer)
    waived_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now())


class PolicyVersion(Base):
    """Every version of every review policy, never updated; the highest is in force."""

    __tablename__ = "policy_version"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )


class FreezeWindow(Base):
    """A blackout period; `services` empty means all, `environment` null means all."""

    __tablename__ = "freeze_window"
    __table_args__ = (
        Index("ix_freeze_window_active_end", "end_at", postgresql_where="lifted_at IS NULL"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    services: Mapped[list[str]] = mapped_column(ARRAY(Text))
    environment: Mapped[str | None] = mapped_column(Text)
    start_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    end_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    reason: Mapped[str] = mapped_column(Text)
    declared_by: Mapped[str] = mapped_column(Text)
    declared_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    lifted_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    lifted_by: Mapped[str | None] = mapped_column(Text)


class ServiceOutcome(Base):
    """How a change to a service ended, from `change.accepted`: the failure rate's input."""

    __tablename__ = "service_outcome"
    __table_args__ = (Index("ix_service_outcome_service_at", "service", "accepted_at"),)

    change_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    service: Mapped[str] = mapped_column(Text, primary_key=True)
    outcome: Mapped[str] = mapped_column(Text)
    accepted_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
