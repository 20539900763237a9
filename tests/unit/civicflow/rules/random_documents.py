"""Hypothesis strategies: random well-typed scheme documents, and random citizens in both forms the rules read."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from civicflow.rules.attributes import CATEGORY_CODES

CATEGORY_NAMES = {code: name for name, code in CATEGORY_CODES.items()}
# The largest number a document may hold (checker.MAX_EXACT_NUMBER); twenty of them multiplied overflow float64.
BIG = 2**53 - 1
OVERFLOWING = [BIG] * 20
PARAMETERS: dict[str, Any] = {
    "number_a": st.floats(-1e6, 1e6) | st.integers(-200, 200),
    "number_b": st.sampled_from([0, 0.0, -0.0, 1, 0.9, 250000, BIG]),
    "text": st.sampled_from(["general", "sc", "other", ""]),
    "flag": st.booleans(),
    "numbers": st.lists(st.integers(0, 100) | st.floats(-1e3, 1e3), max_size=4),
    "texts": st.lists(st.sampled_from(["general", "obc", "st", "sc", "nobody"]), max_size=4),
}
PARAMETER_TYPES = {"number_a": "number", "number_b": "number", "text": "string", "flag": "boolean"}
LITERALS = {
    "number": st.sampled_from([0, 0.0, -0.0, 1, -1, 2, 0.5, 18, 60, BIG, -BIG, 225000.0]) | st.floats(-1e6, 1e6),
    "string": st.sampled_from(["general", "obc", "sc", "st", "elsewhere"]),
    "boolean": st.booleans(),
}
VARIABLES = {
    "number": ["age", "income", "household_size"],
    "string": ["category"],
    "boolean": ["has_disability"],
}


# Numbers that depend on the citizen and are NaN or infinite for some: where the two forms could part.
IEEE_EDGES = [
    {"/": [{"-": [{"var": "age"}, 30]}, 0]},
    {"/": [{"var": "income"}, {"-": [{"var": "age"}, {"var": "age"}]}]},
    {"*": [{"var": "income"}, *OVERFLOWING]},
    {"-": [{"*": [{"var": "income"}, *OVERFLOWING]}, {"*": [{"var": "age"}, *OVERFLOWING]}]},
    {"-": [{"var": "age"}]},
]


def leaves(kind: str) -> st.SearchStrategy[Any]:
    params = [name for name, of in PARAMETER_TYPES.items() if of == kind]
    # Twice, so that hypothesis meets them often.
    edges = [st.sampled_from(IEEE_EDGES)] * 2 if kind == "number" else []
    return st.one_of(
        *edges,
        st.sampled_from(VARIABLES[kind]).map(lambda name: {"var": name}),
        st.sampled_from(params).map(lambda name: {"param": name}),
        LITERALS[kind],
    )


def expressions(kind: str, depth: int) -> st.SearchStrategy[Any]:
    if depth == 0:
        return leaves(kind)
    below = {of: expressions(of, depth - 1) for of in ("number", "string", "boolean")}

    def if_of(of: str) -> st.SearchStrategy[Any]:
        return st.tuples(below["boolean"], below[of], below[of]).map(lambda ops: {"if": list(ops)})

    def operator(name: str, of: str, low: int, high: int) -> st.SearchStrategy[Any]:
        return st.lists(below[of], min_size=low, max_size=high).map(lambda ops: {name: ops})

    if kind == "number":
        compound = st.one_of(
            *(operator(name, "number", 2, 3) for name in ("+", "*")),
            *(operator(name, "number", 1, 3) for name in ("min", "max")),
            operator("-", "number", 1, 2),
            operator("/", "number", 2, 2),
            if_of("number"),
        )
    elif kind == "string":
        compound = if_of("string")
    else:
        scalar = st.sampled_from(["number", "string", "boolean"])
        compound = st.one_of(
            scalar.flatmap(lambda of: st.sampled_from(["==", "!="]).flatmap(lambda name: operator(name, of, 2, 2))),
            st.sampled_from(["<", "<=", ">", ">="]).flatmap(lambda name: operator(name, "number", 2, 2)),
            st.tuples(below["number"], _list_of("number")).map(lambda ops: {"in": list(ops)}),
            st.tuples(below["string"], _list_of("string")).map(lambda ops: {"in": list(ops)}),
            *(operator(name, "boolean", 1, 3) for name in ("and", "or")),
            operator("not", "boolean", 1, 1),
            if_of("boolean"),
        )
    return st.one_of(leaves(kind), compound)


def _list_of(kind: str) -> st.SearchStrategy[Any]:
    parameter = {"number": "numbers", "string": "texts"}[kind]
    return st.one_of(st.just({"param": parameter}), st.lists(LITERALS[kind], max_size=4))


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, 4))
    return {
        "description": "random",
        "parameters": {name: draw(strategy) for name, strategy in PARAMETERS.items()},
        "criteria": [
            {
                "id": f"c{index}",
                "kind": draw(st.sampled_from(["exclusion", "review"])),
                "test": draw(expressions("boolean", draw(st.integers(0, 3)))),
            }
            for index in range(count)
        ],
    }


CITIZENS = st.fixed_dictionaries(
    {
        "age": st.integers(0, 150),
        "income": st.sampled_from([0.0, 1.0, 225000.0, 250000.0, 1e6]) | st.floats(0, 1e7),
        "category": st.sampled_from(sorted(CATEGORY_CODES)),
        "household_size": st.integers(1, 100),
        "has_disability": st.booleans(),
    }
)


def columns_of(citizens: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    return {
        "age": np.array([c["age"] for c in citizens], dtype=np.int32),
        "income": np.array([c["income"] for c in citizens], dtype=np.float64),
        "category": np.array([CATEGORY_CODES[c["category"]] for c in citizens], dtype=np.int32),
        "household_size": np.array([c["household_size"] for c in citizens], dtype=np.int32),
        "has_disability": np.array([c["has_disability"] for c in citizens], dtype=np.bool_),
    }
