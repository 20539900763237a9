"""Single statements on pooled autocommit connections, straight through psycopg2.

Every read and write of a run is one statement (CTEs where it has several parts), so it needs
no BEGIN and no COMMIT round trip. These statements are a short run's whole database cost, and
SQLAlchemy's work around each (result metadata, row processing, connection wrapping) is a good
part of it: a one-row statement took 270 µs of client CPU through a SQLAlchemy connection and
160 µs through the DBAPI cursor on the development machine. So they go through the cursor;
SQLAlchemy still owns the pool, which pings idle connections and replaces lost ones. SQL uses
psycopg2's `%(name)s` parameters; rows are named tuples.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg2
import sqlalchemy as sa
from psycopg2.extras import NamedTupleCursor
from sqlalchemy.engine import Engine

from civicflow import tracing
from orchestrator.errors import DatabaseUnavailableError

log = logging.getLogger(__name__)

# Every transaction that locks a run's row waits at most this long for it: the row is held for a few statements
# (parking, a review's decision) or for a cancellation's audit entry. Past it the database counts as unavailable
# (UNAVAILABLE), and nothing was changed.
RUN_ROW_LOCK_TIMEOUT = "SET LOCAL lock_timeout = '10s'"

_UNAVAILABLE = (sa.exc.OperationalError, sa.exc.InterfaceError, psycopg2.OperationalError, psycopg2.InterfaceError)


class Statements:
    """Runs statements on one connection; each commits on its own."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, sql: str) -> None:
        """A statement that returns nothing: BEGIN and COMMIT of the few writes that take several statements."""
        self._cursor.execute(sql)

    def execute_with(self, sql: str, params: Mapping[str, Any]) -> None:
        """A statement with parameters whose rows, if any, nobody reads."""
        self._cursor.execute(sql, params)

    def rows(self, sql: str, params: Mapping[str, Any]) -> list[Any]:
        self._cursor.execute(sql, params)
        return list(self._cursor.fetchall())

    def row(self, sql: str, params: Mapping[str, Any]) -> Any | None:
        """The statement's only row, or None; more than one row is a bug in the statement."""
        rows = self.rows(sql, params)
        if len(rows) > 1:
            raise RuntimeError(f"expected at most one row, got {len(rows)}")
        return rows[0] if rows else None

    def scalars(self, sql: str, params: Mapping[str, Any]) -> list[Any]:
        return [row[0] for row in self.rows(sql, params)]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """The statements of the block as one transaction: committed at its end, rolled back on an error."""
        self.execute("BEGIN")
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):  # a lost connection rolls back by itself
                self.execute("ROLLBACK")
            raise
        self.execute("COMMIT")


@contextmanager
def single_statements(engine: Engine) -> Iterator[Statements]:
    """Statements on a connection of an engine made with `create_engine(..., autocommit=True)`."""
    with database_errors():
        connection: Any = engine.raw_connection()
        try:
            if not connection.dbapi_connection.autocommit:
                raise RuntimeError("single_statements needs an engine created with autocommit=True")
            with connection.cursor(cursor_factory=NamedTupleCursor) as cursor:
                yield Statements(tracing.traced_cursor(cursor, "orchestrator"))
        finally:
            connection.close()  # back to the pool, which discards a connection that was lost


@contextmanager
def database_errors() -> Iterator[None]:
    """Turns a lost or refused database connection into DatabaseUnavailableError (UNAVAILABLE).

    The driver's message (a socket path, a host name) stays in the log: the error reaches callers.
    """
    try:
        yield
    except _UNAVAILABLE as error:
        cause = error.orig if isinstance(error, sa.exc.DBAPIError) else error
        log.info("database unavailable", extra={"error": str(cause).strip()})
        raise DatabaseUnavailableError("the database is unavailable; send the request again") from error


@contextmanager
def transaction(engine: Engine) -> Iterator[sa.Connection]:
    """A SQLAlchemy transaction whose changes commit when the block ends without error."""
    with database_errors(), engine.begin() as connection:
        yield connection
