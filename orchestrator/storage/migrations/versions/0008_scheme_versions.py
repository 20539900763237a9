"""Scheme versions: immutable, effective-dated rule documents, owned by the orchestrator.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SCHEMA = "orchestrator"
TABLE = f"{SCHEMA}.scheme_versions"


def upgrade() -> None:
    op.create_table(
        "scheme_versions",
        sa.Column("scheme_name", sa.Text, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("document", JSONB, nullable=False),
        sa.Column("rule_hash", sa.Text, nullable=False),
        sa.Column("effective_from", sa.Date),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.Text),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("scheme_name ~ '^[a-z][a-z0-9_]{0,63}$'", name="scheme_name_pattern"),
        sa.CheckConstraint("version >= 1", name="version_counts_from_one"),
        sa.CheckConstraint("status IN ('draft', 'published')", name="status_known"),
        sa.CheckConstraint("rule_hash ~ '^[0-9a-f]{64}$'", name="rule_hash_is_sha256"),
        sa.CheckConstraint("jsonb_typeof(document) = 'object'", name="document_is_object"),
        sa.CheckConstraint("created_by <> ''", name="created_by_named"),
        # Published exactly when the three publication fields are set; a draft has none of them.
        sa.CheckConstraint(
            "(status = 'published') = (effective_from IS NOT NULL)"
            " AND (status = 'published') = (published_by IS NOT NULL AND published_by <> '')"
            " AND (status = 'published') = (published_at IS NOT NULL)",
            name="published_iff_dated",
        ),
        sa.CheckConstraint("published_at IS NULL OR published_at >= created_at", name="published_after_created"),
        schema=SCHEMA,
    )
    # What "the version in force on a date" reads.
    op.create_index(
        "published_by_effective_from",
        "scheme_versions",
        ["scheme_name", "effective_from", "version"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'published'"),
    )
    # A version is history: no role deletes one, and a draft may change once, into the same version
    # published. Everything it was created with stays; a published version never changes again.
    op.execute(
        f"""
        CREATE FUNCTION {SCHEMA}.guard_scheme_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'scheme version %:% cannot be deleted', OLD.scheme_name, OLD.version
                    USING ERRCODE = 'restrict_violation';
            END IF;
            IF OLD.status <> 'draft' THEN
                RAISE EXCEPTION 'scheme version %:% is published; a published version cannot be changed',
                    OLD.scheme_name, OLD.version USING ERRCODE = 'restrict_violation';
            END IF;
            IF NEW.status <> 'published' OR NEW.scheme_name <> OLD.scheme_name OR NEW.version <> OLD.version
               OR NEW.document <> OLD.document OR NEW.rule_hash <> OLD.rule_hash
               OR NEW.created_by <> OLD.created_by OR NEW.created_at <> OLD.created_at THEN
                RAISE EXCEPTION 'scheme version %:%: a draft may only be published (status, effective_from,'
                    ' published_by and published_at)', OLD.scheme_name, OLD.version
                    USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER guard_scheme_version BEFORE UPDATE OR DELETE ON {TABLE}
            FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.guard_scheme_version();
        CREATE TRIGGER no_truncate BEFORE TRUNCATE ON {TABLE}
            FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.reject_change();
        """
    )


def downgrade() -> None:
    op.drop_table("scheme_versions", schema=SCHEMA)
    op.execute(f"DROP FUNCTION {SCHEMA}.guard_scheme_version()")
