"""Idempotency keys belong to the subject that used them: unique per (actor, key), no longer across all callers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "orchestrator"


def upgrade() -> None:
    op.drop_constraint("workflow_instances_idempotency_key", "workflow_instances", schema=SCHEMA)
    op.create_unique_constraint(
        "workflow_instances_actor_idempotency_key", "workflow_instances", ["actor", "idempotency_key"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_constraint("workflow_instances_actor_idempotency_key", "workflow_instances", schema=SCHEMA)
    op.create_unique_constraint(
        "workflow_instances_idempotency_key", "workflow_instances", ["idempotency_key"], schema=SCHEMA
    )
