"""Indexes that serve the run list (GET /workflows): newest first, by each filter.

Each index ends in (created_at DESC, instance_id DESC), the list's order and its cursor, so that a
page is a range of one index read in order: no sort, however many runs there are.

CREATE INDEX (not CONCURRENTLY) because every migration runs in one transaction under the setup's
advisory lock (civicflow/database.py): while an index builds, new runs wait (reads do not). That
was 0.4 to 2 s an index, 6 s for the five, on a million runs; an operator with far more can build them
beforehand with CREATE INDEX CONCURRENTLY under these names, which this migration then keeps
(docs/operations.md). An index such a build left invalid (it was interrupted) is built again.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SCHEMA = "orchestrator"
INSTANCES = f"{SCHEMA}.workflow_instances"
_ORDER = "created_at DESC, instance_id DESC"
# name -> (leading columns, partial index condition)
INDEXES: dict[str, tuple[str, str]] = {
    "runs_newest_first": ("", ""),
    "runs_by_template": ("template_id, ", ""),
    "runs_by_status": ("status, ", ""),
    "runs_by_actor": ("actor, ", ""),
    # Impact analyses have no citizen: they stay out of the index.
    "runs_by_citizen": ("(inputs->>'citizen_id'), ", " WHERE inputs->>'citizen_id' IS NOT NULL"),
}


def upgrade() -> None:
    op.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for name, (leading, where) in INDEXES.items():
        op.execute(
            f"""
            DO $$ BEGIN
                IF EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('{SCHEMA}.{name}')
                                                    AND NOT indisvalid) THEN
                    DROP INDEX {SCHEMA}.{name};
                END IF;
            END $$"""
        )
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {INSTANCES} ({leading}{_ORDER}){where}")


def downgrade() -> None:
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {SCHEMA}.{name}")
