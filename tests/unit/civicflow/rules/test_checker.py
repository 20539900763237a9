"""The static check: every type problem found, each at its path and in plain words, and the seeds pass."""

from __future__ import annotations

from typing import Any

import pytest

from civicflow.grpc_errors import FieldProblem
from civicflow.rules.checker import MAX_EXPRESSION_NODES
from civicflow.rules.document import DocumentError, parse_document
from tests.support.seeded_schemes import seeded_document

SEEDS = ("scheme_alpha", "scheme_beta", "scheme_gamma", "scheme_delta")


def document(*tests: Any, **parameters: Any) -> dict[str, Any]:
    return {
        "description": "test",
        "parameters": {"limit": 10, "names": ["sc", "st"], "flag": True, **parameters},
        "criteria": [{"id": f"c{index}", "kind": "exclusion", "test": test} for index, test in enumerate(tests)],
    }


def problems_of(content: Any) -> list[FieldProblem]:
    with pytest.raises(DocumentError) as raised:
        parse_document(content)
    return raised.value.problems


@pytest.mark.parametrize("scheme_name", SEEDS)
def test_every_seed_document_checks(scheme_name: str) -> None:
    checked = parse_document(seeded_document(scheme_name)).checked

    assert [criterion.id for criterion in checked] == ["age", "income_ceiling", "review_band"]


@pytest.mark.parametrize(
    ("test", "path", "problem"),
    [
        ({"==": [{"var": "category"}, 1]}, "test.==", "compares a string with a number"),
        ({"<": [{"var": "category"}, 1]}, "test.<[0]", "'<' needs numbers; this is a string"),
        ({"<": [{"var": "age"}, {"param": "nope"}]}, "test.<[1].param", "unknown parameter 'nope'"),
        ({"in": [{"var": "age"}, {"param": "names"}]}, "test.in", "looks for a number in a list of strings"),
        ({"in": [{"var": "category"}, {"param": "limit"}]}, "test.in[1]", "'in' needs a list here; this is a number"),
        ({"and": [{"var": "age"}]}, "test.and[0]", "'and' needs booleans; this is a number"),
        ({"not": [{"var": "income"}]}, "test.not[0]", "'not' needs booleans; this is a number"),
        ({"+": [{"var": "age"}, {"var": "has_disability"}]}, "test.+[1]", "'+' needs numbers; this is a boolean"),
        ({"if": [{"var": "age"}, True, False]}, "test.if[0]", "the condition of 'if' is a number"),
        ({"if": [True, 1, "x"]}, "test.if", "the two branches of 'if' differ"),
        ({"+": [{"var": "age"}, 1]}, "test", "the test is a number; it must be a boolean"),
        ({"==": [{"param": "names"}, 1]}, "test.==[0]", "parameter 'names' is a list"),
    ],
)
def test_a_type_problem_is_named_at_its_path(test: Any, path: str, problem: str) -> None:
    [found] = problems_of(document(test))

    assert found.field == f"document.criteria[0].{path}"
    assert found.problem.startswith("criterion 'c0': ")
    assert problem in found.problem


def test_every_problem_is_reported_not_only_the_first() -> None:
    problems = problems_of(
        document(
            {"==": [{"var": "category"}, 1]},
            {"<": [{"var": "income"}, {"*": [{"var": "category"}, {"param": "missing"}]}]},
        )
    )

    assert [problem.field for problem in problems] == [
        "document.criteria[0].test.==",
        "document.criteria[1].test.<[1].*[0]",
        "document.criteria[1].test.<[1].*[1].param",
    ]


def test_a_duplicate_criterion_id_is_refused() -> None:
    content = document({"var": "has_disability"}, {"var": "has_disability"})
    content["criteria"][1]["id"] = "c0"

    [found] = problems_of(content)

    assert found == FieldProblem("document.criteria[1].id", "criterion 'c0': the id is already used by criteria[0]")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ([1, "a"], "mixes numbers and strings"),
        ([1, True], "mixes booleans and numbers"),
        (10**400, "not finite"),
        (2**53, "beyond ±9007199254740991"),
        (float("nan"), "not finite"),
    ],
)
def test_a_bad_parameter_value_is_named(value: Any, problem: str) -> None:
    [found] = problems_of(document({"var": "has_disability"}, bad=value))

    assert found.field == "document.parameters.bad"
    assert problem in found.problem


def test_a_list_outside_in_is_refused_at_its_place() -> None:
    first, second = problems_of(document({"==": [[1], [1]]}))

    assert (first.field, second.field) == ("document.criteria[0].test.==[0]", "document.criteria[0].test.==[1]")
    assert "the second operand of 'in'" in first.problem


def test_a_parameter_named_like_an_attribute_is_refused() -> None:
    [found] = problems_of(document({"var": "has_disability"}, age=3))

    assert found.field == "document.parameters"


@pytest.mark.parametrize(("operator", "operands"), [("+", [1]), ("*", [1]), ("-", [1, 2, 3]), ("/", [1])])
def test_arities_are_the_schemas(operator: str, operands: list[Any]) -> None:
    [found] = problems_of(document({"<": [{operator: operands}, 1]}))

    assert found.field == f"document.criteria[0].test.<[0].{operator}"
    assert found.problem.startswith(f"criterion 'c0': '{operator}' takes ")


@pytest.mark.parametrize(
    ("test", "path", "problem"),
    [
        ({"and": [{"<=": [{"var": "agee"}, 1]}, True]}, "and[0].<=[0].var", "unknown attribute 'agee'"),
        ({"and": [True, {"xor": [True, False]}]}, "and[1].xor", "unknown operator 'xor'"),
        ({"<": [{"var": "age"}, 1], "!": 1}, "", "one operator, this one has 2 keys"),
        ({"in": [{"var": "category"}, [{"var": "age"}]]}, "in[1]", "holds no expression"),
        ({"<": [{"var": "age"}, None]}, "<[1]", "null is no value"),
        ({"<": [{"var": "age"}, 2**60]}, "<[1]", "beyond ±9007199254740991"),
    ],
    ids=["attribute", "operator", "two-keys", "expression-in-list", "null", "huge-literal"],
)
def test_a_malformed_expression_is_named_at_its_node_without_quoting_the_test(
    test: Any, path: str, problem: str
) -> None:
    [found] = problems_of(document(test))

    assert found.field == "document.criteria[0].test" + (f".{path}" if path else "")
    assert found.problem.startswith("criterion 'c0': ") and problem in found.problem
    assert "{" not in found.problem, "the test is not quoted back"


def test_a_huge_document_is_refused_before_the_schema_walks_it() -> None:
    content = document({"and": [{"<": [1, 2]}] * 100_000})

    [found] = problems_of(content)

    assert found == FieldProblem("document", "the document has more than 20000 values")


def test_an_expensive_document_is_refused() -> None:
    wide = {"+": [{"var": "age"}] * 1000}
    content = document(*({"<": [wide, 1]} for _ in range(6)))

    problems = problems_of(content)

    assert [problem.field for problem in problems] == ["document.criteria"]
    assert str(MAX_EXPRESSION_NODES) in problems[0].problem


def test_a_deeply_nested_document_is_refused_before_the_schema_walks_it() -> None:
    test: Any = True
    for _ in range(5000):
        test = {"not": [test]}

    [found] = problems_of(document(test))

    assert found.field == "document"
    assert "deeper" in found.problem
