"""Cancelled runs, and retries linked to the run they retry.

A run may end `cancelled` (a person stopped it): final like `completed` and `failed`. The results an
analysis wrote are deleted when it is cancelled, and only then: the rows of impact_results and
impact_failures may be deleted by a statement whose every row belongs to a cancelled instance, and a
COPY is refused unless its instances are running, so a batch written after the cancellation fails.
A retry names the run it retries (`retry_of`, at most one retry per run), and a journalled attempt
it took over from that run names it too (`workflow_steps.reused_from`).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SCHEMA = "orchestrator"
INSTANCES = "workflow_instances"
RESULT_TABLES = ("impact_results", "impact_failures")
# Identity columns an unfinished run may not change (0009), and now the run it retries.
_IDENTITY = """NEW.instance_id <> OLD.instance_id OR NEW.template_id <> OLD.template_id
               OR NEW.template_version <> OLD.template_version OR NEW.inputs::text <> OLD.inputs::text
               OR NEW.created_at <> OLD.created_at
               OR NEW.appealed_instance_id IS DISTINCT FROM OLD.appealed_instance_id
               OR NEW.actor <> OLD.actor
               OR NEW.idempotency_key IS DISTINCT FROM OLD.idempotency_key
               OR NEW.request_hash IS DISTINCT FROM OLD.request_hash"""
_UNFINISHED = "('queued', 'running', 'waiting')"


def upgrade() -> None:
    _replace_check(
        "instance_status_known", "status IN ('queued', 'running', 'waiting', 'completed', 'failed', 'cancelled')"
    )
    op.add_column(
        INSTANCES,
        sa.Column("retry_of", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.{INSTANCES}.instance_id", name="retries_a_run")),
        schema=SCHEMA,
    )
    # One retry per run: GET /workflows/{id} finds a run's retry (retried_by) through this index.
    op.create_index("one_retry_per_run", INSTANCES, ["retry_of"], unique=True, schema=SCHEMA)
    op.add_column(
        "workflow_steps",
        sa.Column("reused_from", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.{INSTANCES}.instance_id", name="reused_from_run")),
        schema=SCHEMA,
    )
    op.execute(_guard(_IDENTITY + " OR NEW.retry_of IS DISTINCT FROM OLD.retry_of"))
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION {SCHEMA}.results_have_instances() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            orphan uuid;
            stopped uuid;
        BEGIN
            SELECT inserted.instance_id INTO orphan
              FROM (SELECT DISTINCT instance_id FROM inserted_rows) AS inserted
             WHERE NOT EXISTS (SELECT 1 FROM {SCHEMA}.{INSTANCES} AS instance
                                WHERE instance.instance_id = inserted.instance_id)
             LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION 'impact results for instance %, which does not exist', orphan
                    USING ERRCODE = 'foreign_key_violation';
            END IF;
            -- Written only while the run runs: a batch that comes after its run was cancelled is refused.
            SELECT instance.instance_id INTO stopped
              FROM {SCHEMA}.{INSTANCES} AS instance
             WHERE instance.instance_id IN (SELECT DISTINCT instance_id FROM inserted_rows)
               AND instance.status <> 'running'
             LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION 'impact results for instance %, which is not running', stopped
                    USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NULL;
        END $$;

        CREATE TRIGGER results_have_instances AFTER INSERT ON {SCHEMA}.impact_failures
            REFERENCING NEW TABLE AS inserted_rows
            FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.results_have_instances();

        CREATE FUNCTION {SCHEMA}.only_results_of_cancelled_runs_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            kept uuid;
        BEGIN
            SELECT deleted.instance_id INTO kept
              FROM (SELECT DISTINCT instance_id FROM deleted_rows) AS deleted
             WHERE NOT EXISTS (SELECT 1 FROM {SCHEMA}.{INSTANCES} AS instance
                                WHERE instance.instance_id = deleted.instance_id AND instance.status = 'cancelled')
             LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION '%.% is append-only: rows of instance % may not be deleted (it is not cancelled)',
                    TG_TABLE_SCHEMA, TG_TABLE_NAME, kept USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NULL;
        END $$;
        """
    )
    for table in RESULT_TABLES:
        # Once per statement, not per row: a cancelled analysis may have a million rows to delete.
        op.execute(
            f"""
            DROP TRIGGER append_only ON {SCHEMA}.{table};
            CREATE TRIGGER append_only BEFORE UPDATE ON {SCHEMA}.{table}
                FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.reject_change();
            CREATE TRIGGER deleted_only_when_cancelled AFTER DELETE ON {SCHEMA}.{table}
                REFERENCING OLD TABLE AS deleted_rows
                FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.only_results_of_cancelled_runs_deleted();
            """
        )


def downgrade() -> None:
    """Refused by the status check while a run is cancelled."""
    for table in RESULT_TABLES:
        op.execute(
            f"""
            DROP TRIGGER deleted_only_when_cancelled ON {SCHEMA}.{table};
            DROP TRIGGER append_only ON {SCHEMA}.{table};
            CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON {SCHEMA}.{table}
                FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.reject_change();
            """
        )
    op.execute(
        f"""
        DROP FUNCTION {SCHEMA}.only_results_of_cancelled_runs_deleted();
        DROP TRIGGER results_have_instances ON {SCHEMA}.impact_failures;
        CREATE OR REPLACE FUNCTION {SCHEMA}.results_have_instances() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            orphan uuid;
        BEGIN
            SELECT inserted.instance_id INTO orphan
              FROM (SELECT DISTINCT instance_id FROM inserted_rows) AS inserted
             WHERE NOT EXISTS (SELECT 1 FROM {SCHEMA}.{INSTANCES} AS instance
                                WHERE instance.instance_id = inserted.instance_id)
             LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION 'impact results for instance %, which does not exist', orphan
                    USING ERRCODE = 'foreign_key_violation';
            END IF;
            RETURN NULL;
        END $$;
        """
    )
    op.execute(_guard(_IDENTITY))
    op.drop_column("workflow_steps", "reused_from", schema=SCHEMA)
    op.drop_index("one_retry_per_run", INSTANCES, schema=SCHEMA)
    op.drop_column(INSTANCES, "retry_of", schema=SCHEMA)
    _replace_check("instance_status_known", "status IN ('queued', 'running', 'waiting', 'completed', 'failed')")


def _replace_check(name: str, condition: str) -> None:
    op.drop_constraint(name, INSTANCES, schema=SCHEMA, type_="check")
    op.create_check_constraint(name, INSTANCES, condition, schema=SCHEMA)


def _guard(identity: str) -> str:
    """guard_instance as 0009 made it, but for the identity columns: `cancelled` is final, as any status
    outside the unfinished ones is."""
    return f"""
        CREATE OR REPLACE FUNCTION {SCHEMA}.guard_instance() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'workflow instance % cannot be deleted', OLD.instance_id
                    USING ERRCODE = 'restrict_violation';
            END IF;
            IF OLD.status NOT IN {_UNFINISHED} THEN
                RAISE EXCEPTION 'workflow instance % is %; a finished instance cannot be changed',
                    OLD.instance_id, OLD.status USING ERRCODE = 'restrict_violation';
            END IF;
            IF {identity} THEN
                RAISE EXCEPTION
                    'workflow instance %: only status, outputs, error, completed_at, progress and lease may change',
                    OLD.instance_id USING ERRCODE = 'restrict_violation';
            END IF;
            IF OLD.status <> 'queued' AND NEW.status = 'queued' THEN
                RAISE EXCEPTION 'workflow instance % has started; it cannot be queued again', OLD.instance_id
                    USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NEW;
        END $$;
        """
