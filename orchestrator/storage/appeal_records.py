"""Appeals in PostgreSQL: which run re-decided which instance, and with what outcome. Never changed once stored.

Methods block: call them through asyncio.to_thread.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from orchestrator.storage.statements import single_statements

# The columns of an appeal that AppealRecord holds, named as its fields.
_APPEAL_COLUMNS = "appeal_id, original_instance_id, new_instance_id, new_data, original_decision, new_decision, outcome"
_APPEAL_OF_RUN = f"SELECT {_APPEAL_COLUMNS} FROM orchestrator.appeals WHERE new_instance_id = %(new_instance_id)s"
# One round trip that inserts the appeal unless this run's appeal is already recorded, and
# answers the stored row either way (a repeated request gets the appeal it made the first time).
_RECORD_APPEAL = f"""
    WITH inserted AS (
        INSERT INTO orchestrator.appeals ({_APPEAL_COLUMNS}, created_at)
        VALUES (%(appeal_id)s, %(original_instance_id)s, %(new_instance_id)s, CAST(%(new_data)s AS json),
                %(original_decision)s, %(new_decision)s, %(outcome)s, now())
        ON CONFLICT (new_instance_id) DO NOTHING
        RETURNING {_APPEAL_COLUMNS}
    )
    SELECT * FROM inserted
    UNION ALL
    {_APPEAL_OF_RUN}
    LIMIT 1
    """


@dataclass(frozen=True)
class AppealRecord:
    appeal_id: uuid.UUID
    original_instance_id: uuid.UUID
    new_instance_id: uuid.UUID
    new_data: dict[str, Any]
    original_decision: str
    new_decision: str | None
    outcome: str


class AppealStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record_appeal(self, appeal: AppealRecord) -> AppealRecord:
        """Records the appeal decided by `appeal.new_instance_id`, once: answers the stored appeal."""
        params = {
            "appeal_id": appeal.appeal_id,
            "original_instance_id": appeal.original_instance_id,
            "new_instance_id": appeal.new_instance_id,
            "new_data": json.dumps(appeal.new_data),
            "original_decision": appeal.original_decision,
            "new_decision": appeal.new_decision,
            "outcome": appeal.outcome,
        }
        with single_statements(self._engine) as statements:
            row = statements.row(_RECORD_APPEAL, params)
            if row is None:  # a concurrent request inserted it after this statement's snapshot was taken
                row = statements.row(_APPEAL_OF_RUN, {"new_instance_id": appeal.new_instance_id})
        assert row is not None, "the appeal is stored, by this request or a concurrent one"
        return AppealRecord(**row._asdict())
