"""Per-citizen results and failures of impact analyses: bulk-written with COPY, read back page by page or whole."""

from __future__ import annotations

import contextlib
import hashlib
import io
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg2
import psycopg2.errors
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from orchestrator.citizens import attributes_at
from orchestrator.errors import StepFailedError
from orchestrator.impact.outcome import FailureRow, PopulationOutcome, Tally
from orchestrator.storage.statements import database_errors
from orchestrator.storage.tables import ImpactFailureRow, ImpactResultRow

RESULTS_COPY = (
    "COPY orchestrator.impact_results (instance_id, position, citizen_id, decision, baseline_decision) FROM STDIN"
)
FAILURES_COPY = "COPY orchestrator.impact_failures (instance_id, position, citizen_id, error) FROM STDIN"
# What results_digest is the SHA-256 of (docs/auditing.md): the rows in position order, as COPY prints them.
DIGEST_EXPORT = (
    "COPY (SELECT position, citizen_id, decision, baseline_decision FROM orchestrator.impact_results"
    " WHERE instance_id = %s ORDER BY position) TO STDOUT"
)
# First key of the advisory lock that lets one attempt at a time write an instance's results.
_WRITER_LOCK_SPACE = 0x1D9A_C7F0
_COPY_READ_BYTES = 1 << 20
# Checked, and the run's row share-locked, just before the results commit: a cancellation (runs/cancellation.py)
# either committed first, and the results are refused, or waits for them to commit and deletes them.
# Each COPY before is checked by the tables' trigger (migration 0011); this closes the gap after the last one.
_STILL_RUNNING = "SELECT 1 FROM orchestrator.workflow_instances WHERE instance_id = %s AND status = 'running' FOR SHARE"
# Results rows read at a time when an outcome is rebuilt from them.
_TALLY_READ_ROWS = 50_000
_TALLY_READ = "SELECT position, baseline_decision, decision FROM orchestrator.impact_results WHERE instance_id = %s"


@dataclass(frozen=True)
class ResultRow:
    position: int
    citizen_id: str
    decision: int
    baseline_decision: int


class ResultWriter:
    """Holds one transaction open for a whole analysis, so its results appear all at once or not at all.

    Blocking: call its methods through asyncio.to_thread. One at a time, which a lock enforces: a cancelled
    analysis aborts while its last COPY may still be running in another thread, and libpq allows one thread on a
    connection at once.
    """

    def __init__(self, connection: Any, instance_id: uuid.UUID) -> None:
        self._connection = connection
        self._cursor = connection.cursor()
        self._instance_id = instance_id
        self._in_use = threading.Lock()

    def claim(self) -> bool:
        """Takes the instance's writer lock for this transaction; False if results are already committed.

        An attempt that committed its results and then lost its process before the run recorded
        the step leaves them behind; the next attempt must reuse them, not write them twice.
        """
        with database_errors():
            self._cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", (_WRITER_LOCK_SPACE, _lock_key(self._instance_id))
            )
            self._cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM orchestrator.impact_results WHERE instance_id = %(id)s)"
                " OR EXISTS (SELECT 1 FROM orchestrator.impact_failures WHERE instance_id = %(id)s)",
                {"id": str(self._instance_id)},
            )
            (written,) = self._cursor.fetchone()
        return not written

    def write_results(self, copy_text: bytes) -> None:
        """Appends result rows given in COPY text format: tab-separated columns, one row per line."""
        with self._in_use, database_errors(), self._refused_once_stopped():
            self._cursor.copy_expert(RESULTS_COPY, io.BytesIO(copy_text), size=_COPY_READ_BYTES)

    def write_failures(self, copy_text: bytes) -> None:
        with self._in_use, database_errors(), self._refused_once_stopped():
            self._cursor.copy_expert(FAILURES_COPY, io.BytesIO(copy_text), size=_COPY_READ_BYTES)

    @contextlib.contextmanager
    def _refused_once_stopped(self) -> Iterator[None]:
        """The tables' trigger refuses rows of a run no longer running (cancelled): the step stops, saying so."""
        try:
            yield
        except psycopg2.errors.RestrictViolation as error:
            raise StepFailedError(f"run {self._instance_id} stopped before its results were stored") from error

    def commit(self) -> None:
        """Commits the results, unless the run stopped running meanwhile (StepFailedError: nothing is kept)."""
        with self._in_use:
            self._commit()

    def _commit(self) -> None:
        try:
            with database_errors():
                self._cursor.execute(_STILL_RUNNING, (str(self._instance_id),))
                if self._cursor.fetchone() is None:
                    self._connection.rollback()
                    raise StepFailedError(f"run {self._instance_id} stopped before its results were stored")
                self._connection.commit()
        finally:
            self._close()

    def abort(self) -> None:
        """Rolls back, once a COPY still running in another thread (the analysis was cancelled) has returned."""
        with self._in_use:
            self._abort()

    def _abort(self) -> None:
        try:
            self._connection.rollback()
        except psycopg2.Error:
            pass  # a connection already lost has nothing to roll back
        finally:
            self._close()

    def _close(self) -> None:
        with contextlib.suppress(psycopg2.Error):
            self._cursor.close()
        self._connection.close()  # back to the pool, which discards a connection that was lost


class ImpactResultStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def open_writer(self, instance_id: uuid.UUID) -> ResultWriter:
        with database_errors():
            return ResultWriter(self._engine.raw_connection(), instance_id)

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

    def stored_outcome(self, instance_id: uuid.UUID, *, failure_limit: int) -> PopulationOutcome:
        """What the attempt that committed these rows came to, rebuilt from them; the digest and the tally are
        streamed."""
        failed = sa.select(sa.func.count()).where(ImpactFailureRow.instance_id == instance_id)
        first_failures = (
            sa.select(ImpactFailureRow.position, ImpactFailureRow.citizen_id, ImpactFailureRow.error)
            .where(ImpactFailureRow.instance_id == instance_id)
            .order_by(ImpactFailureRow.position)
            .limit(failure_limit)
        )
        with database_errors(), self._engine.connect() as connection:
            failed_count = int(connection.execute(failed).scalar_one())
            failures = [FailureRow(*row) for row in connection.execute(first_failures)]
        return PopulationOutcome(
            tally=self._tally(instance_id),
            results_digest=self._digest(instance_id),
            failed=failed_count,
            failures=failures,
        )

    def _tally(self, instance_id: uuid.UUID) -> Tally:
        """The rows' decisions counted by category: the registry gives each position's, as it did when evaluated."""
        tally = Tally()
        with database_errors():
            connection: Any = self._engine.raw_connection()
            try:
                cursor = connection.cursor(name="impact_tally")  # server-side: a million rows come a chunk at a time
                cursor.execute(_TALLY_READ, (str(instance_id),))
                while rows := cursor.fetchmany(_TALLY_READ_ROWS):
                    table = np.array(rows, dtype=np.int64)
                    categories = attributes_at(table[:, 0].astype(np.uint64), {"category"}).category
                    assert categories is not None
                    tally.add(categories, table[:, 1].astype(np.int8), table[:, 2].astype(np.int8))
                cursor.close()
            finally:
                connection.close()
        return tally

    def _digest(self, instance_id: uuid.UUID) -> str:
        digest = _HashingSink()
        with database_errors():
            connection: Any = self._engine.raw_connection()
            try:
                cursor = connection.cursor()
                cursor.copy_expert(cursor.mogrify(DIGEST_EXPORT, (str(instance_id),)).decode(), digest)
                cursor.close()
            finally:
                connection.close()
        return digest.hexdigest()


class _HashingSink(io.RawIOBase):
    """A write-only file that hashes what COPY TO writes into it."""

    def __init__(self) -> None:
        super().__init__()
        self._hash = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._hash.update(data)
        return len(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _lock_key(instance_id: uuid.UUID) -> int:
    # Two instances sharing a key only take turns; correctness needs no more than that.
    return int.from_bytes(instance_id.bytes[:4], "big", signed=True)
