"""Make the audit trail a tamper-evident log: leaf hashes, Merkle nodes, the log head, signed checkpoints.

Entries are renumbered from 0 so that an entry's seq is its leaf index (RFC 9162 counts
leaves from 0). Rows that predate this revision get their leaf hashes and tree here, once;
nothing about them was ever signed before, so no published commitment changes.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from audit_service.log.records import AuditRecord, hash_entry
from audit_service.tree.merkle import EMPTY_ROOT, build_tree

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

WRITER_ROLE = "civicflow_audit_writer"
RECORD_COLUMNS = (
    "instance_id",
    "step_name",
    "step_index",
    "attempt",
    "status",
    "started_at",
    "completed_at",
    "input_json",
    "output_json",
    "error",
    "actor",
)


def upgrade() -> None:
    op.add_column("audit_trail", sa.Column("leaf_hash", sa.LargeBinary), schema="audit")
    op.add_column("audit_trail", sa.Column("idempotency_key", sa.Text), schema="audit")
    op.drop_constraint("audit_trail_seq_check", "audit_trail", schema="audit")
    leaves = _renumber_and_hash_existing_entries()
    op.alter_column("audit_trail", "leaf_hash", nullable=False, schema="audit")
    op.create_check_constraint("audit_trail_seq_check", "audit_trail", "seq >= 0", schema="audit")
    op.create_check_constraint(
        "audit_trail_leaf_hash_check", "audit_trail", "octet_length(leaf_hash) = 32", schema="audit"
    )
    op.create_check_constraint(
        "audit_trail_idempotency_key_check", "audit_trail", "idempotency_key <> ''", schema="audit"
    )
    op.create_index(
        "audit_trail_idempotency_key_idx",
        "audit_trail",
        ["idempotency_key"],
        unique=True,
        schema="audit",
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )

    op.create_table(
        "merkle_nodes",
        # Perfect subtrees of level >= 1 (level 0 is audit_trail.leaf_hash), written when they complete.
        sa.Column("level", sa.SmallInteger, primary_key=True),
        sa.Column("index", sa.BigInteger, primary_key=True),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sa.CheckConstraint("level BETWEEN 1 AND 62 AND index >= 0", name="merkle_nodes_position_check"),
        sa.CheckConstraint("octet_length(hash) = 32", name="merkle_nodes_hash_check"),
        schema="audit",
    )
    op.create_table(
        "log_head",
        # One row: the size, root and right edge of the tree as of the last append.
        sa.Column("singleton", sa.Boolean, primary_key=True, server_default=sa.true()),
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.Column("root_hash", sa.LargeBinary, nullable=False),
        sa.Column("frontier", sa.ARRAY(sa.LargeBinary), nullable=False),
        sa.CheckConstraint("singleton", name="log_head_singleton_check"),
        sa.CheckConstraint("tree_size >= 0", name="log_head_tree_size_check"),
        schema="audit",
    )
    op.create_table(
        "checkpoints",
        sa.Column("tree_size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root_hash", sa.LargeBinary, nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.Column("key_id", sa.Text, nullable=False),
        sa.CheckConstraint("tree_size >= 0", name="checkpoints_tree_size_check"),
        schema="audit",
    )
    _store_tree_of(leaves)
    _guard_new_tables()
    op.execute(f"GRANT SELECT, INSERT ON audit.merkle_nodes, audit.checkpoints TO {WRITER_ROLE}")
    # The head is the one row the service changes; the trigger only lets it grow.
    op.execute(f"GRANT SELECT, UPDATE ON audit.log_head TO {WRITER_ROLE}")


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only and is never dropped by a migration")


def _renumber_and_hash_existing_entries() -> list[bytes]:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT NOT EXISTS (SELECT 1 FROM audit.audit_trail)")).scalar_one():
        return []
    # The only rewrite the trail ever sees, inside this migration's transaction: seqs shift to
    # leaf indexes and the new hash column is filled; no recorded field changes.
    op.execute("ALTER TABLE audit.audit_trail DISABLE TRIGGER audit_trail_reject_update_delete")
    # Through negative values, so that no intermediate row collides with another's seq.
    op.execute("UPDATE audit.audit_trail SET seq = -seq")
    op.execute("UPDATE audit.audit_trail SET seq = -seq - 1")
    rows = bind.execute(
        sa.text(f"SELECT seq, recorded_at, {', '.join(RECORD_COLUMNS)} FROM audit.audit_trail ORDER BY seq")
    ).all()
    leaves = []
    for position, row in enumerate(rows):
        if row.seq != position:
            raise RuntimeError(f"audit.audit_trail has a gap before seq {row.seq + 1}; refusing to build its tree")
        record = AuditRecord(**{name: getattr(row, name) for name in RECORD_COLUMNS})
        leaves.append(hash_entry(row.seq, record, row.recorded_at))
    bind.execute(
        sa.text("UPDATE audit.audit_trail SET leaf_hash = :leaf_hash WHERE seq = :seq"),
        [{"seq": seq, "leaf_hash": leaf} for seq, leaf in enumerate(leaves)],
    )
    op.execute("ALTER TABLE audit.audit_trail ENABLE ALWAYS TRIGGER audit_trail_reject_update_delete")
    return leaves


def _store_tree_of(leaves: list[bytes]) -> None:
    bind = op.get_bind()
    inner, frontier = build_tree(leaves)
    if inner:
        bind.execute(
            sa.text("INSERT INTO audit.merkle_nodes (level, index, hash) VALUES (:level, :index, :hash)"),
            [{"level": node.level, "index": node.index, "hash": hash_} for node, hash_ in inner.items()],
        )
    bind.execute(
        sa.text("INSERT INTO audit.log_head (tree_size, root_hash, frontier) VALUES (:size, :root, :frontier)"),
        {"size": frontier.tree_size, "root": frontier.root() if leaves else EMPTY_ROOT, "frontier": frontier.hashes},
    )


def _guard_new_tables() -> None:
    op.execute(
        """
        CREATE FUNCTION audit.reject_log_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit.% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
                USING HINT = 'The audit log and its tree are never changed or removed.';
        END;
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION audit.reject_log_head_shrink() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.tree_size < OLD.tree_size THEN
                RAISE EXCEPTION 'audit.log_head never shrinks: % -> %', OLD.tree_size, NEW.tree_size;
            END IF;
            RETURN NEW;
        END;
        $$
        """
    )
    for table in ("merkle_nodes", "checkpoints"):
        op.execute(
            f"""
            CREATE TRIGGER {table}_reject_update_delete BEFORE UPDATE OR DELETE ON audit.{table}
                FOR EACH ROW EXECUTE FUNCTION audit.reject_log_change()
            """
        )
        op.execute(f"ALTER TABLE audit.{table} ENABLE ALWAYS TRIGGER {table}_reject_update_delete")
    for table in ("merkle_nodes", "checkpoints", "log_head"):
        op.execute(
            f"""
            CREATE TRIGGER {table}_reject_truncate BEFORE TRUNCATE ON audit.{table}
                FOR EACH STATEMENT EXECUTE FUNCTION audit.reject_log_change()
            """
        )
        op.execute(f"ALTER TABLE audit.{table} ENABLE ALWAYS TRIGGER {table}_reject_truncate")
    op.execute(
        """
        CREATE TRIGGER log_head_reject_delete BEFORE DELETE ON audit.log_head
            FOR EACH ROW EXECUTE FUNCTION audit.reject_log_change()
        """
    )
    op.execute(
        """
        CREATE TRIGGER log_head_reject_shrink BEFORE UPDATE ON audit.log_head
            FOR EACH ROW EXECUTE FUNCTION audit.reject_log_head_shrink()
        """
    )
    op.execute("ALTER TABLE audit.log_head ENABLE ALWAYS TRIGGER log_head_reject_delete")
    op.execute("ALTER TABLE audit.log_head ENABLE ALWAYS TRIGGER log_head_reject_shrink")
