"""A scheme version as the orchestrator holds it, and the shapes built from it: the run's rules, the protobuf."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from civicflow.grpc_errors import FieldProblem
from civicflow.input_limits import shown
from civicflow.rules.schema import NAME_PATTERN
from civicflow.timestamps import to_timestamp
from civicflow.v1 import orchestrator_pb2
from orchestrator.errors import InputValidationError

DRAFT = "draft"
PUBLISHED = "published"
_NAME = re.compile(NAME_PATTERN)
# ISO 8601 allows more spellings ("2026-W49-5", "20261204"); the API takes one.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_STATUS_VALUES = {
    DRAFT: orchestrator_pb2.SCHEME_VERSION_STATUS_DRAFT,
    PUBLISHED: orchestrator_pb2.SCHEME_VERSION_STATUS_PUBLISHED,
}


@dataclass(frozen=True)
class SchemeVersion:
    """One version of one scheme; `document` is None where it was not read (lists)."""

    scheme_name: str
    version: int
    status: str
    rule_hash: str
    created_by: str
    created_at: datetime
    effective_from: date | None = None
    published_by: str | None = None
    published_at: datetime | None = None
    document: Mapping[str, Any] | None = None

    @property
    def label(self) -> str:
        return f"{self.scheme_name} version {self.version}"

    def rules(self) -> dict[str, Any]:
        """The `rules` value a run carries: the version by reference, without its document.

        A stored version never changes, so its name, number and rule_hash name its document
        exactly; tasks that need the document get it from SchemeDocuments (documents.py). Left out,
        a decision's journal and audit records are the same size whatever its document's.
        """
        return {
            "scheme_name": self.scheme_name,
            "version": self.version,
            "status": self.status,
            "effective_from": self.effective_from.isoformat() if self.effective_from else None,
            "rule_hash": self.rule_hash,
        }

    def to_proto(self) -> orchestrator_pb2.SchemeVersion:
        message = orchestrator_pb2.SchemeVersion(
            scheme_name=self.scheme_name,
            version=self.version,
            status=_STATUS_VALUES[self.status],
            effective_from=self.effective_from.isoformat() if self.effective_from else "",
            rule_hash=self.rule_hash,
            created_by=self.created_by,
            created_at=to_timestamp(self.created_at),
            published_by=self.published_by or "",
            document_json=json.dumps(self.document) if self.document is not None else "",
        )
        if self.published_at is not None:
            message.published_at.CopyFrom(to_timestamp(self.published_at))
        return message


@dataclass(frozen=True)
class SchemeSummary:
    """A scheme and the version in force on the day asked about (None when none is)."""

    scheme_name: str
    current: SchemeVersion | None

    def to_proto(self) -> orchestrator_pb2.SchemeSummary:
        current = self.current
        return orchestrator_pb2.SchemeSummary(
            scheme_name=self.scheme_name,
            current_version=current.version if current else 0,
            effective_from=current.effective_from.isoformat() if current and current.effective_from else "",
        )


# GET /schemes/schema serves the document schema: a scheme of that name could not be read over REST.
RESERVED_NAMES = frozenset({"schema"})


def checked_name(name: str, *, field: str = "scheme_name") -> str:
    """The scheme name if it matches NAME_PATTERN; InputValidationError naming `field` otherwise."""
    if not _NAME.fullmatch(name):
        raise InputValidationError([FieldProblem(field, f"{shown(name)} does not match {NAME_PATTERN}")])
    if name in RESERVED_NAMES:
        raise InputValidationError([FieldProblem(field, f"'{name}' is reserved: GET /schemes/{name} is another route")])
    return name


def checked_version(version: int, *, field: str = "version") -> int:
    if version < 1:
        raise InputValidationError([FieldProblem(field, f"must be 1 or more (got {version})")])
    return version


def parse_date(text: str, *, field: str) -> date:
    """A YYYY-MM-DD date; InputValidationError naming `field` otherwise."""
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise InputValidationError([FieldProblem(field, f"{shown(text)} is not a date YYYY-MM-DD")]) from None
