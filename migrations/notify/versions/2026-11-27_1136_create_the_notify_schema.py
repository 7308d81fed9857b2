"""create the notify schema

Revision ID: notify_0001
Revises:
Create Date: 2026-11-27 11:36:27.576159
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "notify_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "change_summary",
        sa.Column("change_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("category", sa.Text(), nullable=True),
        sa.Column(
            "services",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("environment", sa.Text(), nullable=True),
        sa.Column("window_start_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("window_end_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("impact_level", sa.Text(), nullable=True),
        sa.Column("requester", sa.Text(), nullable=True),
        sa.Column("emergency", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "contacts",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column(
            "updated_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("change_id", name=op.f("pk_change_summary")),
        schema="notify",
    )
    op.create_table(
        "event_sequence",
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("subject", name=op.f("pk_event_sequence")),
        schema="notify",
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
        schema="notify",
    )
    op.create_index(
        "ix_idempotency_key_created_at",
        "idempotency_key",
        ["created_at"],
        unique=False,
        schema="notify",
    )
    op.create_table(
        "inbox",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), server_default="applied", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "processed_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_inbox")),
        schema="notify",
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("partition_key", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("sent_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_event_id")),
        schema="notify",
    )
    op.create_index(
        "ix_outbox_unsent",
        "outbox",
        ["id"],
        unique=False,
        schema="notify",
        postgresql_where="sent_at IS NULL",
    )
    op.create_table(
        "subscription",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("format", sa.Text(), nullable=False),
        sa.Column("event_types", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column(
            "services",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column(
            "environments",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column(
            "impact_levels",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("reminder_lead_seconds", sa.Integer(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("deleted_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("deleted_by", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription")),
        schema="notify",
    )
    op.create_index(
        "ix_subscription_created_at_id",
        "subscription",
        ["created_at", "id"],
        unique=False,
        schema="notify",
    )
    op.create_index(
        "ix_subscription_event_types",
        "subscription",
        ["event_types"],
        unique=False,
        schema="notify",
        postgresql_using="gin",
    )
    op.create_table(
        "delivery",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("change", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("content_type", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("lease_id", sa.Uuid(), nullable=True),
        sa.Column("last_attempt_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("dead_lettered_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("replay_of", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["replay_of"],
            ["notify.delivery.id"],
            name=op.f("fk_delivery_replay_of_delivery"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["notify.subscription.id"],
            name=op.f("fk_delivery_subscription_id_subscription"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery")),
        schema="notify",
    )
    op.create_index(
        "ix_delivery_due",
        "delivery",
        ["next_attempt_at"],
        unique=False,
        schema="notify",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_delivery_pending_subject",
        "delivery",
        ["subject", "event_type"],
        unique=False,
        schema="notify",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_delivery_subscription_id_created_at_id",
        "delivery",
        ["subscription_id", "created_at", "id"],
        unique=False,
        schema="notify",
    )
    op.create_table(
        "delivery_attempt",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("attempted_at", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["notify.delivery.id"],
            name=op.f("fk_delivery_attempt_delivery_id_delivery"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempt")),
        sa.UniqueConstraint("delivery_id", "number", name=op.f("uq_delivery_attempt_delivery_id")),
        schema="notify",
    )


def downgrade() -> None:
    op.drop_table("delivery_attempt", schema="notify")
    op.drop_index(
        "ix_delivery_subscription_id_created_at_id", table_name="delivery", schema="notify"
    )
    op.drop_index(
        "ix_delivery_pending_subject",
        table_name="delivery",
        schema="notify",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index(
        "ix_delivery_due",
        table_name="delivery",
        schema="notify",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_table("delivery", schema="notify")
    op.drop_index(
        "ix_subscription_event_types",
        table_name="subscription",
        schema="notify",
        postgresql_using="gin",
    )
    op.drop_index("ix_subscription_created_at_id", table_name="subscription", schema="notify")
    op.drop_table("subscription", schema="notify")
    op.drop_index(
        "ix_outbox_unsent", table_name="outbox", schema="notify", postgresql_where="sent_at IS NULL"
    )
    op.drop_table("outbox", schema="notify")
    op.drop_table("inbox", schema="notify")
    op.drop_index("ix_idempotency_key_created_at", table_name="idempotency_key", schema="notify")
    op.drop_table("idempotency_key", schema="notify")
    op.drop_table("event_sequence", schema="notify")
    op.drop_table("change_summary", schema="notify")
