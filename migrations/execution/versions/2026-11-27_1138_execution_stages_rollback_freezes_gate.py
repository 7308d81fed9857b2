"""execution stages, rollback, freezes, gate, deployments

Revision ID: execution_0003
Revises: execution_0002
Create Date: 2026-11-27 11:38:10.504424
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "execution_0003"
down_revision: str | None = "execution_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deployment",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("change_id", sa.Uuid(), nullable=True),
        sa.Column("stage", sa.Integer(), nullable=True),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("pipeline_url", sa.Text(), nullable=True),
        sa.Column("started_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("finished_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("correlation", sa.Text(), nullable=False),
        sa.Column("unauthorized", sa.Boolean(), nullable=False),
        sa.Column("reported_by", sa.Text(), nullable=False),
        sa.Column(
            "received_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment")),
        schema="execution",
    )
    op.create_index(
        "ix_deployment_change_id", "deployment", ["change_id"], unique=False, schema="execution"
    )
    op.create_index(
        "ix_deployment_unauthorized",
        "deployment",
        ["received_at"],
        unique=False,
        schema="execution",
        postgresql_where=sa.text("unauthorized"),
    )
    op.create_table(
        "freeze_window",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("services", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("environment", sa.Text(), nullable=True),
        sa.Column("start_at", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("end_at", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("declared_by", sa.Text(), nullable=False),
        sa.Column("lifted_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_freeze_window")),
        schema="execution",
    )
    op.create_index(
        "ix_freeze_window_live_end_at",
        "freeze_window",
        ["end_at"],
        unique=False,
        schema="execution",
        postgresql_where=sa.text("lifted_at IS NULL"),
    )
    op.create_table(
        "gate_check",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("change_id", sa.Uuid(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=True),
        sa.Column("allow", sa.Boolean(), nullable=False),
        sa.Column("reasons", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("next_allowed_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("pipeline_url", sa.Text(), nullable=True),
        sa.Column("asked_by", sa.Text(), nullable=False),
        sa.Column(
            "asked_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gate_check")),
        schema="execution",
    )
    op.create_index(
        "ix_gate_check_change_id_asked_at",
        "gate_check",
        ["change_id", "asked_at"],
        unique=False,
        schema="execution",
    )
    op.create_table(
        "planned_change",
        sa.Column("change_id", sa.Uuid(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("plans", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("emergency", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("change_id", name=op.f("pk_planned_change")),
        schema="execution",
    )
    op.create_table(
        "execution_stage",
        sa.Column("change_id", sa.Uuid(), nullable=False),
        sa.Column("phase", sa.Text(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("target_percent", sa.Float(), nullable=True),
        sa.Column("bake_seconds", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "checks",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("started_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("started_by", sa.Text(), nullable=True),
        sa.Column("finished_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("finished_by", sa.Text(), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["change_id"],
            ["execution.execution.change_id"],
            name=op.f("fk_execution_stage_change_id_execution"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("change_id", "phase", "number", name=op.f("pk_execution_stage")),
        schema="execution",
    )
    op.create_table(
        "verification",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("change_id", sa.Uuid(), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("measured", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("expected", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.Text(), nullable=False),
        sa.Column(
            "recorded_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["change_id"],
            ["execution.execution.change_id"],
            name=op.f("fk_verification_change_id_execution"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification")),
        schema="execution",
    )
    op.create_index(
        "ix_verification_change_id_stage",
        "verification",
        ["change_id", "stage"],
        unique=False,
        schema="execution",
    )
    op.add_column(
        "execution",
        sa.Column("emergency", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        schema="execution",
    )
    op.add_column(
        "execution",
        sa.Column(
            "retrospective_required", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        schema="execution",
    )
    op.add_column(
        "execution",
        sa.Column("approval_expires_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        schema="execution",
    )
    op.add_column(
        "execution", sa.Column("freeze_override", sa.Text(), nullable=True), schema="execution"
    )
    op.add_column(
        "execution",
        sa.Column("auto_rollback", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        schema="execution",
    )
    op.add_column(
        "execution",
        sa.Column("plan_source", sa.Text(), server_default="default", nullable=False),
        schema="execution",
    )
    op.add_column(
        "execution",
        sa.Column(
            "rollback_plan", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False
        ),
        schema="execution",
    )
    op.add_column(
        "execution", sa.Column("failure_reason", sa.Text(), nullable=True), schema="execution"
    )
    op.add_column(
        "execution", sa.Column("rollback_reason", sa.Text(), nullable=True), schema="execution"
    )
    op.add_column(
        "execution",
        sa.Column("rollback_from_stage", sa.Integer(), nullable=True),
        schema="execution",
    )
    op.add_column(
        "execution",
        sa.Column("rollback_requested_by", sa.Text(), nullable=True),
        schema="execution",
    )
    op.add_column(
        "execution",
        sa.Column("rollback_started_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        schema="execution",
    )
    op.add_column(
        "execution",
        sa.Column("acceptance", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        schema="execution",
    )
    op.create_index(
        "ix_execution_active_services",
        "execution",
        ["services"],
        unique=False,
        schema="execution",
        postgresql_using="gin",
        postgresql_where=sa.text("status IN ('in_progress', 'rolling_back')"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_execution_active_services",
        table_name="execution",
        schema="execution",
        postgresql_using="gin",
        postgresql_where=sa.text("status IN ('in_progress', 'rolling_back')"),
    )
    op.drop_column("execution", "acceptance", schema="execution")
    op.drop_column("execution", "rollback_started_at", schema="execution")
    op.drop_column("execution", "rollback_requested_by", schema="execution")
    op.drop_column("execution", "rollback_from_stage", schema="execution")
    op.drop_column("execution", "rollback_reason", schema="execution")
    op.drop_column("execution", "failure_reason", schema="execution")
    op.drop_column("execution", "rollback_plan", schema="execution")
    op.drop_column("execution", "plan_source", schema="execution")
    op.drop_column("execution", "auto_rollback", schema="execution")
    op.drop_column("execution", "freeze_override", schema="execution")
    op.drop_column("execution", "approval_expires_at", schema="execution")
    op.drop_column("execution", "retrospective_required", schema="execution")
    op.drop_column("execution", "emergency", schema="execution")
    op.drop_index("ix_verification_change_id_stage", table_name="verification", schema="execution")
    op.drop_table("verification", schema="execution")
    op.drop_table("execution_stage", schema="execution")
    op.drop_table("planned_change", schema="execution")
    op.drop_index("ix_gate_check_change_id_asked_at", table_name="gate_check", schema="execution")
    op.drop_table("gate_check", schema="execution")
    op.drop_index(
        "ix_freeze_window_live_end_at",
        table_name="freeze_window",
        schema="execution",
        postgresql_where=sa.text("lifted_at IS NULL"),
    )
    op.drop_table("freeze_window", schema="execution")
    op.drop_index(
        "ix_deployment_unauthorized",
        table_name="deployment",
        schema="execution",
        postgresql_where=sa.text("unauthorized"),
    )
    op.drop_index("ix_deployment_change_id", table_name="deployment", schema="execution")
    op.drop_table("deployment", schema="execution")
