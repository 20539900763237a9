"""Runs that wait for a person: the `waiting` status, and the review tasks they wait for.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSON

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SCHEMA = "orchestrator"
INSTANCES = "workflow_instances"
TASKS = "review_tasks"
# Identity columns an unfinished run may not change. steps_total is no longer one: a run's path through
# its template's switch steps is known only as they decide (templates/registry.py).
_IDENTITY = """NEW.instance_id <> OLD.instance_id OR NEW.template_id <> OLD.template_id
               OR NEW.template_version <> OLD.template_version OR NEW.inputs::text <> OLD.inputs::text
               OR NEW.created_at <> OLD.created_at
               OR NEW.appealed_instance_id IS DISTINCT FROM OLD.appealed_instance_id
               OR NEW.actor <> OLD.actor
               OR NEW.idempotency_key IS DISTINCT FROM OLD.idempotency_key
               OR NEW.request_hash IS DISTINCT FROM OLD.request_hash"""
_UNDECIDED = "status IN ('open', 'claimed')"
_NEVER_BACK_TO_QUEUED = """
            IF OLD.status <> 'queued' AND NEW.status = 'queued' THEN
                RAISE EXCEPTION 'workflow instance % has started; it cannot be queued again', OLD.instance_id
                    USING ERRCODE = 'restrict_violation';
            END IF;"""


def upgrade() -> None:
    _replace_check(
        INSTANCES, "instance_status_known", "status IN ('queued', 'running', 'waiting', 'completed', 'failed')"
    )
    _replace_check(
        INSTANCES, "finished_when_completed_at", "(status IN ('queued', 'running', 'waiting')) = (completed_at IS NULL)"
    )
    op.add_column(INSTANCES, sa.Column("waiting_for_review", sa.Uuid), schema=SCHEMA)
    op.create_check_constraint(
        "waits_for_a_review", INSTANCES, "(status = 'waiting') = (waiting_for_review IS NOT NULL)", schema=SCHEMA
    )
    op.execute(_guard(unfinished="('queued', 'running', 'waiting')", identity=_IDENTITY))

    op.create_table(
        TASKS,
        sa.Column("review_task_id", sa.Uuid, primary_key=True),
        sa.Column("instance_id", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.{INSTANCES}.instance_id"), nullable=False),
        # The human_review step that created it: one task per step of a run, so creating it again finds it.
        sa.Column("step_index", sa.Integer, nullable=False),
        sa.Column("step_name", sa.Text, nullable=False),
        sa.Column("citizen_id", sa.Text, nullable=False),
        sa.Column("scheme_name", sa.Text, nullable=False),
        sa.Column("scheme_version", sa.Integer, nullable=False),
        sa.Column("recommendation", sa.Text, nullable=False),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("candidate_role", sa.Text, nullable=False),
        sa.Column("submitted_by", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("assignee", sa.Text),
        sa.Column("claim_expires_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        # When the SLA's escalation was audited: once per task.
        sa.Column("escalated_at", sa.DateTime(timezone=True)),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("decision", sa.Text),
        sa.Column("justification", sa.Text),
        # Transitions so far; each transition's audit entry is keyed by it.
        sa.Column("revision", sa.Integer, nullable=False, server_default="0"),
        sa.UniqueConstraint("instance_id", "step_index", name="one_task_per_review_step"),
        # What a waiting run's reference is checked against: a task of that very run.
        sa.UniqueConstraint("instance_id", "review_task_id", name="task_of_its_run"),
        sa.CheckConstraint("status IN ('open', 'claimed', 'decided', 'cancelled')", name="review_status_known"),
        sa.CheckConstraint("due_at >= created_at", name="due_after_created"),
        sa.CheckConstraint("(status = 'open') <= (assignee IS NULL)", name="open_has_no_assignee"),
        sa.CheckConstraint(
            "(status IN ('claimed', 'decided')) <= (assignee IS NOT NULL AND assignee <> submitted_by)",
            name="reviewer_is_not_submitter",
        ),
        sa.CheckConstraint("(status = 'claimed') = (claim_expires_at IS NOT NULL)", name="claim_has_a_lease"),
        sa.CheckConstraint(
            "(status = 'decided') = (decision IS NOT NULL)"
            " AND (status = 'decided') = (decided_at IS NOT NULL)"
            " AND (status = 'decided') = (justification IS NOT NULL)",
            name="decided_iff_decision",
        ),
        sa.CheckConstraint("decision IN ('ELIGIBLE', 'NOT_ELIGIBLE')", name="decision_known"),
        sa.CheckConstraint("char_length(justification) >= 20", name="justification_long_enough"),
        schema=SCHEMA,
    )
    # The queue, overdue first (due_at first), and its filters: each a page of an index in due order. Without a
    # status, the listing is of the tasks still to be decided (reviews/store.py), which the partial ones hold.
    for name, columns, where in (
        ("reviews_by_status_due", ["status", "due_at", "review_task_id"], None),
        ("reviews_by_assignee_due", ["assignee", "status", "due_at", "review_task_id"], None),
        ("reviews_by_scheme_due", ["scheme_name", "status", "due_at", "review_task_id"], None),
        ("undecided_by_due", ["due_at", "review_task_id"], _UNDECIDED),
        ("undecided_by_assignee_due", ["assignee", "due_at", "review_task_id"], _UNDECIDED),
        ("undecided_by_scheme_due", ["scheme_name", "due_at", "review_task_id"], _UNDECIDED),
    ):
        op.create_index(name, TASKS, columns, schema=SCHEMA, postgresql_where=sa.text(where) if where else None)
    op.create_foreign_key(
        "waits_for_a_task_of_its_own",
        INSTANCES,
        TASKS,
        ["instance_id", "waiting_for_review"],
        ["instance_id", "review_task_id"],
        source_schema=SCHEMA,
        referent_schema=SCHEMA,
        # Checked at commit: a run and its task may be written in either order within one transaction.
        deferrable=True,
        initially="DEFERRED",
    )
    # What the sweeps read: claims whose lease lapsed, and tasks past due not yet escalated.
    op.create_index(
        "claims_by_expiry",
        TASKS,
        ["claim_expires_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'claimed'"),
    )
    op.create_index(
        "unescalated_by_due",
        TASKS,
        ["due_at"],
        schema=SCHEMA,
        postgresql_where=sa.text(f"escalated_at IS NULL AND {_UNDECIDED}"),
    )
    # A task is history once decided or cancelled; what it was created with never changes.
    op.execute(
        f"""
        CREATE FUNCTION {SCHEMA}.guard_review_task() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'review task % cannot be deleted', OLD.review_task_id
                    USING ERRCODE = 'restrict_violation';
            END IF;
            IF OLD.status IN ('decided', 'cancelled') THEN
                RAISE EXCEPTION 'review task % is %; it cannot be changed', OLD.review_task_id, OLD.status
                    USING ERRCODE = 'restrict_violation';
            END IF;
            IF NEW.review_task_id <> OLD.review_task_id OR NEW.instance_id <> OLD.instance_id
               OR NEW.step_index <> OLD.step_index OR NEW.step_name <> OLD.step_name
               OR NEW.citizen_id <> OLD.citizen_id OR NEW.scheme_name <> OLD.scheme_name
               OR NEW.scheme_version <> OLD.scheme_version OR NEW.recommendation <> OLD.recommendation
               OR NEW.reasons::text <> OLD.reasons::text OR NEW.candidate_role <> OLD.candidate_role
               OR NEW.submitted_by <> OLD.submitted_by OR NEW.created_at <> OLD.created_at
               OR NEW.due_at <> OLD.due_at OR NEW.revision <> OLD.revision + 1 THEN
                RAISE EXCEPTION 'review task %: only its state may change, one transition at a time',
                    OLD.review_task_id USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER guard_review_task BEFORE UPDATE OR DELETE ON {SCHEMA}.{TASKS}
            FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.guard_review_task();
        CREATE TRIGGER no_truncate BEFORE TRUNCATE ON {SCHEMA}.{TASKS}
            FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.reject_change();
        """
    )


def downgrade() -> None:
    """Refused by the checks while a run waits: let every review be decided first."""
    op.drop_constraint("waits_for_a_task_of_its_own", INSTANCES, schema=SCHEMA, type_="foreignkey")
    op.drop_table(TASKS, schema=SCHEMA)
    op.execute(f"DROP FUNCTION {SCHEMA}.guard_review_task()")
    fixed_total = _IDENTITY + " OR NEW.steps_total <> OLD.steps_total"
    op.execute(_guard(unfinished="('queued', 'running')", identity=fixed_total))
    op.drop_constraint("waits_for_a_review", INSTANCES, schema=SCHEMA, type_="check")
    op.drop_column(INSTANCES, "waiting_for_review", schema=SCHEMA)
    _replace_check(
        INSTANCES, "finished_when_completed_at", "(status IN ('queued', 'running')) = (completed_at IS NULL)"
    )
    _replace_check(INSTANCES, "instance_status_known", "status IN ('queued', 'running', 'completed', 'failed')")


def _replace_check(table: str, name: str, condition: str) -> None:
    op.drop_constraint(name, table, schema=SCHEMA, type_="check")
    op.create_check_constraint(name, table, condition, schema=SCHEMA)


def _guard(*, unfinished: str, identity: str) -> str:
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
            IF {identity} THEN
                RAISE EXCEPTION
                    'workflow instance %: only status, outputs, error, completed_at, progress and lease may change',
                    OLD.instance_id USING ERRCODE = 'restrict_violation';
            END IF;{_NEVER_BACK_TO_QUEUED}
            RETURN NEW;
        END $$;
        """
