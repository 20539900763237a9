"""Batches and the requests made of them: the rule documents as canonical JSON, and only the columns they read."""

from __future__ import annotations

import json

import numpy as np

from civicflow.canonical_json import canonical_json
from civicflow.rules.attributes import CATEGORY_CODES
from civicflow.v1 import evaluator_pb2
from orchestrator.citizens import mock_citizen
from orchestrator.impact.batches import Job, RuleDocuments, generate_batches
from tests.support.seeded_schemes import overridden_rules, seeded_rules

ALPHA = seeded_rules("scheme_alpha")
DELTA = seeded_rules("scheme_delta")


def _request(
    rules: RuleDocuments, *, size: int = 25, start: int = 3, stop: int = 9
) -> evaluator_pb2.EvaluateStreamRequest:
    batch = list(generate_batches(size, 10, rules.attributes))[1]
    return Job(job_id=7, batch=batch, start=start, stop=stop).request(rules)


def test_documents_go_as_canonical_json_baseline_first() -> None:
    proposed = overridden_rules(ALPHA, {"max_income": 200000})

    rules = RuleDocuments.of([ALPHA, proposed])

    assert [(d.scheme_name, d.version) for d in rules.documents] == [("scheme_alpha", 1), ("scheme_alpha", 0)]
    assert [d.document_json for d in rules.documents] == [
        canonical_json(ALPHA["document"]),
        canonical_json(proposed["document"]),
    ]
    assert json.loads(rules.documents[1].document_json)["parameters"]["max_income"] == 200000


def test_a_request_carries_only_the_columns_the_documents_read() -> None:
    request = _request(RuleDocuments.of([ALPHA, ALPHA]))

    assert (request.batch_id, request.size, request.first_position) == (7, 6, 14)
    citizens = [mock_citizen(f"CIT-{position:07d}") for position in range(14, 20)]
    assert list(request.ages) == [c.age for c in citizens]
    assert list(request.incomes) == [c.income for c in citizens]
    assert not request.categories and not request.household_sizes and not request.disabilities


def test_a_document_reading_every_attribute_gets_every_column() -> None:
    assert RuleDocuments.of([DELTA, ALPHA]).attributes == {
        "age",
        "income",
        "category",
        "household_size",
        "has_disability",
    }

    request = _request(RuleDocuments.of([DELTA, ALPHA]))

    citizens = [mock_citizen(f"CIT-{position:07d}") for position in range(14, 20)]
    assert list(request.categories) == [CATEGORY_CODES[c.category] for c in citizens]
    assert list(request.household_sizes) == [c.household_size for c in citizens]
    assert list(request.disabilities) == [c.has_disability for c in citizens]
    assert list(request.ages) == [c.age for c in citizens]


def test_a_document_reading_only_the_category_gets_no_ages_or_incomes() -> None:
    by_category = {
        **ALPHA,
        "document": {
            "parameters": {},
            "criteria": [
                {"id": "reserved", "kind": "exclusion", "test": {"in": [{"var": "category"}, ["sc", "st"]]}},
            ],
        },
    }

    request = _request(RuleDocuments.of([by_category, by_category]))

    assert request.size == 6 and len(request.categories) == 6
    assert not request.ages and not request.incomes and not request.household_sizes


def test_every_batch_has_its_categories_for_the_tally_whether_sent_or_not() -> None:
    batches = list(generate_batches(25, 10, frozenset({"age", "income"})))

    assert [batch.size for batch in batches] == [10, 10, 5]
    categories = np.concatenate([batch.categories for batch in batches])
    assert categories.tolist() == [CATEGORY_CODES[mock_citizen(f"CIT-{p:07d}").category] for p in range(1, 26)]
    assert batches[0].columns.household_size is None
