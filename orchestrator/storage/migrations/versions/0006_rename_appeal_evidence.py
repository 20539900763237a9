"""An appeal's corrections are stored as `new_data`, the name of the request field they came from.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SCHEMA = "orchestrator"


# A rename keeps the column's data, privileges and the append-only trigger, none of which names the column.
def upgrade() -> None:
    op.alter_column("appeals", "evidence", new_column_name="new_data", schema=SCHEMA)


def downgrade() -> None:
    op.alter_column("appeals", "new_data", new_column_name="evidence", schema=SCHEMA)
