"""The audit log in PostgreSQL: gap-free appends that extend the Merkle tree in the same transaction, and reads."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg2
import sqlalchemy as sa
from psycopg2.extras import NamedTupleCursor
from sqlalchemy.dialects.postgresql.psycopg2 import PGDialect_psycopg2
from sqlalchemy.engine import Connection, Engine

from audit_service.errors import AuditStoreUnavailableError
from audit_service.log.records import AuditRecord, StoredEntry, hash_entry
from audit_service.log.tables import AUDIT_TRAIL, LOG_HEAD, RECORD_COLUMNS, entry_from_mapping
from audit_service.tree.merkle import Frontier
from civicflow import tracing

log = logging.getLogger(__name__)

# One round trip takes the append lock and reads the head: FOR UPDATE on the single head row
# serialises every append of the cluster, whichever replica makes it, and in READ COMMITTED a
# waiter re-reads the row its predecessor committed, so seqs stay gap-free and unique.
_LOCK_HEAD = "SELECT tree_size, frontier, clock_timestamp() AS now FROM audit.log_head FOR UPDATE"
# A separate statement, after the lock: its snapshot sees every key committed before it.
_FIND_KEYS = "SELECT * FROM audit.audit_trail WHERE idempotency_key = ANY(%(keys)s)"
# Entries, completed tree nodes and the new head in one statement: a batch costs three round trips.
# Types as PostgreSQL names them, for the arrays unnest() reads: from the table's own definition.
_ENTRY_COLUMNS = {
    name: AUDIT_TRAIL.c[name].type.compile(dialect=PGDialect_psycopg2())  # type: ignore[no-untyped-call]
    for name in ("seq", *RECORD_COLUMNS, "leaf_hash")
}
_WRITE = f"""
    WITH entries AS (
        INSERT INTO audit.audit_trail ({", ".join(_ENTRY_COLUMNS)}, recorded_at)
        SELECT *, CAST(%(recorded_at)s AS timestamptz)
        FROM unnest({", ".join(f"CAST(%({name})s AS {type_}[])" for name, type_ in _ENTRY_COLUMNS.items())})
    ), nodes AS (
        INSERT INTO audit.merkle_nodes (level, index, hash)
        SELECT * FROM unnest(CAST(%(levels)s AS smallint[]), CAST(%(indexes)s AS bigint[]),
                             CAST(%(hashes)s AS bytea[]))
    )
    UPDATE audit.log_head
       SET tree_size = %(tree_size)s, root_hash = %(root_hash)s, frontier = CAST(%(frontier)s AS bytea[])
    """


class AuditStore:
    """Blocking calls on a pooled engine whose role may only append and read; run them off the event loop."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def engine(self) -> Engine:
        return self._engine

    def append(self, records: Sequence[AuditRecord]) -> list[StoredEntry]:
        """Stores `records` atomically with consecutive seqs, in the order given."""
        return self.append_batches([records])[0]

    def append_batches(self, batches: Sequence[Sequence[AuditRecord]]) -> list[list[StoredEntry]]:
        """Stores several callers' records in one transaction, batch after batch; one answer per batch.

        A record whose idempotency key is already stored (or earlier in these batches) is not
        stored again: its answer is the entry stored first.
        """
        with self._append_transaction() as transaction:
            head = transaction.begin_with(_LOCK_HEAD)
            known = self._entries_with_keys(transaction, batches)
            frontier = Frontier(head.tree_size, [bytes(hash_) for hash_ in head.frontier])
            columns: dict[str, list[object]] = {name: [] for name in _ENTRY_COLUMNS}
            nodes: dict[str, list[object]] = {"levels": [], "indexes": [], "hashes": []}
            answers: list[list[StoredEntry]] = []
            for records in batches:
                entries = []
                for record in records:
                    key = record.idempotency_key
                    if key is not None and key in known:
                        entries.append(known[key])
                        continue
                    seq = frontier.tree_size
                    leaf = hash_entry(seq, record, head.now)
                    for node, hash_ in frontier.append(leaf):
                        nodes["levels"].append(node.level)
                        nodes["indexes"].append(node.index)
                        nodes["hashes"].append(hash_)
                    entry = StoredEntry(seq=seq, record=record, recorded_at=head.now, leaf_hash=leaf)
                    for name, value in _column_values(entry).items():
                        columns[name].append(value)
                    if key is not None:
                        known[key] = entry
                    entries.append(entry)
                answers.append(entries)
            if frontier.tree_size > head.tree_size:
                transaction.commit_with(
                    _WRITE,
                    columns
                    | nodes
                    | {
                        "recorded_at": head.now,
                        "tree_size": frontier.tree_size,
                        "root_hash": frontier.root(),
                        "frontier": frontier.hashes,
                    },
                )
        return answers

    def list_for_instance(self, instance_id: uuid.UUID) -> list[StoredEntry]:
        """Every entry of one instance, in the order it was appended; empty for an unknown instance."""
        query = sa.select(AUDIT_TRAIL).where(AUDIT_TRAIL.c.instance_id == instance_id).order_by(AUDIT_TRAIL.c.seq)
        with self.transaction() as connection:
            return [entry_from_mapping(row._mapping) for row in connection.execute(query)]

    def head_size(self) -> int:
        """Entries the log head covers."""
        with self.transaction() as connection:
            return int(connection.execute(sa.select(LOG_HEAD.c.tree_size)).scalar_one())

    def get_entry(self, seq: int) -> StoredEntry | None:
        with self.transaction() as connection:
            row = connection.execute(sa.select(AUDIT_TRAIL).where(AUDIT_TRAIL.c.seq == seq)).one_or_none()
        return None if row is None else entry_from_mapping(row._mapping)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A transaction whose connection failures surface as AuditStoreUnavailableError."""
        try:
            with self._engine.begin() as connection:
                yield connection
        except _UNAVAILABLE as error:
            raise _unavailable(error) from error

    @contextmanager
    def _append_transaction(self) -> Iterator[_AppendTransaction]:
        """The append's transaction, straight on the DBAPI connection of a pooled one.

        Appends are the audit's hot path: SQLAlchemy's work around a statement added about 110 µs
        of client CPU to psycopg2's 160 µs (a one-row statement, development machine), so they
        skip it; the pool still comes from SQLAlchemy.
        """
        try:
            connection: Any = self._engine.raw_connection()
            dbapi = connection.dbapi_connection
            try:
                dbapi.autocommit = True  # the transaction's BEGIN and COMMIT are ours to send
                with dbapi.cursor(cursor_factory=NamedTupleCursor) as cursor:
                    transaction = _AppendTransaction(tracing.traced_cursor(cursor, "audit_service"))
                    try:
                        yield transaction
                        transaction.commit()
                    except BaseException:
                        try:
                            cursor.execute("ROLLBACK")
                        except psycopg2.Error:
                            connection.invalidate()  # in an unknown state: it must not go back to the pool
                        raise
            finally:
                if not dbapi.closed:
                    dbapi.autocommit = False
                connection.close()  # back to the pool, which replaces a connection that was lost
        except _UNAVAILABLE as error:
            raise _unavailable(error) from error

    @staticmethod
    def _entries_with_keys(
        transaction: _AppendTransaction, batches: Sequence[Sequence[AuditRecord]]
    ) -> dict[str, StoredEntry]:
        keys = sorted({record.idempotency_key for records in batches for record in records if record.idempotency_key})
        if not keys:
            return {}
        rows = transaction.rows(_FIND_KEYS, {"keys": keys})
        return {row.idempotency_key: entry_from_mapping(row._asdict()) for row in rows}


class _AppendTransaction:
    """A transaction on an autocommit connection whose BEGIN and COMMIT travel with its first and last statements.

    psycopg2 sends its own BEGIN and COMMIT as round trips of their own; here an append of three
    statements costs three round trips instead of five. A statement that fails ends the rest of
    its query string, so a failed last statement never commits.
    """

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self._committed = False

    def begin_with(self, sql: str) -> Any:
        """Begins the transaction and runs `sql` (no parameters) in it; its first row."""
        self._cursor.execute(f"BEGIN; {sql}")
        return self._cursor.fetchone()

    def rows(self, sql: str, params: Mapping[str, Any]) -> list[Any]:
        self._cursor.execute(sql, params)
        return list(self._cursor.fetchall())

    def commit_with(self, sql: str, params: Mapping[str, Any]) -> None:
        """Runs `sql` and commits, in one round trip."""
        self._cursor.execute(f"{sql}; COMMIT", params)
        self._committed = True

    def commit(self) -> None:
        if not self._committed:
            self._cursor.execute("COMMIT")
            self._committed = True


_UNAVAILABLE = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.TimeoutError,
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
)


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database is out of reach (rather than that a statement was wrong)."""
    return isinstance(error, _UNAVAILABLE)


def _unavailable(error: Exception) -> AuditStoreUnavailableError:
    # The driver's words name the server's socket or host: for the log, never for a caller.
    log.warning("audit database unavailable", extra={"error": str(error), "error_class": type(error).__name__})
    return AuditStoreUnavailableError("the audit database is unavailable")


def _column_values(entry: StoredEntry) -> dict[str, object]:
    record = entry.record
    values: dict[str, object] = {name: getattr(record, name) for name in RECORD_COLUMNS}
    # psycopg2 adapts neither UUIDs nor memoryviews inside arrays; the casts in _WRITE restore the types.
    values["instance_id"] = str(record.instance_id)
    return values | {"seq": entry.seq, "leaf_hash": entry.leaf_hash}
