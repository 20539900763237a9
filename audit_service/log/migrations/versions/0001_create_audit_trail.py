"""Create the append-only audit trail, its guard trigger and its writer role.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

WRITER_ROLE = "civicflow_audit_writer"


def upgrade() -> None:
    op.create_table(
        "audit_trail",
        # Assigned by the store under an advisory lock, not by a sequence: sequences leave gaps on rollback.
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("instance_id", sa.Uuid, nullable=False),
        sa.Column("step_name", sa.Text, nullable=False),
        sa.Column("step_index", sa.Integer, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        # Text, not jsonb: jsonb normalises, and the exact bytes the writer sent are what gets hashed.
        sa.Column("input_json", sa.Text, nullable=False),
        sa.Column("output_json", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("actor", sa.Text, nullable=False, server_default=""),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("clock_timestamp()")
        ),
        sa.CheckConstraint("status IN ('success', 'failed')", name="audit_trail_status_check"),
        sa.CheckConstraint("seq >= 1", name="audit_trail_seq_check"),
        schema="audit",
    )
    op.create_index("audit_trail_instance_seq_idx", "audit_trail", ["instance_id", "seq"], schema="audit")

    op.execute(
        """
        CREATE FUNCTION audit.reject_audit_trail_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit.audit_trail is append-only: % is not allowed', TG_OP
                USING HINT = 'Audit entries are never changed or removed; append a new entry instead.';
        END;
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER audit_trail_reject_update_delete
            BEFORE UPDATE OR DELETE ON audit.audit_trail
            FOR EACH ROW EXECUTE FUNCTION audit.reject_audit_trail_change()
        """
    )
    op.execute(
        """
        CREATE TRIGGER audit_trail_reject_truncate
            BEFORE TRUNCATE ON audit.audit_trail
            FOR EACH STATEMENT EXECUTE FUNCTION audit.reject_audit_trail_change()
        """
    )
    # ALWAYS: the triggers fire even under session_replication_role = replica, which a superuser could set.
    op.execute("ALTER TABLE audit.audit_trail ENABLE ALWAYS TRIGGER audit_trail_reject_update_delete")
    op.execute("ALTER TABLE audit.audit_trail ENABLE ALWAYS TRIGGER audit_trail_reject_truncate")

    # Roles belong to the whole cluster: another database of it may create this one at the same moment,
    # which surfaces as duplicate_object, or as unique_violation when both inserts race. The owner that
    # migrates may not create roles: civicflow/database_setup.py made this one before, so it exists.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{WRITER_ROLE}') THEN
                CREATE ROLE {WRITER_ROLE} NOLOGIN;
            END IF;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;
        END
        $$
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA audit TO {WRITER_ROLE}")
    op.execute(f"GRANT SELECT, INSERT ON audit.audit_trail TO {WRITER_ROLE}")
    # Lets a non-superuser owner SET ROLE to the writer for the service's connections.
    op.execute(f"GRANT {WRITER_ROLE} TO CURRENT_USER")


def downgrade() -> None:
    # An audit trail outlives every schema version: no migration may drop what it holds.
    raise NotImplementedError("the audit trail is append-only and is never dropped by a migration")
