"""Parameters overridden (an impact analysis's proposed_rules), and the attributes a document reads."""

from __future__ import annotations

from typing import Any

import pytest

from civicflow.grpc_errors import FieldProblem
from civicflow.rules.document import DocumentError, attributes_read, parse_document, with_parameters
from tests.support.seeded_schemes import seeded_document

ALPHA = parse_document(seeded_document("scheme_alpha"))


def test_overridden_parameters_make_a_new_checked_document() -> None:
    proposed = with_parameters(ALPHA, {"max_income": 300000}, field="inputs.proposed_rules")

    assert proposed.parameters["max_income"] == 300000
    assert proposed.rule_hash != ALPHA.rule_hash
    assert proposed.checked


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"max_incme": 1}, FieldProblem("inputs.proposed_rules.max_incme", "the document has no parameter")),
        ({"max_income": "lots"}, FieldProblem("inputs.proposed_rules.max_income", "is a number in the document")),
        ({"max_income": 1e400}, FieldProblem("inputs.proposed_rules.max_income", "not finite")),
    ],
)
def test_a_bad_override_is_named_as_the_caller_wrote_it(overrides: dict[str, Any], expected: FieldProblem) -> None:
    with pytest.raises(DocumentError) as raised:
        with_parameters(ALPHA, overrides, field="inputs.proposed_rules")

    [problem] = raised.value.problems
    assert problem.field == expected.field
    assert expected.problem in problem.problem


def test_attributes_read_by_the_seeds() -> None:
    assert attributes_read(ALPHA.content) == {"age", "income"}
    assert attributes_read(seeded_document("scheme_delta")) == {
        "age",
        "income",
        "category",
        "household_size",
        "has_disability",
    }
