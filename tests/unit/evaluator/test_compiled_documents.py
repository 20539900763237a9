"""Documents are compiled once, off the event loop when the servicer asks, and found compiled afterwards."""

from __future__ import annotations

import asyncio
import threading

import pytest

from civicflow.rules import compiled as compiled_module
from evaluator.errors import InvalidDocumentError
from evaluator.rules import CompiledDocuments
from tests.support.scheme_documents import rule_document, seed_rule_document


def test_new_documents_are_compiled_on_a_worker_thread_and_then_found(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    compile_rules = compiled_module.compile_rules

    def recording(*args: object, **kwargs: object) -> object:
        threads.append(threading.current_thread().name)
        return compile_rules(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("evaluator.rules.compile_rules", recording)
    documents = CompiledDocuments()
    alpha, delta = seed_rule_document("scheme_alpha"), seed_rule_document("scheme_delta")

    asyncio.run(documents.compile_new([alpha, delta], field="documents"))
    asyncio.run(documents.compile_new([alpha], field="document"))

    assert len(documents) == 2 and len(threads) == 2, "each compiled once"
    assert threading.main_thread().name not in threads
    assert documents.get(delta, field="document").attributes >= {"category", "household_size"}
    assert len(threads) == 2, "get found it compiled"


def test_a_bad_document_among_several_is_named_by_its_place() -> None:
    documents = CompiledDocuments()
    bad = rule_document({"description": "x", "parameters": {}, "criteria": []})

    with pytest.raises(InvalidDocumentError) as raised:
        asyncio.run(documents.compile_new([seed_rule_document("scheme_alpha"), bad], field="documents"))

    assert [problem.field for problem in raised.value.problems] == ["documents[1].document_json.criteria"]
