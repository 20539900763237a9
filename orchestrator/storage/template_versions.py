"""Template versions in PostgreSQL (orchestrator.template_versions): every version any replica has loaded.

A version is recorded once, by the first replica to load it, and never changes (migration 0012's
trigger): a run pinned to it can be finished by any replica, after any restart, whatever the file
says now.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSON
from sqlalchemy.engine import Engine

from orchestrator.storage.statements import database_errors

TABLE = "orchestrator.template_versions"
_COLUMNS = "template_id, version, digest, document, source_file, loaded_at"
_INSERT = sa.text(
    f"""INSERT INTO {TABLE} (template_id, version, digest, document, source_file, loaded_at)
        VALUES (:template_id, :version, :digest, :document, :source_file, now())
        ON CONFLICT (template_id, version) DO NOTHING
        RETURNING {_COLUMNS}"""
).bindparams(sa.bindparam("document", type_=JSON))
_ONE = sa.text(f"SELECT {_COLUMNS} FROM {TABLE} WHERE template_id = :template_id AND version = :version")
_OF_TEMPLATE = sa.text(f"SELECT {_COLUMNS} FROM {TABLE} WHERE template_id = :template_id ORDER BY loaded_at, version")


@dataclass(frozen=True)
class StoredTemplateVersion:
    template_id: str
    version: str
    digest: str
    document: Mapping[str, Any]
    source_file: str
    loaded_at: datetime


def _stored(row: Any) -> StoredTemplateVersion:
    return StoredTemplateVersion(**row._mapping)


class TemplateVersionStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def _connection(self) -> Iterator[sa.Connection]:
        with database_errors(), self._engine.begin() as connection:
            yield connection

    def record(
        self, template_id: str, version: str, *, digest: str, document: Mapping[str, Any], source_file: str
    ) -> StoredTemplateVersion:
        """Records the version unless it is recorded already; the version as stored, whoever recorded it.

        A stored digest other than `digest` means the same version number was given to other content.
        """
        key = {"template_id": template_id, "version": version}
        with self._connection() as connection:
            row = connection.execute(
                _INSERT, {**key, "digest": digest, "document": document, "source_file": source_file}
            ).first()
            if row is None:
                row = connection.execute(_ONE, key).one()
            return _stored(row)

    def get(self, template_id: str, version: str) -> StoredTemplateVersion | None:
        with self._connection() as connection:
            row = connection.execute(_ONE, {"template_id": template_id, "version": version}).first()
            return _stored(row) if row is not None else None

    def of_template(self, template_id: str) -> list[StoredTemplateVersion]:
        """The template's versions in the order they were first loaded; [] for a template never loaded."""
        with self._connection() as connection:
            return [_stored(row) for row in connection.execute(_OF_TEMPLATE, {"template_id": template_id})]
