"""incidents, post-change reviews and action items, idempotency keys

Revision ID: audit_0003
Revises: audit_0002
Create Date: 2026-11-27 11:42:14.406509

State the audit service owns besides the ledger. These are ordinary tables, written by
requests under the service's own role: the ledger's writer role
(`changeward_audit_writer`) gets no grant on them, since appending never touches them,
and the append-only trigger does not apply to them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "audit_0003"
down_revision: str | None = "audit_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
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
        schema="audit",
    )
    op.create_index(
        "ix_idempotency_key_created_at",
        "idempotency_key",
        ["created_at"],
        unique=False,
        schema="audit",
    )
    op.create_table(
        "incident",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("started_at", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("resolved_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("external_url", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "resolved_at IS NULL OR resolved_at >= started_at",
            name=op.f("ck_incident_resolved_after"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident")),
        schema="audit",
    )
    op.create_index(
        "ix_incident_created_at_id", "incident", ["created_at", "id"], unique=False, schema="audit"
    )
    op.create_index(
        "ix_incident_service_environment_started_at",
        "incident",
        ["service", "environment", "started_at"],
        unique=False,
        schema="audit",
    )
    op.create_index(
        "uq_incident_source_external_id",
        "incident",
        ["source", "external_id"],
        unique=True,
        schema="audit",
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.create_table(
        "retrospective",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("change_id", sa.Uuid(), nullable=False),
        sa.Column("services", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("process_gaps", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("recorded_by", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retrospective")),
        sa.UniqueConstraint("change_id", name=op.f("uq_retrospective_change_id")),
        schema="audit",
    )
    op.create_index(
        "ix_retrospective_created_at_id",
        "retrospective",
        ["created_at", "id"],
        unique=False,
        schema="audit",
    )
    op.create_table(
        "action_item",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("retrospective_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("closed_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["retrospective_id"],
            ["audit.retrospective.id"],
            name=op.f("fk_action_item_retrospective_id_retrospective"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_item")),
        sa.UniqueConstraint(
            "retrospective_id", "position", name="uq_action_item_retrospective_position"
        ),
        schema="audit",
    )
    op.create_index(
        "ix_action_item_created_at_id",
        "action_item",
        ["created_at", "id"],
        unique=False,
        schema="audit",
    )
    op.create_index(
        "ix_action_item_open_due_on",
        "action_item",
        ["due_on"],
        unique=False,
        schema="audit",
        postgresql_where=sa.text("status IN ('open', 'in_progress')"),
    )
    op.create_table(
        "incident_link",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("change_id", sa.Uuid(), nullable=False),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("linked_by", sa.Text(), nullable=False),
        sa.Column(
            "linked_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["audit.incident.id"],
            name=op.f("fk_incident_link_incident_id_incident"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_link")),
        sa.UniqueConstraint("incident_id", "change_id", name="uq_incident_link_incident_change"),
        schema="audit",
    )
    op.create_index(
        "ix_incident_link_change_id", "incident_link", ["change_id"], unique=False, schema="audit"
    )


def downgrade() -> None:
    op.drop_index("ix_incident_link_change_id", table_name="incident_link", schema="audit")
    op.drop_table("incident_link", schema="audit")
    op.drop_index(
        "ix_action_item_open_due_on",
        table_name="action_item",
        schema="audit",
        postgresql_where=sa.text("status IN ('open', 'in_progress')"),
    )
    op.drop_index("ix_action_item_created_at_id", table_name="action_item", schema="audit")
    op.drop_table("action_item", schema="audit")
    op.drop_index("ix_retrospective_created_at_id", table_name="retrospective", schema="audit")
    op.drop_table("retrospective", schema="audit")
    op.drop_index(
        "uq_incident_source_external_id",
        table_name="incident",
        schema="audit",
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_incident_service_environment_started_at", table_name="incident", schema="audit"
    )
    op.drop_index("ix_incident_created_at_id", table_name="incident", schema="audit")
    op.drop_table("incident", schema="audit")
    op.drop_index("ix_idempotency_key_created_at", table_name="idempotency_key", schema="audit")
    op.drop_table("idempotency_key", schema="audit")
