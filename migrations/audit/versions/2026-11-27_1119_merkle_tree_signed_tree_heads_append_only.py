"""merkle tree, signed tree heads, search index, append-only ledger and its writer role

Revision ID: audit_0002
Revises: audit_0001
Create Date: 2026-11-27 11:19:17.109827

Existing entries get their `actor` column, Merkle nodes, frontier and search facets
computed here (with the hashing written out, so later code changes cannot alter this
history). Then the ledger's tables become append-only, for everyone, by trigger, and
the role `changeward_audit_writer` gets only what appending needs. The role belongs to
the whole cluster, so the downgrade revokes its grants here but leaves it in place for
the other databases that may use it.
"""

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "audit_0002"
down_revision: str | None = "audit_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WRITER = "changeward_audit_writer"
APPEND_ONLY = ("ledger_entry", "merkle_node", "tree_head")
BACKFILL_BATCH = 1_000


def upgrade() -> None:
    op.create_table(
        "ledger_subject",
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("services", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("environment", sa.Text(), nullable=True),
        sa.Column("impact_level", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("subject", name=op.f("pk_ledger_subject")),
        schema="audit",
    )
    op.create_index(
        "ix_ledger_subject_environment", "ledger_subject", ["environment"], schema="audit"
    )
    op.create_index(
        "ix_ledger_subject_services",
        "ledger_subject",
        ["services"],
        schema="audit",
        postgresql_using="gin",
    )
    op.create_table(
        "merkle_node",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("level >= 0 AND index >= 0", name=op.f("ck_merkle_node_coordinates")),
        sa.PrimaryKeyConstraint("level", "index", name=op.f("pk_merkle_node")),
        schema="audit",
    )
    op.create_table(
        "tree_head",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("signed_at", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tree_head")),
        schema="audit",
    )
    op.create_index("ix_tree_head_size", "tree_head", ["size"], schema="audit")
    op.add_column("ledger_entry", sa.Column("actor", sa.Text(), nullable=True), schema="audit")
    op.execute("UPDATE audit.ledger_entry SET actor = entry::jsonb -> 'event' ->> 'actor'")
    op.alter_column("ledger_entry", "actor", nullable=False, schema="audit")
    op.create_index(
        "ix_ledger_entry_actor_sequence", "ledger_entry", ["actor", "sequence"], schema="audit"
    )
    op.create_index(
        "ix_ledger_entry_event_type_sequence",
        "ledger_entry",
        ["event_type", "sequence"],
        schema="audit",
    )
    op.create_index("ix_ledger_entry_recorded_at", "ledger_entry", ["recorded_at"], schema="audit")
    op.add_column(
        "ledger_head",
        sa.Column(
            "frontier", postgresql.ARRAY(sa.LargeBinary()), server_default="{}", nullable=False
        ),
        schema="audit",
    )
    _backfill_tree_and_facets()
    _make_append_only()
    _create_writer_role()


def downgrade() -> None:
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA audit FROM {WRITER}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA audit FROM {WRITER}")
    op.execute(f"REVOKE USAGE ON SCHEMA audit FROM {WRITER}")
    for table in APPEND_ONLY:
        op.execute(f"DROP TRIGGER {table}_no_truncate ON audit.{table}")
        op.execute(f"DROP TRIGGER {table}_append_only ON audit.{table}")
    op.execute("DROP FUNCTION audit.reject_ledger_change()")
    op.drop_column("ledger_head", "frontier", schema="audit")
    op.drop_index("ix_ledger_entry_recorded_at", table_name="ledger_entry", schema="audit")
    op.drop_index("ix_ledger_entry_event_type_sequence", table_name="ledger_entry", schema="audit")
    op.drop_index("ix_ledger_entry_actor_sequence", table_name="ledger_entry", schema="audit")
    op.drop_column("ledger_entry", "actor", schema="audit")
    op.drop_index("ix_tree_head_size", table_name="tree_head", schema="audit")
    op.drop_table("tree_head", schema="audit")
    op.drop_table("merkle_node", schema="audit")
    op.drop_index(
        "ix_ledger_subject_services",
        table_name="ledger_subject",
        schema="audit",
        postgresql_using="gin",
    )
    op.drop_index("ix_ledger_subject_environment", table_name="ledger_subject", schema="audit")
    op.drop_table("ledger_subject", schema="audit")


def _backfill_tree_and_facets() -> None:
    """RFC 9162 leaves and perfect nodes, the frontier, and per-subject facets."""
    connection = op.get_bind()
    frontier: list[bytes] = []
    size = 0
    facets: dict[str, dict[str, Any]] = {}
    last = 0
    while True:
        rows = connection.execute(
            sa.text(
                "SELECT sequence, subject, entry::text AS entry FROM audit.ledger_entry "
                "WHERE sequence > :last ORDER BY sequence LIMIT :batch"
            ),
            {"last": last, "batch": BACKFILL_BATCH},
        ).all()
        if not rows:
            break
        nodes = []
        for row in rows:
            index = size
            current = hashlib.sha256(b"\x00" + row.entry.encode("utf-8")).digest()
            nodes.append({"level": 0, "index": index, "hash": current})
            level = 0
            while index & 1:
                current = hashlib.sha256(b"\x01" + frontier.pop() + current).digest()
                level, index = level + 1, index >> 1
                nodes.append({"level": level, "index": index, "hash": current})
            frontier.append(current)
            size += 1
            _note_facets(facets, row.subject, json.loads(row.entry)["event"].get("data"))
        connection.execute(
            sa.text(
                "INSERT INTO audit.merkle_node (level, index, hash) VALUES (:level, :index, :hash)"
            ),
            nodes,
        )
        last = rows[-1].sequence
    if size:
        connection.execute(
            sa.text("UPDATE audit.ledger_head SET frontier = :frontier WHERE id = 1"),
            {"frontier": frontier},
        )
    if facets:
        connection.execute(
            sa.text(
                "INSERT INTO audit.ledger_subject "
                "(subject, services, environment, impact_level, outcome) "
                "VALUES (:subject, :services, :environment, :impact_level, :outcome)"
            ),
            [{"subject": subject, **values} for subject, values in facets.items()],
        )


def _note_facets(facets: dict[str, dict[str, Any]], subject: str, data: Any) -> None:
    if not isinstance(data, dict):
        return

    def text(value: Any) -> str | None:
        return value if isinstance(value, str) and value else None

    services = data.get("services")
    if isinstance(services, list):
        named = sorted({s for s in services if isinstance(s, str) and s})
    else:
        named = [data["service"]] if text(data.get("service")) else []
    found = {
        "services": named or None,
        "environment": text(data.get("environment")),
        "impact_level": text(data.get("impact_level")),
        "outcome": text(data.get("outcome")),
    }
    if not any(found.values()):
        return
    known = facets.setdefault(
        subject, {"services": [], "environment": None, "impact_level": None, "outcome": None}
    )
    known.update({name: value for name, value in found.items() if value})


def _make_append_only() -> None:
    # Fires for the owner and superusers too; only disabling the trigger gets past it,
    # and that is what the Merkle tree and signed tree heads are there to catch.
    op.execute(
        """
        CREATE FUNCTION audit.reject_ledger_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit.% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'restrict_violation';
        END
        $$
        """
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON audit.{table} "
            "FOR EACH ROW EXECUTE FUNCTION audit.reject_ledger_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON audit.{table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit.reject_ledger_change()"
        )


def _create_writer_role() -> None:
    """The role ledger writes run as: append to the ledger, keep its head and indexes."""
    # Roles are per cluster: another database's migration may have created it, even
    # concurrently, so both errors a race can raise mean "it exists".
    op.execute(
        f"""
        DO $$
        BEGIN
            CREATE ROLE {WRITER} NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END
        $$
        """
    )
    # The migrating owner must be able to SET ROLE to it (superusers already can).
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT pg_has_role(current_user, '{WRITER}', 'MEMBER') THEN
                EXECUTE format('GRANT {WRITER} TO %I', current_user);
            END IF;
        END
        $$
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA audit TO {WRITER}")
    op.execute(
        "GRANT SELECT, INSERT ON audit.ledger_entry, audit.merkle_node, audit.tree_head, "
        f"audit.inbox TO {WRITER}"
    )
    # The head row moves with every append; the subject facets are a search index.
    op.execute(
        "GRANT SELECT, INSERT, UPDATE ON audit.ledger_head, audit.ledger_subject, "
        f"audit.event_sequence TO {WRITER}"
    )
    # The relay marks outbox rows sent and purges old ones.
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON audit.outbox TO {WRITER}")
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA audit TO {WRITER}")
