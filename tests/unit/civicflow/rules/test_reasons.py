"""A reason says its verdict in words, the criterion's description, and leaves the numbers to `values`."""

from __future__ import annotations

from civicflow.rules.compiled import compile_rules
from civicflow.rules.document import parse_document

DOCUMENT = {
    "description": "reasons",
    "parameters": {"max_income": 100},
    "criteria": [
        {"id": "income_ceiling", "kind": "exclusion", "description": "income at most the ceiling",
         "test": {"<=": [{"var": "income"}, {"param": "max_income"}]}},
        {"id": "not_too_old", "kind": "review", "test": {"<": [{"var": "age"}, 60]}},
    ],
}  # fmt: skip


def test_the_detail_is_the_verdict_and_the_description_or_the_id_in_words() -> None:
    rules = compile_rules(parse_document(DOCUMENT))

    ceiling, age = rules.explain({"age": 70, "income": 50}).reasons

    assert (ceiling.detail, ceiling.values) == ("passed: income at most the ceiling", {"income": 50, "max_income": 100})
    assert (age.detail, age.values) == ("failed: not too old", {"age": 70})
