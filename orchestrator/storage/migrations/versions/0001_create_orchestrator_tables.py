"""Workflow instances, appeals and impact results, with their immutability enforced by triggers.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSON

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "orchestrator"


def upgrade() -> None:
    op.create_table(
        "workflow_instances",
        sa.Column("instance_id", sa.Uuid, primary_key=True),
        sa.Column("template_id", sa.Text, nullable=False),
        sa.Column("template_version", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("inputs", JSON, nullable=False),
        sa.Column("outputs", JSON),
        sa.Column("error", sa.Text),
        sa.Column("appealed_instance_id", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.workflow_instances.instance_id")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("status IN ('running', 'completed', 'failed')", name="instance_status_known"),
        sa.CheckConstraint("(status = 'running') = (completed_at IS NULL)", name="finished_when_completed_at"),
        schema=SCHEMA,
    )
    op.create_table(
        "appeals",
        sa.Column("appeal_id", sa.Uuid, primary_key=True),
        sa.Column(
            "original_instance_id",
            sa.Uuid,
            sa.ForeignKey(f"{SCHEMA}.workflow_instances.instance_id"),
            nullable=False,
            index=True,
        ),
        sa.Column(
            "new_instance_id",
            sa.Uuid,
            sa.ForeignKey(f"{SCHEMA}.workflow_instances.instance_id"),
            nullable=False,
            unique=True,
        ),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column("original_decision", sa.Text, nullable=False),
        sa.Column("new_decision", sa.Text),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('decision_changed', 'decision_upheld', 'run_failed')", name="appeal_outcome_known"
        ),
        schema=SCHEMA,
    )
    op.create_table(
        "impact_results",
        sa.Column("instance_id", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.workflow_instances.instance_id"), primary_key=True),
        sa.Column("position", sa.BigInteger, primary_key=True),
        sa.Column("citizen_id", sa.Text, nullable=False),
        sa.Column("decision", sa.SmallInteger, nullable=False),
        sa.Column("baseline_decision", sa.SmallInteger, nullable=False),
        sa.CheckConstraint("decision BETWEEN 1 AND 3 AND baseline_decision BETWEEN 1 AND 3", name="decision_known"),
        schema=SCHEMA,
    )
    # The database, not only the code, keeps history unchanged: a finished run, an
    # appeal and a per-citizen result can be neither changed nor removed, by any role.
    op.execute(
        f"""
        CREATE FUNCTION {SCHEMA}.guard_instance() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'workflow instance % cannot be deleted', OLD.instance_id
                    USING ERRCODE = 'restrict_violation';
            END IF;
            IF OLD.status <> 'running' THEN
                RAISE EXCEPTION 'workflow instance % is %; a finished instance cannot be changed',
                    OLD.instance_id, OLD.status USING ERRCODE = 'restrict_violation';
            END IF;
            IF NEW.instance_id <> OLD.instance_id OR NEW.template_id <> OLD.template_id
               OR NEW.template_version <> OLD.template_version OR NEW.inputs::text <> OLD.inputs::text
               OR NEW.created_at <> OLD.created_at
               OR NEW.appealed_instance_id IS DISTINCT FROM OLD.appealed_instance_id THEN
                RAISE EXCEPTION 'workflow instance %: only status, outputs, error and completed_at may change',
                    OLD.instance_id USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NEW;
        END $$;

        CREATE FUNCTION {SCHEMA}.reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '%.% is append-only: % is not allowed', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'restrict_violation';
        END $$;

        CREATE TRIGGER guard_instance BEFORE UPDATE OR DELETE ON {SCHEMA}.workflow_instances
            FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.guard_instance();
        CREATE TRIGGER no_truncate BEFORE TRUNCATE ON {SCHEMA}.workflow_instances
            FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.reject_change();
        """
    )
    for table in ("appeals", "impact_results"):
        op.execute(
            f"""
            CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON {SCHEMA}.{table}
                FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.reject_change();
            CREATE TRIGGER no_truncate BEFORE TRUNCATE ON {SCHEMA}.{table}
                FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.reject_change();
            """
        )


def downgrade() -> None:
    for table in ("impact_results", "appeals", "workflow_instances"):
        op.drop_table(table, schema=SCHEMA)
    op.execute(f"DROP FUNCTION {SCHEMA}.reject_change(); DROP FUNCTION {SCHEMA}.guard_instance();")
