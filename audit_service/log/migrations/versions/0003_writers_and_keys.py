"""Who appended each entry, and every key that ever signed a checkpoint (so that the key can be rotated).

`writer` is the name in the appending service's TLS certificate; entries from before it was
recorded keep "" (adding a column with a default rewrites no row, so the append-only trigger is
not involved). `signing_keys` is append-only like the rest of the log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

WRITER_ROLE = "civicflow_audit_writer"


def upgrade() -> None:
    op.add_column("audit_trail", sa.Column("writer", sa.Text, nullable=False, server_default=""), schema="audit")
    op.create_table(
        "signing_keys",
        # Lowercase hex SHA-256 of the raw 32-byte Ed25519 public key, as checkpoints name it.
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("first_used_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema="audit",
    )
    op.execute(
        """
        CREATE TRIGGER signing_keys_reject_update_delete BEFORE UPDATE OR DELETE ON audit.signing_keys
            FOR EACH ROW EXECUTE FUNCTION audit.reject_log_change()
        """
    )
    op.execute(
        """
        CREATE TRIGGER signing_keys_reject_truncate BEFORE TRUNCATE ON audit.signing_keys
            FOR EACH STATEMENT EXECUTE FUNCTION audit.reject_log_change()
        """
    )
    op.execute("ALTER TABLE audit.signing_keys ENABLE ALWAYS TRIGGER signing_keys_reject_update_delete")
    op.execute("ALTER TABLE audit.signing_keys ENABLE ALWAYS TRIGGER signing_keys_reject_truncate")
    op.execute(f"GRANT SELECT, INSERT ON audit.signing_keys TO {WRITER_ROLE}")


def downgrade() -> None:
    raise NotImplementedError("the audit log is append-only and is never dropped by a migration")
