"""A population cut into batches of consecutive citizens, generated lazily, and the evaluator requests made of them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from civicflow.canonical_json import canonical_json
from civicflow.rules.document import attributes_read
from civicflow.v1 import evaluator_pb2
from orchestrator.citizens import CategoryCodes, CitizenColumns, population_attributes

# The category is generated for every batch, sent or not: the report counts decisions by category.
TALLIED = frozenset({"category"})


@dataclass(frozen=True)
class RuleDocuments:
    """The documents a population is decided under, as the evaluator receives them, and what they read."""

    documents: tuple[evaluator_pb2.RuleDocument, ...]
    # The citizen attributes any of the documents reads: the only columns sent.
    attributes: frozenset[str]

    @classmethod
    def of(cls, rules: Sequence[Mapping[str, Any]]) -> RuleDocuments:
        """From the runs' rule values R (docs/rules.md), in the order their decision columns come back."""
        return cls(
            documents=tuple(
                evaluator_pb2.RuleDocument(
                    scheme_name=value["scheme_name"],
                    version=value["version"],
                    document_json=canonical_json(value["document"]),
                )
                for value in rules
            ),
            attributes=frozenset().union(*(attributes_read(value["document"]) for value in rules)),
        )


@dataclass(frozen=True)
class Batch:
    """Citizens first_position .. first_position + size - 1, as the columns sent and tallied."""

    index: int
    first_position: int
    columns: CitizenColumns

    @property
    def size(self) -> int:
        return self.columns.size

    @property
    def categories(self) -> CategoryCodes:
        assert self.columns.category is not None, "every batch is generated with its categories"
        return self.columns.category


def batch_count(population_size: int, batch_size: int) -> int:
    return -(-population_size // batch_size)


def generate_batches(population_size: int, batch_size: int, attributes: frozenset[str]) -> Iterator[Batch]:
    """Each batch is generated only when asked for, so a population is never held whole."""
    generated = attributes | TALLIED
    for index, start in enumerate(range(1, population_size + 1, batch_size)):
        columns = population_attributes(start, min(batch_size, population_size + 1 - start), generated)
        yield Batch(index=index, first_position=start, columns=columns)


@dataclass(frozen=True)
class Job:
    """One request to the evaluator: the citizens [start, stop) of a batch, at an attempt (from 1).

    A whole batch is one job; citizens retried after an item error go out again as jobs of
    their own, one per run of consecutive citizens, since a request names its citizens by
    the position of its first one.
    """

    job_id: int
    batch: Batch
    start: int
    stop: int
    attempt: int = 1

    @property
    def size(self) -> int:
        return self.stop - self.start

    def request(self, rules: RuleDocuments) -> evaluator_pb2.EvaluateStreamRequest:
        """The job's citizens, with only the columns the documents read."""
        columns, section = self.batch.columns, slice(self.start, self.stop)
        return evaluator_pb2.EvaluateStreamRequest(
            batch_id=self.job_id,
            documents=rules.documents,
            size=self.size,
            first_position=self.batch.first_position + self.start,
            # Lists, not arrays: protobuf copies a list several times faster than it iterates an array.
            ages=_sent(columns.age, section) if "age" in rules.attributes else [],
            incomes=_sent(columns.income, section) if "income" in rules.attributes else [],
            categories=_sent(columns.category, section) if "category" in rules.attributes else [],
            household_sizes=_sent(columns.household_size, section) if "household_size" in rules.attributes else [],
            disabilities=_sent(columns.has_disability, section) if "has_disability" in rules.attributes else [],
        )


def _sent(column: np.ndarray | None, section: slice) -> list[Any]:
    assert column is not None, "a batch is generated with every column its documents read"
    values: list[Any] = column[section].tolist()
    return values
