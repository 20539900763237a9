"""A population cut into batches of consecutive citizens, generated lazily, and the evaluator requests made of them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from civicflow.v1 import evaluator_pb2
from orchestrator.citizens import Ages, Incomes, population_columns


@dataclass(frozen=True)
class Batch:
    """Citizens first_position .. first_position + size - 1, as the columns the evaluator reads."""

    index: int
    first_position: int
    ages: Ages
    incomes: Incomes

    @property
    def size(self) -> int:
        return len(self.ages)


def batch_count(population_size: int, batch_size: int) -> int:
    return -(-population_size // batch_size)


def generate_batches(population_size: int, batch_size: int) -> Iterator[Batch]:
    """Each batch is generated only when asked for, so a population is never held whole."""
    for index, start in enumerate(range(1, population_size + 1, batch_size)):
        ages, incomes = population_columns(start, min(batch_size, population_size + 1 - start))
        yield Batch(index=index, first_position=start, ages=ages, incomes=incomes)


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

    def request(self, rule_sets: Sequence[evaluator_pb2.EligibilityRules]) -> evaluator_pb2.EvaluateStreamRequest:
        return evaluator_pb2.EvaluateStreamRequest(
            batch_id=self.job_id,
            rule_sets=rule_sets,
            # Lists, not arrays: protobuf copies a list several times faster than it iterates an array.
            ages=self.batch.ages[self.start : self.stop].tolist(),
            incomes=self.batch.incomes[self.start : self.stop].tolist(),
            first_position=self.batch.first_position + self.start,
        )
