"""Template versions: every version a replica has loaded, kept so that a run finishes under its own.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSON

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

SCHEMA = "orchestrator"
TABLE = f"{SCHEMA}.template_versions"


def upgrade() -> None:
    op.create_table(
        "template_versions",
        sa.Column("template_id", sa.Text, primary_key=True),
        sa.Column("version", sa.Text, primary_key=True),
        sa.Column("digest", sa.Text, nullable=False),
        # json, not jsonb: the document as the file had it, so that its digest can be computed again.
        sa.Column("document", JSON, nullable=False),
        sa.Column("source_file", sa.Text, nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("template_id ~ '^[a-z][a-z0-9_]*$'", name="template_id_pattern"),
        sa.CheckConstraint("version <> ''", name="version_named"),
        sa.CheckConstraint("digest ~ '^[0-9a-f]{64}$'", name="digest_is_sha256"),
        sa.CheckConstraint("json_typeof(document) = 'object'", name="document_is_object"),
        schema=SCHEMA,
    )
    # A version is what runs were started with: no role changes or deletes one.
    op.execute(
        f"""
        CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON {TABLE}
            FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.reject_change();
        CREATE TRIGGER no_truncate BEFORE TRUNCATE ON {TABLE}
            FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.reject_change();
        """
    )


def downgrade() -> None:
    op.drop_table("template_versions", schema=SCHEMA)
