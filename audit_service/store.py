"""The audit trail in PostgreSQL: gap-free appends and per-instance listing, nothing else."""

from __future__ import annotations

import logging
import uuid
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from audit_service.errors import AuditStoreUnavailableError
from audit_service.records import AuditRecord, StoredEntry

log = logging.getLogger(__name__)

# Serialises every append of the cluster's audit trail, whichever replica makes it.
APPEND_LOCK_KEY = zlib.crc32(b"civicflow.audit.append")


class Base(DeclarativeBase):
    metadata = sa.MetaData(schema="audit")


class AuditTrailRow(Base):
    """One row of audit.audit_trail; the table itself is created by the migrations, not from this model."""

    __tablename__ = "audit_trail"

    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    instance_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    step_name: Mapped[str] = mapped_column(sa.Text)
    step_index: Mapped[int] = mapped_column(sa.Integer)
    attempt: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.Text)
    started_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    completed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    input_json: Mapped[str] = mapped_column(sa.Text)
    output_json: Mapped[str] = mapped_column(sa.Text)
    error: Mapped[str] = mapped_column(sa.Text)
    actor: Mapped[str] = mapped_column(sa.Text)
    recorded_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.clock_timestamp())


_TABLE = cast(sa.Table, AuditTrailRow.__table__)
_RECORD_COLUMNS = (
    "instance_id",
    "step_name",
    "step_index",
    "attempt",
    "status",
    "started_at",
    "completed_at",
    "input_json",
    "output_json",
    "error",
    "actor",
)


class AuditStore:
    """Blocking calls on a pooled engine whose role may only INSERT and SELECT; run them off the event loop."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def append(self, records: Sequence[AuditRecord]) -> list[StoredEntry]:
        """Stores `records` atomically with consecutive seqs, in the order given."""
        with self._transaction() as connection:
            # The lock makes read-max-then-insert safe across connections and replicas; it is released at
            # commit, so the next append's max(seq) sees these rows and seqs stay gap-free and unique.
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(APPEND_LOCK_KEY)))
            last = connection.execute(sa.select(sa.func.coalesce(sa.func.max(_TABLE.c.seq), 0))).scalar_one()
            rows = [
                {"seq": last + offset, **{name: getattr(record, name) for name in _RECORD_COLUMNS}}
                for offset, record in enumerate(records, start=1)
            ]
            inserted = connection.execute(
                sa.insert(_TABLE).returning(_TABLE.c.seq, _TABLE.c.recorded_at, sort_by_parameter_order=True),
                rows,
            ).all()
        return [
            StoredEntry(seq=row.seq, record=record, recorded_at=row.recorded_at)
            for row, record in zip(inserted, records, strict=True)
        ]

    def list_for_instance(self, instance_id: uuid.UUID) -> list[StoredEntry]:
        """Every entry of one instance, in the order it was appended; empty for an unknown instance."""
        query = sa.select(_TABLE).where(_TABLE.c.instance_id == instance_id).order_by(_TABLE.c.seq)
        with self._transaction() as connection:
            rows = connection.execute(query).all()
        return [
            StoredEntry(
                seq=row.seq,
                record=AuditRecord(**{name: getattr(row, name) for name in _RECORD_COLUMNS}),
                recorded_at=row.recorded_at,
            )
            for row in rows
        ]

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with self._engine.begin() as connection:
                yield connection
        except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError) as error:
            log.warning("audit database unavailable", extra={"error": str(error)})
            message = f"the audit database is unavailable ({type(error).__name__})"
            raise AuditStoreUnavailableError(message) from error
