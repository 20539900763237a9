"""Per-citizen results of impact analyses: bulk-written with COPY, read back page by page."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from orchestrator.store import database_errors
from orchestrator.tables import ImpactResultRow

COPY_COLUMNS = "instance_id, position, citizen_id, decision, baseline_decision"
COPY_STATEMENT = f"COPY orchestrator.impact_results ({COPY_COLUMNS}) FROM STDIN"


@dataclass(frozen=True)
class ResultRow:
    position: int
    citizen_id: str
    decision: int
    baseline_decision: int


class ResultWriter:
    """Holds one transaction open for a whole analysis, so its results appear all at once or not at all.

    Blocking: call write/commit/abort through asyncio.to_thread.
    """

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._cursor = connection.cursor()

    def write(self, copy_text: bytes) -> None:
        """Appends rows given in COPY text format: tab-separated columns, one row per line."""
        with database_errors():
            self._cursor.copy_expert(COPY_STATEMENT, io.BytesIO(copy_text))

    def commit(self) -> None:
        with database_errors():
            self._connection.commit()
        self._close()

    def abort(self) -> None:
        try:
            self._connection.rollback()
        finally:
            self._close()

    def _close(self) -> None:
        self._cursor.close()
        self._connection.close()  # back to the pool


class ImpactResultStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def open_writer(self) -> ResultWriter:
        with database_errors():
            return ResultWriter(self._engine.raw_connection())

    def page(self, instance_id: uuid.UUID, *, offset: int, limit: int) -> list[ResultRow]:
        """Results after the first `offset` citizens; a keyset read, equally fast at any offset."""
        query = (
            sa.select(
                ImpactResultRow.position,
                ImpactResultRow.citizen_id,
                ImpactResultRow.decision,
                ImpactResultRow.baseline_decision,
            )
            .where(ImpactResultRow.instance_id == instance_id, ImpactResultRow.position > offset)
            .order_by(ImpactResultRow.position)
            .limit(limit)
        )
        with database_errors(), self._engine.connect() as connection:
            return [ResultRow(*row) for row in connection.execute(query)]
