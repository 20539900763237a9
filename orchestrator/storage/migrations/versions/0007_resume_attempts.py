"""Takeovers of a run since it last finished a step: a run taken over too often is failed, not resumed forever.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SCHEMA = "orchestrator"


def upgrade() -> None:
    op.add_column(
        "workflow_instances",
        sa.Column("resume_attempts", sa.Integer, nullable=False, server_default="0"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_column("workflow_instances", "resume_attempts", schema=SCHEMA)
