"""A checked document compiled once into its two forms: one citizen with reasons, and whole columns at once.

Nothing is ever passed to eval or exec: both forms walk the checked trees (scalar.py, vectorised.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from civicflow.rules.attributes import ATTRIBUTES, ValueType
from civicflow.rules.checker import check_document
from civicflow.rules.document import DocumentError, SchemeDocument
from civicflow.rules.expressions import CheckedCriterion, Node
from civicflow.rules.lookup_tables import tabulate
from civicflow.rules.scalar import evaluate, reads
from civicflow.rules.vectorised import ColumnEvaluator, fold_constants, string_codes
from civicflow.v1 import evaluator_pb2

ELIGIBLE = evaluator_pb2.DECISION_ELIGIBLE
NOT_ELIGIBLE = evaluator_pb2.DECISION_NOT_ELIGIBLE
NEEDS_REVIEW = evaluator_pb2.DECISION_NEEDS_REVIEW
EXCLUSION = "exclusion"
REVIEW = "review"


@dataclass(frozen=True)
class Reason:
    """One criterion as applied to one citizen; `values` holds each attribute and parameter it read."""

    criterion: str
    kind: str
    passed: bool
    detail: str
    values: dict[str, Any]


@dataclass(frozen=True)
class Verdict:
    decision: int  # a civicflow.v1.Decision value
    reasons: tuple[Reason, ...]


def decision_of(*, exclusion_failed: bool, review_failed: bool) -> int:
    """The pinned rule: a failed exclusion decides first, then a failed review."""
    if exclusion_failed:
        return NOT_ELIGIBLE
    return NEEDS_REVIEW if review_failed else ELIGIBLE


@dataclass(frozen=True)
class _Criterion:
    checked: CheckedCriterion
    reads: tuple[tuple[str, str], ...]  # ("var" | "param", name), in the order the test names them
    folded: Node
    # Whether the test has an `if`: then what it reads depends on the citizen (scalar.reads).
    branches: bool


class CompiledRules:
    """A document's criteria, ready to decide a citizen (`explain`) or a batch of columns (`decide_columns`)."""

    def __init__(self, document: SchemeDocument, criteria: list[CheckedCriterion]) -> None:
        self.rule_hash = document.rule_hash
        self._parameters = document.parameters
        self._criteria = tuple(
            _Criterion(item, reads(item.test), tabulate(fold_constants(item.test)), _has_if(item.test))
            for item in criteria
        )
        self.attributes: frozenset[str] = frozenset(
            name for criterion in self._criteria for kind, name in criterion.reads if kind == "var"
        )
        self._codes = string_codes(criterion.folded for criterion in self._criteria)

    @property
    def criteria(self) -> tuple[str, ...]:
        return tuple(criterion.checked.id for criterion in self._criteria)

    def explain(self, citizen: Mapping[str, Any]) -> Verdict:
        """Every criterion evaluated for one citizen (attribute name -> value; category by name), and the decision."""
        plain = {
            name: float(citizen[name]) if ATTRIBUTES[name] is ValueType.NUMBER else citizen[name]
            for name in self.attributes
        }
        reasons = []
        for criterion in self._criteria:
            passed = bool(evaluate(criterion.checked.test, plain))
            used = reads(criterion.checked.test, plain) if criterion.branches else criterion.reads
            values = {name: citizen[name] if kind == "var" else self._parameters[name] for kind, name in used}
            reasons.append(
                Reason(
                    criterion=criterion.checked.id,
                    kind=criterion.checked.kind,
                    passed=passed,
                    detail=_detail(passed, criterion.checked),
                    values=values,
                )
            )
        return Verdict(
            decision=decision_of(
                exclusion_failed=any(not r.passed for r in reasons if r.kind == EXCLUSION),
                review_failed=any(not r.passed for r in reasons if r.kind == REVIEW),
            ),
            reasons=tuple(reasons),
        )

    def criterion_columns(
        self, columns: Mapping[str, npt.NDArray[Any]], *, size: int | None = None
    ) -> dict[str, npt.NDArray[np.bool_]]:
        """Whether each criterion passed, per citizen of the columns (category as Category codes)."""
        evaluator = ColumnEvaluator(columns, _size(columns, size), self._codes)
        with np.errstate(all="ignore"):  # IEEE results (inf, NaN) are the defined ones: no warnings
            return {criterion.checked.id: evaluator.boolean(criterion.folded) for criterion in self._criteria}

    def decide_columns(
        self, columns: Mapping[str, npt.NDArray[Any]], *, size: int | None = None
    ) -> npt.NDArray[np.int8]:
        """The decision of every citizen of the columns: `explain(...).decision`, element-wise."""
        count = _size(columns, size)
        passed = self.criterion_columns(columns, size=count)
        failed: dict[str, npt.NDArray[np.bool_]] = {}
        for criterion in self._criteria:
            kind, failing = criterion.checked.kind, ~passed[criterion.checked.id]
            failed[kind] = failing if kind not in failed else failed[kind] | failing
        nothing = np.zeros(count, dtype=np.bool_)
        excluded = failed.get(EXCLUSION, nothing)
        # Review counts only where no exclusion failed: a failed exclusion decides first, as in decision_of.
        in_review = failed.get(REVIEW, nothing) & ~excluded
        # Arithmetic on int8 rather than masked writes, which cost several times as much.
        decisions = excluded.view(np.int8) * np.int8(NOT_ELIGIBLE - ELIGIBLE)
        decisions += in_review.view(np.int8) * np.int8(NEEDS_REVIEW - ELIGIBLE)
        decisions += np.int8(ELIGIBLE)
        return decisions


def compile_rules(document: SchemeDocument) -> CompiledRules:
    """The document's compiled forms; DocumentError if it does not check (only a hand-made SchemeDocument can't)."""
    criteria = list(document.checked)
    if not criteria:
        criteria, problems = check_document(document.content, field="document")
        if problems:
            raise DocumentError(problems)
    return CompiledRules(document, criteria)


def _size(columns: Mapping[str, npt.NDArray[Any]], size: int | None) -> int:
    if size is not None:
        return size
    return next((len(column) for column in columns.values()), 0)


def _has_if(node: Node) -> bool:
    return node.kind == "if" or any(_has_if(operand) for operand in node.operands)


def _detail(passed: bool, criterion: CheckedCriterion) -> str:
    """The verdict in words: the criterion's description (its id without one); the numbers are in `values`.

    Not the values again: a reason is written to a decision's journal and audit records several
    times over, and a criterion reading many parameters would say each of them twice.
    """
    what = criterion.description or criterion.id.replace("_", " ")
    return f"{'passed' if passed else 'failed'}: {what}"
