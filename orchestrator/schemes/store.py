"""Scheme versions in PostgreSQL (orchestrator.scheme_versions): reads, and the writes made in a service's transaction.

The table's trigger keeps every version as it was created, but for a draft's one change into
published (migration 0008); this module relies on that rather than checking it again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine

from orchestrator.schemes.model import DRAFT, PUBLISHED, SchemeSummary, SchemeVersion
from orchestrator.storage.statements import database_errors

TABLE = "orchestrator.scheme_versions"
_LISTED = "scheme_name, version, status, rule_hash, effective_from, created_by, created_at, published_by, published_at"
_WITH_DOCUMENT = f"{_LISTED}, document"
# Every change of one scheme takes this lock first, so versions are numbered and published one at a time. It is
# tried, never waited for: a wait would hold a worker thread that the change holding the lock may need to finish.
_TRY_LOCK = "SELECT pg_try_advisory_xact_lock(hashtextextended('orchestrator.scheme_versions:' || :name, 0))"
_IN_FORCE_OF = """
    SELECT {columns} FROM {table}
     WHERE scheme_name = {scheme} AND status = 'published' AND effective_from <= :on
     -- Two versions from the same day: the later one (by version) is the one in force.
     ORDER BY effective_from DESC, version DESC LIMIT 1"""
# Without the document: runs name the version by reference (model.py), and every check asks this.
_IN_FORCE = _IN_FORCE_OF.format(columns=_LISTED, table=TABLE, scheme=":name")
# Every scheme with its version in force, in one statement.
_SUMMARIES = f"""
    SELECT names.scheme_name AS name, in_force.*
      FROM (SELECT DISTINCT scheme_name FROM {TABLE}) names
      LEFT JOIN LATERAL ({_IN_FORCE_OF.format(columns=_LISTED, table=TABLE, scheme="names.scheme_name")}) in_force
        ON true
     ORDER BY names.scheme_name"""


class SchemeBusyError(Exception):
    """Another change of the scheme is under way: try again shortly."""


def _version(row: Any) -> SchemeVersion:
    fields = row._mapping
    return SchemeVersion(
        scheme_name=fields["scheme_name"],
        version=fields["version"],
        status=fields["status"],
        rule_hash=fields["rule_hash"],
        created_by=fields["created_by"],
        created_at=fields["created_at"],
        effective_from=fields["effective_from"],
        published_by=fields["published_by"],
        published_at=fields["published_at"],
        document=fields.get("document"),
    )


class SchemeVersionStore:
    """Reads on pooled connections; writes on a connection whose transaction the caller holds (transaction())."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def _reading(self) -> Iterator[sa.Connection]:
        with database_errors(), self._engine.connect() as connection:
            yield connection

    def summaries(self, on: date) -> list[SchemeSummary]:
        """Every scheme, by name, with its version in force on `on`."""
        with self._reading() as connection:
            rows = connection.execute(sa.text(_SUMMARIES), {"on": on})
            return [
                SchemeSummary(scheme_name=row.name, current=_version(row) if row.version is not None else None)
                for row in rows
            ]

    def scheme_names(self) -> list[str]:
        with self._reading() as connection:
            return list(connection.execute(sa.text(f"SELECT DISTINCT scheme_name FROM {TABLE} ORDER BY 1")).scalars())

    def versions(self, name: str) -> list[SchemeVersion]:
        """The scheme's versions, oldest first, without their documents; [] for an unknown scheme."""
        with self._reading() as connection:
            rows = connection.execute(
                sa.text(f"SELECT {_LISTED} FROM {TABLE} WHERE scheme_name = :name ORDER BY version"), {"name": name}
            )
            return [_version(row) for row in rows]

    def version(self, name: str, version: int) -> SchemeVersion | None:
        with self._reading() as connection:
            row = connection.execute(
                sa.text(f"SELECT {_WITH_DOCUMENT} FROM {TABLE} WHERE scheme_name = :name AND version = :version"),
                {"name": name, "version": version},
            ).first()
            return _version(row) if row else None

    def in_force(self, name: str, on: date) -> SchemeVersion | None:
        """The published version with the latest effective_from on or before `on` (ties: the higher version), without
        its document."""
        with self._reading() as connection:
            row = connection.execute(sa.text(_IN_FORCE), {"name": name, "on": on}).first()
            return _version(row) if row else None

    @contextmanager
    def transaction(self, name: str) -> Iterator[sa.Connection]:
        """A transaction holding the scheme's lock: the changes made in it commit when the block ends without error.

        SchemeBusyError, at once, if another transaction holds the lock.
        """
        with database_errors(), self._engine.begin() as connection:
            if not connection.execute(sa.text(_TRY_LOCK), {"name": name}).scalar_one():
                raise SchemeBusyError(name)
            yield connection

    @staticmethod
    def insert_draft(
        connection: sa.Connection, name: str, *, document: Mapping[str, Any], rule_hash: str, created_by: str
    ) -> SchemeVersion:
        """The scheme's next version (1 for a new scheme), a draft; under the scheme's lock (transaction())."""
        row = connection.execute(
            sa.text(
                f"""INSERT INTO {TABLE} (scheme_name, version, status, document, rule_hash, created_by, created_at)
                    SELECT :name, coalesce(max(version), 0) + 1, '{DRAFT}', :document, :rule_hash, :created_by, now()
                      FROM {TABLE} WHERE scheme_name = :name
                    RETURNING {_WITH_DOCUMENT}"""
            ).bindparams(sa.bindparam("document", type_=JSONB)),
            {"name": name, "document": document, "rule_hash": rule_hash, "created_by": created_by},
        ).one()
        return _version(row)

    @staticmethod
    def locked_version(connection: sa.Connection, name: str, version: int) -> SchemeVersion | None:
        """The version, locked until the transaction ends."""
        row = connection.execute(
            sa.text(
                f"SELECT {_WITH_DOCUMENT} FROM {TABLE} WHERE scheme_name = :name AND version = :version FOR UPDATE"
            ),
            {"name": name, "version": version},
        ).first()
        return _version(row) if row else None

    @staticmethod
    def latest_effective_from(connection: sa.Connection, name: str) -> date | None:
        """The latest effective_from of the scheme's published versions."""
        found: date | None = connection.execute(
            sa.text(f"SELECT max(effective_from) FROM {TABLE} WHERE scheme_name = :name AND status = 'published'"),
            {"name": name},
        ).scalar_one()
        return found

    @staticmethod
    def mark_published(
        connection: sa.Connection, name: str, version: int, *, effective_from: date, published_by: str
    ) -> SchemeVersion | None:
        """The draft, published now from `effective_from`; None if there is no such draft."""
        row = connection.execute(
            sa.text(
                f"""UPDATE {TABLE} SET status = '{PUBLISHED}', effective_from = :effective_from,
                           published_by = :published_by, published_at = now()
                     WHERE scheme_name = :name AND version = :version AND status = '{DRAFT}'
                 RETURNING {_WITH_DOCUMENT}"""
            ),
            {"name": name, "version": version, "effective_from": effective_from, "published_by": published_by},
        ).first()
        return _version(row) if row else None

    def seed(
        self, name: str, *, version: int, document: Mapping[str, Any], rule_hash: str, effective_from: date, by: str
    ) -> bool:
        """Inserts a published version of a scheme that has none; False (and nothing written) if it has some.

        Two replicas starting at once may both find the scheme missing: the primary key keeps one row.
        """
        with database_errors(), self._engine.begin() as connection:
            inserted = connection.execute(
                sa.text(
                    f"""INSERT INTO {TABLE} (scheme_name, version, status, document, rule_hash, effective_from,
                                             created_by, created_at, published_by, published_at)
                        SELECT :name, :version, '{PUBLISHED}', :document, :rule_hash, :effective_from,
                               :by, now(), :by, now()
                         WHERE NOT EXISTS (SELECT 1 FROM {TABLE} WHERE scheme_name = :name)
                        ON CONFLICT DO NOTHING"""
                ).bindparams(sa.bindparam("document", type_=JSONB)),
                {
                    "name": name,
                    "version": version,
                    "document": document,
                    "rule_hash": rule_hash,
                    "effective_from": effective_from,
                    "by": by,
                },
            )
            return inserted.rowcount == 1
