"""Scheme names, versions and dates as the API takes them, and the audit records of a version."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from orchestrator.errors import InputValidationError
from orchestrator.schemes.audit_records import (
    SCHEME_AUDIT_NAMESPACE,
    audit_instance_id,
    creation_record,
    publication_record,
)
from orchestrator.schemes.model import SchemeVersion, checked_name, checked_version, parse_date

VERSION = SchemeVersion(
    scheme_name="scheme_x",
    version=3,
    status="published",
    rule_hash="ab" * 32,
    created_by="bob",
    created_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    effective_from=date(2026, 6, 1),
    published_by="carol",
    published_at=datetime(2026, 1, 3, tzinfo=UTC),
    document={"description": "d", "parameters": {}, "criteria": []},
)


@pytest.mark.parametrize("text", ["2026-02-30", "2026-W01-1", "20260101", "2026-1-1", " 2026-01-01", "", "tomorrow"])
def test_a_date_is_a_real_day_written_yyyy_mm_dd(text: str) -> None:
    with pytest.raises(InputValidationError) as refused:
        parse_date(text, field="effective_from")
    assert refused.value.problems[0].field == "effective_from"


def test_a_real_day_parses() -> None:
    assert parse_date("2028-02-29", field="as_of") == date(2028, 2, 29)


@pytest.mark.parametrize("name", ["", "Scheme", "1scheme", "a" * 65, "a-b", "schema", "a\x00"])
def test_names_outside_the_pattern_or_reserved_are_refused(name: str) -> None:
    with pytest.raises(InputValidationError):
        checked_name(name)


@pytest.mark.parametrize("version", [0, -1])
def test_versions_count_from_one(version: int) -> None:
    with pytest.raises(InputValidationError):
        checked_version(version)


def test_the_rules_of_a_version_name_it_without_its_document() -> None:
    assert VERSION.rules() == {
        "scheme_name": "scheme_x",
        "version": 3,
        "status": "published",
        "effective_from": "2026-06-01",
        "rule_hash": "ab" * 32,
    }


def test_a_versions_audit_records_are_keyed_by_a_deterministic_instance_id() -> None:
    expected = uuid.uuid5(SCHEME_AUDIT_NAMESPACE, "scheme:scheme_x:3")
    created, published = creation_record(VERSION), publication_record(VERSION)

    assert audit_instance_id("scheme_x", 3) == expected
    assert created.instance_id == published.instance_id == str(expected)
    assert (created.step_name, created.actor) == ("create_scheme_version", "bob")
    assert (published.step_name, published.actor) == ("publish_scheme_version", "carol")
    assert creation_record(VERSION) == created, "the same row always makes the same record"
    assert created.idempotency_key != published.idempotency_key
