"""Durable runs: the step journal, progress, leases, idempotency keys and the actor of each run.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSON

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "orchestrator"
INSTANCES = f"{SCHEMA}.workflow_instances"


def upgrade() -> None:
    for column in (
        sa.Column("actor", sa.Text, nullable=False, server_default=""),
        sa.Column("idempotency_key", sa.Text),
        sa.Column("request_hash", sa.Text),
        sa.Column("steps_completed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("steps_total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("items_done", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("items_total", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("owner", sa.Text),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True)),
    ):
        op.add_column("workflow_instances", column, schema=SCHEMA)
    op.create_unique_constraint(
        "workflow_instances_idempotency_key", "workflow_instances", ["idempotency_key"], schema=SCHEMA
    )
    op.create_check_constraint(
        "key_has_request_hash",
        "workflow_instances",
        "(idempotency_key IS NULL) = (request_hash IS NULL)",
        schema=SCHEMA,
    )
    # A finished run belongs to no replica.
    op.create_check_constraint(
        "owned_only_while_running", "workflow_instances", "status = 'running' OR owner IS NULL", schema=SCHEMA
    )
    # What the resume scan reads: running runs by lease expiry.
    op.create_index(
        "running_by_lease",
        "workflow_instances",
        ["lease_expires_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_table(
        "workflow_steps",
        sa.Column("instance_id", sa.Uuid, sa.ForeignKey(f"{INSTANCES}.instance_id"), primary_key=True),
        sa.Column("step_index", sa.Integer, primary_key=True),
        sa.Column("attempt", sa.Integer, primary_key=True),
        sa.Column("step_name", sa.Text, nullable=False),
        sa.Column("succeeded", sa.Boolean, nullable=False),
        sa.Column("error_kind", sa.Text),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("input", JSON, nullable=False),
        sa.Column("output", JSON, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("attempt >= 1 AND step_index >= 0", name="step_attempt_numbered"),
        sa.CheckConstraint(
            "(succeeded AND error_kind IS NULL)"
            " OR (NOT succeeded AND error_kind IN ('timeout', 'unavailable', 'failed', 'internal'))",
            name="failure_has_kind",
        ),
        schema=SCHEMA,
    )
    # The journal is history like the audit trail: append-only for every role.
    op.execute(
        f"""
        CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON {SCHEMA}.workflow_steps
            FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.reject_change();
        CREATE TRIGGER no_truncate BEFORE TRUNCATE ON {SCHEMA}.workflow_steps
            FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.reject_change();
        """
    )
    # Progress and lease may change while a run is running; who asked and with which key may not.
    op.execute(
        _guard_instance(
            extra_identity="""
               OR NEW.actor <> OLD.actor OR NEW.steps_total <> OLD.steps_total
               OR NEW.idempotency_key IS DISTINCT FROM OLD.idempotency_key
               OR NEW.request_hash IS DISTINCT FROM OLD.request_hash""",
            what_may_change="status, outputs, error, completed_at, progress and lease",
        )
    )


def _guard_instance(*, extra_identity: str, what_may_change: str) -> str:
    return f"""
        CREATE OR REPLACE FUNCTION {SCHEMA}.guard_instance() RETURNS trigger LANGUAGE plpgsql AS $$
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
               OR NEW.appealed_instance_id IS DISTINCT FROM OLD.appealed_instance_id{extra_identity} THEN
                RAISE EXCEPTION 'workflow instance %: only {what_may_change} may change',
                    OLD.instance_id USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NEW;
        END $$;
        """


def downgrade() -> None:
    op.execute(_guard_instance(extra_identity="", what_may_change="status, outputs, error and completed_at"))
    op.drop_table("workflow_steps", schema=SCHEMA)
    op.drop_index("running_by_lease", "workflow_instances", schema=SCHEMA)
    op.drop_constraint("owned_only_while_running", "workflow_instances", schema=SCHEMA)
    op.drop_constraint("key_has_request_hash", "workflow_instances", schema=SCHEMA)
    op.drop_constraint("workflow_instances_idempotency_key", "workflow_instances", schema=SCHEMA)
    for column in (
        "lease_expires_at",
        "owner",
        "items_total",
        "items_done",
        "steps_total",
        "steps_completed",
        "request_hash",
        "idempotency_key",
        "actor",
    ):
        op.drop_column("workflow_instances", column, schema=SCHEMA)
