"""SchemeDocuments: a run's rules name a stored version by reference, and its document is read once, as stored."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest
import sqlalchemy as sa

from civicflow.canonical_json import canonical_json
from civicflow.rules.document import rule_hash
from orchestrator.errors import StepFailedError
from orchestrator.schemes.documents import SchemeDocuments
from orchestrator.schemes.store import SchemeVersionStore
from tests.integration.orchestrator.schemes.conftest import ANALYST
from tests.support.scheme_versions import fresh_scheme
from tests.support.seeded_schemes import seeded_document


@pytest.fixture
def drafted(open_service: Any) -> dict[str, Any]:
    """A new scheme's version 1, a draft: its rules as fetch_scheme_rules gives them, by reference."""
    name = fresh_scheme("it")

    async def make() -> dict[str, Any]:
        async with open_service() as service:
            created = await service.create_draft(
                name, seeded_document("scheme_alpha", max_income=123456), principal=ANALYST
            )
            return created.rules()

    return asyncio.run(make())


def test_a_stored_versions_document_is_read_by_its_reference(scheme_engine: sa.Engine, drafted: dict[str, Any]) -> None:
    documents = SchemeDocuments(SchemeVersionStore(scheme_engine))

    rules = asyncio.run(documents.with_document(drafted))

    assert "document" not in drafted
    assert rules == {**drafted, "document": seeded_document("scheme_alpha", max_income=123456)}
    assert rule_hash(rules["document"]) == drafted["rule_hash"]


def test_a_document_read_once_is_kept_and_not_read_again(scheme_engine: sa.Engine, drafted: dict[str, Any]) -> None:
    reads: list[str] = []

    def record(*args: Any) -> None:
        reads.append(args[2])

    sa.event.listen(scheme_engine, "before_cursor_execute", record)
    try:
        documents = SchemeDocuments(SchemeVersionStore(scheme_engine))
        first = asyncio.run(documents.with_document(drafted))
        after_first = len(reads)
        second = asyncio.run(documents.with_document(drafted))
    finally:
        sa.event.remove(scheme_engine, "before_cursor_execute", record)
    assert after_first >= 1
    assert len(reads) == after_first, "the second call reads nothing"
    assert first == second


def test_a_proposal_carries_its_document_and_touches_no_store(scheme_engine: sa.Engine) -> None:
    document = seeded_document("scheme_alpha", max_income=1)
    proposal = {"scheme_name": "nowhere", "version": 0, "status": "proposed", "effective_from": None,
                "rule_hash": rule_hash(document), "document": document}  # fmt: skip

    assert asyncio.run(SchemeDocuments(SchemeVersionStore(scheme_engine)).with_document(proposal)) == proposal


def test_rules_naming_a_version_that_is_not_stored_or_another_hash_fail_the_step(
    scheme_engine: sa.Engine, drafted: dict[str, Any]
) -> None:
    documents = SchemeDocuments(SchemeVersionStore(scheme_engine))

    with pytest.raises(StepFailedError, match="are not stored"):
        asyncio.run(documents.with_document({**drafted, "version": 99}))
    with pytest.raises(StepFailedError, match="has rule_hash"):
        asyncio.run(documents.with_document({**drafted, "rule_hash": "00" * 32}))


def test_the_evaluators_text_of_a_document_is_its_canonical_json(
    scheme_engine: sa.Engine, drafted: dict[str, Any]
) -> None:
    documents = SchemeDocuments(SchemeVersionStore(scheme_engine))

    text = asyncio.run(documents.document_json(drafted))

    assert text == canonical_json(seeded_document("scheme_alpha", max_income=123456))
    assert hashlib.sha256(text.encode()).hexdigest() == drafted["rule_hash"]
