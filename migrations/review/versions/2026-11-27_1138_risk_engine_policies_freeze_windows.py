"""risk engine, policies, freeze windows, waivers, outcomes

Revision ID: review_0003
Revises: review_0002
Create Date: 2026-11-27 11:38:46.692036
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "review_0003"
down_revision: str | None = "review_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "freeze_window",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("services", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("environment", sa.Text(), nullable=True),
        sa.Column("start_at", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("end_at", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("declared_by", sa.Text(), nullable=False),
        sa.Column(
            "declared_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("lifted_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_freeze_window")),
        schema="review",
    )
    op.create_index(
        "ix_freeze_window_active_end",
        "freeze_window",
        ["end_at"],
        unique=False,
        schema="review",
        postgresql_where="lifted_at IS NULL",
    )
    op.create_table(
        "policy_version",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("name", "version", name=op.f("pk_policy_version")),
        schema="review",
    )
    op.create_table(
        "service_outcome",
        sa.Column("change_id", sa.Uuid(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("accepted_at", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("change_id", "service", name=op.f("pk_service_outcome")),
        schema="review",
    )
    op.create_index(
        "ix_service_outcome_service_at",
        "service_outcome",
        ["service", "accepted_at"],
        unique=False,
        schema="review",
    )
    op.create_table(
        "waiver",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("change_id", sa.Uuid(), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("waived_by", sa.Text(), nullable=False),
        sa.Column("change_version", sa.Integer(), nullable=False),
        sa.Column(
            "waived_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["change_id"],
            ["review.assessment.change_id"],
            name=op.f("fk_waiver_change_id_assessment"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waiver")),
        schema="review",
    )
    op.create_index(
        op.f("ix_review_waiver_change_id"), "waiver", ["change_id"], unique=False, schema="review"
    )
    op.add_column(
        "approval",
        sa.Column("invalidated_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        schema="review",
    )
    op.add_column(
        "approval", sa.Column("invalidated_because", sa.Text(), nullable=True), schema="review"
    )
    op.drop_constraint(op.f("uq_approval_change_id"), "approval", schema="review", type_="unique")
    op.create_index(
        "uq_approval_live_vote",
        "approval",
        ["change_id", "approver"],
        unique=True,
        schema="review",
        postgresql_where="invalidated_at IS NULL",
    )
    op.add_column(
        "assessment",
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        schema="review",
    )
    # Reviews assessed before this revision entered review when they were assessed.
    op.execute("UPDATE review.assessment SET created_at = assessed_at")
    op.add_column(
        "assessment",
        sa.Column("snapshot", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        schema="review",
    )
    op.add_column(
        "assessment", sa.Column("assessed_version", sa.Integer(), nullable=True), schema="review"
    )
    op.add_column(
        "assessment",
        sa.Column("standard", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        schema="review",
    )
    op.add_column(
        "assessment", sa.Column("rule_impact_level", sa.Text(), nullable=True), schema="review"
    )
    op.add_column(
        "assessment",
        sa.Column("impact_override", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        schema="review",
    )
    op.add_column(
        "assessment",
        sa.Column("risk_score", sa.Integer(), server_default=sa.text("0"), nullable=False),
        schema="review",
    )
    op.add_column(
        "assessment",
        sa.Column(
            "risk_breakdown",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        schema="review",
    )
    op.add_column(
        "assessment",
        sa.Column(
            "rules_fired",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        schema="review",
    )
    op.add_column(
        "assessment", sa.Column("risk_policy_version", sa.Integer(), nullable=True), schema="review"
    )
    op.add_column(
        "assessment",
        sa.Column(
            "conflicts",
            postgresql.ARRAY(sa.Uuid()),
            server_default=sa.text("'{}'::uuid[]"),
            nullable=False,
        ),
        schema="review",
    )
    op.add_column(
        "assessment",
        sa.Column("pre_approved", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        schema="review",
    )
    op.add_column(
        "assessment",
        sa.Column(
            "retrospective_required", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        schema="review",
    )
    op.add_column(
        "assessment",
        sa.Column("approval_expires_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        schema="review",
    )
    op.add_column(
        "assessment", sa.Column("freeze_override", sa.Text(), nullable=True), schema="review"
    )
    op.add_column(
        "assessment",
        sa.Column("finished_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        schema="review",
    )
    op.create_index(
        "ix_assessment_pending_created",
        "assessment",
        ["created_at"],
        unique=False,
        schema="review",
        postgresql_where="status = 'pending'",
    )
    op.create_index(
        "ix_assessment_services",
        "assessment",
        ["services"],
        unique=False,
        schema="review",
        postgresql_using="gin",
    )


def downgrade() -> None:
    op.drop_index(
        "ix_assessment_services", table_name="assessment", schema="review", postgresql_using="gin"
    )
    op.drop_index(
        "ix_assessment_pending_created",
        table_name="assessment",
        schema="review",
        postgresql_where="status = 'pending'",
    )
    op.drop_column("assessment", "finished_at", schema="review")
    op.drop_column("assessment", "freeze_override", schema="review")
    op.drop_column("assessment", "approval_expires_at", schema="review")
    op.drop_column("assessment", "retrospective_required", schema="review")
    op.drop_column("assessment", "pre_approved", schema="review")
    op.drop_column("assessment", "conflicts", schema="review")
    op.drop_column("assessment", "risk_policy_version", schema="review")
    op.drop_column("assessment", "rules_fired", schema="review")
    op.drop_column("assessment", "risk_breakdown", schema="review")
    op.drop_column("assessment", "risk_score", schema="review")
    op.drop_column("assessment", "impact_override", schema="review")
    op.drop_column("assessment", "rule_impact_level", schema="review")
    op.drop_column("assessment", "standard", schema="review")
    op.drop_column("assessment", "assessed_version", schema="review")
    op.drop_column("assessment", "snapshot", schema="review")
    op.drop_column("assessment", "created_at", schema="review")
    op.drop_index(
        "uq_approval_live_vote",
        table_name="approval",
        schema="review",
        postgresql_where="invalidated_at IS NULL",
    )
    op.create_unique_constraint(
        op.f("uq_approval_change_id"),
        "approval",
        ["change_id", "approver"],
        schema="review",
        postgresql_nulls_not_distinct=False,
    )
    op.drop_column("approval", "invalidated_because", schema="review")
    op.drop_column("approval", "invalidated_at", schema="review")
    op.drop_index(op.f("ix_review_waiver_change_id"), table_name="waiver", schema="review")
    op.drop_table("waiver", schema="review")
    op.drop_index("ix_service_outcome_service_at", table_name="service_outcome", schema="review")
    op.drop_table("service_outcome", schema="review")
    op.drop_table("policy_version", schema="review")
    op.drop_index(
        "ix_freeze_window_active_end",
        table_name="freeze_window",
        schema="review",
        postgresql_where="lifted_at IS NULL",
    )
    op.drop_table("freeze_window", schema="review")
