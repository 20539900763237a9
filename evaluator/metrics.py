"""The evaluator's metrics: citizens (rows) evaluated and the time a batch takes; rate() of the rows is rows/second."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ROWS_EVALUATED = Counter(
    "civicflow_evaluator_rows",
    "Citizens evaluated (one per Evaluate, a batch's size per EvaluateStream message), by RPC.",
    ["rpc"],
)
BATCH_SECONDS = Histogram(
    "civicflow_evaluator_batch_seconds",
    "The time one EvaluateStream batch took to evaluate.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
# Bound once: the labelled children are looked up on every call otherwise.
_SINGLE = ROWS_EVALUATED.labels("Evaluate")
_STREAMED = ROWS_EVALUATED.labels("EvaluateStream")


def evaluated_one() -> None:
    _SINGLE.inc()


def evaluated_batch(rows: int, seconds: float) -> None:
    _STREAMED.inc(rows)
    BATCH_SECONDS.observe(seconds)
