"""intake: details, templates, deployments, idempotency

Revision ID: intake_0002
Revises: intake_0001
Create Date: 2026-11-27 11:21:14.325483
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "intake_0002"
down_revision: str | None = "intake_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "change_template",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("services", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("environment", sa.Text(), nullable=True),
        sa.Column("plans", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("business_justification", sa.Text(), nullable=True),
        sa.Column("contacts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_template")),
        sa.UniqueConstraint("name", name=op.f("uq_change_template_name")),
        schema="intake",
    )
    op.create_index(
        "ix_change_template_created_at_id",
        "change_template",
        ["created_at", "id"],
        unique=False,
        schema="intake",
    )
    op.create_table(
        "deployment_report",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("started_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("finished_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("pipeline_url", sa.Text(), nullable=True),
        sa.Column("commit", sa.Text(), nullable=True),
        sa.Column("change_id", sa.Uuid(), nullable=True),
        sa.Column("correlation", sa.Text(), nullable=False),
        sa.Column("unauthorized", sa.Boolean(), nullable=False),
        sa.Column("reported_by", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "received_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_report")),
        sa.UniqueConstraint(
            "provider", "external_id", "status", name="uq_deployment_report_delivery"
        ),
        schema="intake",
    )
    op.create_index(
        "ix_deployment_report_received_at_id",
        "deployment_report",
        ["received_at", "id"],
        unique=False,
        schema="intake",
    )
    op.create_index(
        "ix_deployment_report_service_environment",
        "deployment_report",
        ["service", "environment"],
        unique=False,
        schema="intake",
    )
    op.create_index(
        "ix_deployment_report_unauthorized",
        "deployment_report",
        ["received_at"],
        unique=False,
        schema="intake",
        postgresql_where=sa.text("unauthorized"),
    )
    op.create_index(
        op.f("ix_intake_deployment_report_change_id"),
        "deployment_report",
        ["change_id"],
        unique=False,
        schema="intake",
    )
    op.create_table(
        "idempotency_key",
        sa.Column("caller", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.Text(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.LargeBinary(), nullable=False),
        sa.Column("response_headers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("caller", "key", name=op.f("pk_idempotency_key")),
        schema="intake",
    )
    op.create_index(
        "ix_idempotency_key_created_at",
        "idempotency_key",
        ["created_at"],
        unique=False,
        schema="intake",
    )
    op.add_column(
        "change_request",
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        schema="intake",
    )
    op.add_column(
        "change_request",
        sa.Column("business_justification", sa.Text(), nullable=True),
        schema="intake",
    )
    op.add_column(
        "change_request",
        sa.Column(
            "test_evidence",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        schema="intake",
    )
    op.add_column(
        "change_request",
        sa.Column(
            "contacts",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        schema="intake",
    )
    op.add_column(
        "change_request",
        sa.Column("standard", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        schema="intake",
    )
    op.add_column(
        "change_request", sa.Column("template_id", sa.Uuid(), nullable=True), schema="intake"
    )
    op.add_column(
        "change_request",
        sa.Column("impact_level_sequence", sa.BigInteger(), nullable=True),
        schema="intake",
    )
    op.add_column(
        "change_request",
        sa.Column(
            "approvals",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        schema="intake",
    )
    op.add_column(
        "change_request",
        sa.Column("execution", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        schema="intake",
    )
    op.add_column(
        "change_request", sa.Column("cancel_reason", sa.Text(), nullable=True), schema="intake"
    )
    op.add_column(
        "change_request",
        sa.Column("cancelled_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        schema="intake",
    )
    op.create_index(
        "ix_change_request_created_at_id",
        "change_request",
        ["created_at", "id"],
        unique=False,
        schema="intake",
    )
    op.create_index(
        "ix_change_request_services",
        "change_request",
        ["services"],
        unique=False,
        schema="intake",
        postgresql_using="gin",
    )


def downgrade() -> None:
    op.drop_index(
        "ix_change_request_services",
        table_name="change_request",
        schema="intake",
        postgresql_using="gin",
    )
    op.drop_index("ix_change_request_created_at_id", table_name="change_request", schema="intake")
    op.drop_column("change_request", "cancelled_at", schema="intake")
    op.drop_column("change_request", "cancel_reason", schema="intake")
    op.drop_column("change_request", "execution", schema="intake")
    op.drop_column("change_request", "approvals", schema="intake")
    op.drop_column("change_request", "impact_level_sequence", schema="intake")
    op.drop_column("change_request", "template_id", schema="intake")
    op.drop_column("change_request", "standard", schema="intake")
    op.drop_column("change_request", "contacts", schema="intake")
    op.drop_column("change_request", "test_evidence", schema="intake")
    op.drop_column("change_request", "business_justification", schema="intake")
    op.drop_column("change_request", "details", schema="intake")
    op.drop_index("ix_idempotency_key_created_at", table_name="idempotency_key", schema="intake")
    op.drop_table("idempotency_key", schema="intake")
    op.drop_index(
        op.f("ix_intake_deployment_report_change_id"),
        table_name="deployment_report",
        schema="intake",
    )
    op.drop_index(
        "ix_deployment_report_unauthorized",
        table_name="deployment_report",
        schema="intake",
        postgresql_where=sa.text("unauthorized"),
    )
    op.drop_index(
        "ix_deployment_report_service_environment", table_name="deployment_report", schema="intake"
    )
    op.drop_index(
        "ix_deployment_report_received_at_id", table_name="deployment_report", schema="intake"
    )
    op.drop_table("deployment_report", schema="intake")
    op.drop_index("ix_change_template_created_at_id", table_name="change_template", schema="intake")
    op.drop_table("change_template", schema="intake")
