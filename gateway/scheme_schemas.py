"""The /schemes routes' JSON: pydantic models, and the one conversion from the orchestrator's messages to each."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from civicflow.rules.schema import NAME_PATTERN
from civicflow.v1 import orchestrator_pb2

SchemeVersionStatusName = Literal["draft", "published"]
HEX_HASH = r"^[0-9a-f]{64}$"
# Dates are exactly YYYY-MM-DD; the orchestrator refuses a day that does not exist (2026-02-30) with 422.
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
MAX_VERSION = 2**31 - 1
STATUS_NAMES: dict[int, SchemeVersionStatusName] = {
    orchestrator_pb2.SCHEME_VERSION_STATUS_DRAFT: "draft",
    orchestrator_pb2.SCHEME_VERSION_STATUS_PUBLISHED: "published",
}
RULE_HASH_DESCRIPTION = "SHA-256 (hex) of the document's RFC 8785 JSON."


class SchemeSummary(BaseModel):
    scheme_name: str = Field(pattern=NAME_PATTERN)
    current_version: int | None = Field(description="The version in force today (UTC); null when none is.")
    effective_from: date | None = Field(description="The date the current version took effect.")


class SchemeVersionSummary(BaseModel):
    version: int = Field(ge=1)
    status: SchemeVersionStatusName
    effective_from: date | None = Field(description="Null for a draft.")
    rule_hash: str = Field(pattern=HEX_HASH, description=RULE_HASH_DESCRIPTION)
    created_by: str
    created_at: datetime
    published_by: str | None = Field(description="Null for a draft.")
    published_at: datetime | None = Field(description="Null for a draft.")


class Scheme(BaseModel):
    scheme_name: str = Field(pattern=NAME_PATTERN)
    versions: list[SchemeVersionSummary] = Field(description="Oldest first, drafts included.")


class PublishedSchemeVersion(SchemeVersionSummary):
    scheme_name: str = Field(pattern=NAME_PATTERN)


class SchemeVersionDocument(BaseModel):
    scheme_name: str = Field(pattern=NAME_PATTERN)
    version: int = Field(ge=1)
    status: SchemeVersionStatusName
    effective_from: date | None = Field(description="Null for a draft.")
    rule_hash: str = Field(pattern=HEX_HASH, description=RULE_HASH_DESCRIPTION)
    document: dict[str, Any] = Field(description="The rule document, as GET /schemes/schema describes it.")


class CreatedSchemeVersion(BaseModel):
    scheme_name: str = Field(pattern=NAME_PATTERN)
    version: int = Field(ge=1, description="1, 2, 3, ... per scheme.")
    status: Literal["draft"]
    rule_hash: str = Field(pattern=HEX_HASH, description=RULE_HASH_DESCRIPTION)


class PublishBody(BaseModel):
    effective_from: str = Field(
        pattern=DATE_PATTERN,
        description="YYYY-MM-DD: from this day on (UTC) the version is in force; not before the latest "
        "published version's date (the same date is allowed: the higher version wins).",
        examples=["2027-01-01"],
        json_schema_extra={"format": "date"},
    )


def scheme_summary(message: orchestrator_pb2.SchemeSummary) -> SchemeSummary:
    return SchemeSummary(
        scheme_name=message.scheme_name,
        current_version=message.current_version or None,
        effective_from=_date(message.effective_from),
    )


def version_summary(message: orchestrator_pb2.SchemeVersion) -> SchemeVersionSummary:
    return SchemeVersionSummary(**_summary_fields(message))


def scheme(message: orchestrator_pb2.GetSchemeResponse) -> Scheme:
    return Scheme(scheme_name=message.scheme_name, versions=[version_summary(version) for version in message.versions])


def published_version(message: orchestrator_pb2.SchemeVersion) -> PublishedSchemeVersion:
    return PublishedSchemeVersion(scheme_name=message.scheme_name, **_summary_fields(message))


def version_document(message: orchestrator_pb2.SchemeVersion) -> SchemeVersionDocument:
    return SchemeVersionDocument(
        scheme_name=message.scheme_name,
        version=message.version,
        status=STATUS_NAMES[message.status],
        effective_from=_date(message.effective_from),
        rule_hash=message.rule_hash,
        document=json.loads(message.document_json),
    )


def created_version(message: orchestrator_pb2.SchemeVersion) -> CreatedSchemeVersion:
    return CreatedSchemeVersion(
        scheme_name=message.scheme_name, version=message.version, status="draft", rule_hash=message.rule_hash
    )


def _summary_fields(message: orchestrator_pb2.SchemeVersion) -> dict[str, Any]:
    return {
        "version": message.version,
        "status": STATUS_NAMES[message.status],
        "effective_from": _date(message.effective_from),
        "rule_hash": message.rule_hash,
        "created_by": message.created_by,
        "created_at": message.created_at.ToDatetime(tzinfo=UTC),
        "published_by": message.published_by or None,
        "published_at": message.published_at.ToDatetime(tzinfo=UTC) if message.HasField("published_at") else None,
    }


def _date(text: str) -> date | None:
    return date.fromisoformat(text) if text else None
