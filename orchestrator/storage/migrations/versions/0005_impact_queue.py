"""The impact-analysis queue: a run may be `queued` (waiting for a slot, owned by no replica) before it runs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = "orchestrator"
TABLE = "workflow_instances"
# Identity columns a running run may not change (0003), checked again by the guard below.
_IDENTITY = """NEW.instance_id <> OLD.instance_id OR NEW.template_id <> OLD.template_id
               OR NEW.template_version <> OLD.template_version OR NEW.inputs::text <> OLD.inputs::text
               OR NEW.created_at <> OLD.created_at
               OR NEW.appealed_instance_id IS DISTINCT FROM OLD.appealed_instance_id
               OR NEW.actor <> OLD.actor OR NEW.steps_total <> OLD.steps_total
               OR NEW.idempotency_key IS DISTINCT FROM OLD.idempotency_key
               OR NEW.request_hash IS DISTINCT FROM OLD.request_hash"""


def upgrade() -> None:
    _replace_check("instance_status_known", "status IN ('queued', 'running', 'completed', 'failed')")
    _replace_check("finished_when_completed_at", "(status IN ('queued', 'running')) = (completed_at IS NULL)")
    op.execute(_guard(unfinished="('queued', 'running')", extra_rule=_NEVER_BACK_TO_QUEUED))
    # The admission statements (storage/impact_queue.py): the queue in submission order, and the
    # queued or running runs counted per template and per subject. Both cover only unfinished runs.
    op.create_index(
        "queued_in_order",
        TABLE,
        ["created_at", "instance_id"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.create_index(
        "unfinished_by_template_and_actor",
        TABLE,
        ["template_id", "actor"],
        schema=SCHEMA,
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )


def downgrade() -> None:
    """Refused by the checks while a run is queued: let the queue drain first."""
    op.drop_index("unfinished_by_template_and_actor", TABLE, schema=SCHEMA)
    op.drop_index("queued_in_order", TABLE, schema=SCHEMA)
    op.execute(_guard(unfinished="('running')", extra_rule=""))
    _replace_check("finished_when_completed_at", "(status = 'running') = (completed_at IS NULL)")
    _replace_check("instance_status_known", "status IN ('running', 'completed', 'failed')")


def _replace_check(name: str, condition: str) -> None:
    op.drop_constraint(name, TABLE, schema=SCHEMA, type_="check")
    op.create_check_constraint(name, TABLE, condition, schema=SCHEMA)


# A run that has started never waits in the queue again.
_NEVER_BACK_TO_QUEUED = """
            IF OLD.status = 'running' AND NEW.status = 'queued' THEN
                RAISE EXCEPTION 'workflow instance % is running; it cannot be queued again', OLD.instance_id
                    USING ERRCODE = 'restrict_violation';
            END IF;"""


def _guard(*, unfinished: str, extra_rule: str) -> str:
    return f"""
        CREATE OR REPLACE FUNCTION {SCHEMA}.guard_instance() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'workflow instance % cannot be deleted', OLD.instance_id
                    USING ERRCODE = 'restrict_violation';
            END IF;
            IF OLD.status NOT IN {unfinished} THEN
                RAISE EXCEPTION 'workflow instance % is %; a finished instance cannot be changed',
                    OLD.instance_id, OLD.status USING ERRCODE = 'restrict_violation';
            END IF;
            IF {_IDENTITY} THEN
                RAISE EXCEPTION
                    'workflow instance %: only status, outputs, error, completed_at, progress and lease may change',
                    OLD.instance_id USING ERRCODE = 'restrict_violation';
            END IF;{extra_rule}
            RETURN NEW;
        END $$;
        """
